import Foundation
import Testing

@testable import KeywardVault

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
private func unhex(_ text: String) -> [UInt8] {
    var result: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        result.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return result
}

@Suite("Crypto wrapper over libgcrypt")
struct CryptoTests {
    @Test("libgcrypt initialises once and reports a version at or above the minimum")
    func initialisation() throws {
        let version = try Gcrypt.ensureInitialized()
        #expect(version.hasPrefix("1."))
        #expect(try Gcrypt.ensureInitialized() == version)
    }

    @Test("Argon2id matches RFC 9106 section 5.3, with secret and associated data")
    func argon2RFCVector() throws {
        let key = try Argon2id.deriveKey(
            password: [UInt8](repeating: 0x01, count: 32), salt: [UInt8](repeating: 0x02, count: 16),
            parameters: Argon2Parameters(iterations: 3, memoryKiB: 32, parallelism: 4),
            secret: [UInt8](repeating: 0x03, count: 8), associatedData: [UInt8](repeating: 0x04, count: 12))
        #expect(hex(key.copyBytes()) == "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659")
    }

    @Test("Argon2id bounds t, m, p and salt length before libgcrypt sees them", arguments: [
        (Argon2Parameters(iterations: 0, memoryKiB: 64, parallelism: 1), 16),
        (Argon2Parameters(iterations: 33, memoryKiB: 64, parallelism: 1), 16),
        (Argon2Parameters(iterations: 1, memoryKiB: 64, parallelism: 0), 16),
        (Argon2Parameters(iterations: 1, memoryKiB: 64, parallelism: 17), 16),
        (Argon2Parameters(iterations: 1, memoryKiB: 7, parallelism: 1), 16),
        (Argon2Parameters(iterations: 1, memoryKiB: UInt32.max, parallelism: 1), 16),
        (Argon2Parameters(iterations: UInt32.max, memoryKiB: 64, parallelism: 1), 16),
        (Argon2Parameters(iterations: 1, memoryKiB: 64, parallelism: 1), 8),
        (Argon2Parameters(iterations: 1, memoryKiB: 64, parallelism: 1), 65),
    ])
    func argon2Bounds(parameters: Argon2Parameters, saltLength: Int) {
        #expect(throws: CryptoError.self) {
            _ = try Argon2id.deriveKey(
                password: Array("pw".utf8), salt: [UInt8](repeating: 1, count: saltLength), parameters: parameters)
        }
    }

    @Test("The production floor is t=2, m=64 MiB and the default is stronger")
    func argon2Floor() {
        #expect(Argon2Parameters.standard.meetsFloor)
        #expect(Argon2Parameters.standard.iterations == 3 && Argon2Parameters.standard.memoryKiB == 65536)
        #expect(!Argon2Parameters(iterations: 1, memoryKiB: 65536, parallelism: 1).meetsFloor)
        #expect(!Argon2Parameters(iterations: 3, memoryKiB: 65535, parallelism: 1).meetsFloor)
    }

    @Test("HMAC-SHA256 matches RFC 4231 test case 2")
    func hmacVector() throws {
        let mac = try HMACSHA256(key: Array("Jefe".utf8))
        let tag = try mac.authenticate(Array("what do ya want for nothing?".utf8))
        #expect(hex(tag) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("Trap: gcry_mac_verify accepts a truncated tag, the wrapper requires all 32 bytes")
    func hmacTruncatedTag() throws {
        let mac = try HMACSHA256(key: Array("key".utf8))
        let data = Array("message".utf8)
        let tag = try mac.authenticate(data)
        let truncated = Array(tag.prefix(16))
        #expect(try mac.unguardedLibraryVerify(tag: truncated, data: data), "libgcrypt behaviour changed: update the trap note")
        #expect(try mac.verify(tag: tag) { $0.write(data) })
        #expect(try !mac.verify(tag: truncated) { $0.write(data) })
        #expect(try !mac.verify(tag: Array(tag.prefix(1))) { $0.write(data) })
        #expect(try !mac.verify(tag: tag + [0]) { $0.write(data) })
    }

    @Test("HKDF-SHA256 matches RFC 5869 test cases 1 and 3")
    func hkdfVectors() throws {
        let okm = try HKDF.deriveKey(
            ikm: SecureBytes(copying: [UInt8](repeating: 0x0b, count: 22)),
            salt: unhex("000102030405060708090a0b0c"), info: unhex("f0f1f2f3f4f5f6f7f8f9"), length: 42)
        #expect(hex(okm.copyBytes()) == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        let okm3 = try HKDF.deriveKey(
            ikm: SecureBytes(copying: [UInt8](repeating: 0x0b, count: 22)), salt: [], info: [], length: 42)
        #expect(hex(okm3.copyBytes()) == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
    }

    @Test("AES-256-GCM matches a NIST known answer (zero key, zero nonce, one zero block)")
    func gcmKnownAnswer() throws {
        let gcm = try AESGCM(key: SecureBytes(count: 32))
        let box = try [UInt8](repeating: 0, count: 16).withUnsafeBytes {
            try gcm.seal($0, aad: [], nonce: [UInt8](repeating: 0, count: 12))
        }
        #expect(hex(box.ciphertext) == "cea7403d4d606b6e074ec5d3baf39d18")
        #expect(hex(box.tag) == "d0d1c8a799996bf0265b98b5d48ab919")
    }

    @Test("AES-256-GCM round trip, including an empty plaintext")
    func gcmRoundTrip() throws {
        let gcm = try AESGCM(key: SecureBytes.random(count: 32))
        for plaintext in [[], Array("hello".utf8), [UInt8](repeating: 0xAB, count: 4099)] {
            let box = try gcm.seal(plaintext, aad: Array("aad".utf8))
            #expect(try gcm.open(box, aad: Array("aad".utf8)) == plaintext)
            #expect(throws: CryptoError(.authenticationFailed, "authentication tag mismatch")) {
                _ = try gcm.open(box, aad: Array("other".utf8))
            }
        }
    }

    @Test("Trap: encrypting without setiv silently uses a fixed zero IV; every seal sets a fresh random nonce")
    func gcmNonce() throws {
        let key = SecureBytes.random(count: 32)
        let gcm = try AESGCM(key: key)
        let plaintext = [UInt8](repeating: 0x42, count: 32)
        let withoutNonce = try gcm.unguardedEncryptWithoutNonce(plaintext)
        // libgcrypt substitutes a 16-byte zero IV: the same keystream every time, no error.
        #expect(try gcm.unguardedEncryptWithoutNonce(plaintext) == withoutNonce, "libgcrypt behaviour changed: update the trap note")
        let first = try gcm.seal(plaintext, aad: [])
        let second = try gcm.seal(plaintext, aad: [])
        #expect(first.nonce.count == 12 && second.nonce.count == 12)
        #expect(first.nonce != second.nonce)
        #expect(first.nonce != [UInt8](repeating: 0, count: 12))
        #expect(first.ciphertext != second.ciphertext)
        #expect(first.ciphertext != withoutNonce)
    }

    @Test("Trap: gcry_cipher_checktag accepts a truncated tag, the wrapper requires all 16 bytes")
    func gcmTruncatedTag() throws {
        let gcm = try AESGCM(key: SecureBytes.random(count: 32))
        var box = try gcm.seal(Array("secret".utf8), aad: [])
        box.tag = Array(box.tag.prefix(4))
        #expect(try gcm.unguardedLibraryOpen(box, aad: []), "libgcrypt behaviour changed: update the trap note")
        #expect(throws: CryptoError.self) { _ = try gcm.open(box, aad: []) }
        box.tag = []
        #expect(throws: CryptoError.self) { _ = try gcm.open(box, aad: []) }
    }

    @Test("Trap: decrypt writes plaintext before the tag check; the wrapper wipes it on failure")
    func gcmWipesOnFailure() throws {
        let gcm = try AESGCM(key: SecureBytes.random(count: 32))
        let plaintext = [UInt8](repeating: 0x5A, count: 64)
        var box = try gcm.seal(plaintext, aad: [])
        box.tag[0] ^= 1
        var output = [UInt8](repeating: 0xEE, count: 64)
        #expect(throws: CryptoError.self) {
            try output.withUnsafeMutableBytes { try gcm.open(box, aad: [], into: $0) }
        }
        #expect(output == [UInt8](repeating: 0, count: 64))
    }

    @Test("Trap: an AES-256 handle accepts a 16-byte key; the wrapper refuses any length but 32", arguments: [0, 16, 24, 31, 33, 64])
    func gcmKeyLength(length: Int) throws {
        if length == 16 {
            #expect(try AESGCM.libraryAcceptsAES256Key(length: 16), "libgcrypt behaviour changed: update the trap note")
        }
        #expect(throws: CryptoError.self) { _ = try AESGCM(key: SecureBytes(count: length)) }
    }

    @Test("Secure buffers: random bytes differ, copies compare in constant time")
    func secureBytes() {
        let a = SecureBytes.random(count: 32)
        let b = SecureBytes.random(count: 32)
        #expect(!a.constantTimeEquals(b))
        #expect(a.constantTimeEquals(SecureBytes(copying: a.copyBytes())))
        var scratch: [UInt8] = [1, 2, 3]
        SecureBytes.wipe(&scratch)
        #expect(scratch == [0, 0, 0])
    }
}

internal import CGcrypt
import Foundation

/// The output of one AES-256-GCM seal: a fresh 96-bit nonce, the ciphertext (as long as the
/// plaintext) and the full 128-bit tag.
package struct SealedBox: Sendable, Equatable {
    package var nonce: [UInt8]
    package var ciphertext: [UInt8]
    package var tag: [UInt8]

    package init(nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8]) {
        self.nonce = nonce
        self.ciphertext = ciphertext
        self.tag = tag
    }
}

/// AES-256-GCM (NIST SP 800-38D) under one key, over a libgcrypt cipher handle that lives in
/// secure memory and is reused under a lock.
///
/// Guards against the library's traps: the key must be exactly 32 bytes (an AES-256 handle
/// accepts 16); every seal sets a fresh random 12-byte nonce (without `setiv` libgcrypt
/// silently uses a zero IV); `open` requires exactly 16 tag bytes (`gcry_cipher_checktag`
/// accepts a prefix) and wipes the plaintext it already wrote when the tag does not match.
package final class AESGCM: @unchecked Sendable {
    package static let keyLength = 32
    package static let nonceLength = 12
    package static let tagLength = 16

    private let handle: gcry_cipher_hd_t
    private let lock = NSLock()

    /// - Throws: ``CryptoError/Kind/badKeyLength`` unless `key` is 32 bytes.
    package init(key: SecureBytes) throws {
        try Gcrypt.ensureInitialized()
        guard key.count == Self.keyLength else {
            throw CryptoError(.badKeyLength, "AES-256 needs a 32-byte key, got \(key.count) bytes")
        }
        var opened: gcry_cipher_hd_t?
        try CryptoError.check(
            gcry_cipher_open(
                &opened, Int32(GCRY_CIPHER_AES256.rawValue), Int32(GCRY_CIPHER_MODE_GCM.rawValue),
                UInt32(GCRY_CIPHER_SECURE.rawValue)),
            "gcry_cipher_open")
        guard let opened else { throw CryptoError(.library, "gcry_cipher_open returned no handle") }
        self.handle = opened
        do {
            try key.withUnsafeBytes {
                try CryptoError.check(keyward_gcry_cipher_setkey(opened, $0.baseAddress, $0.count), "gcry_cipher_setkey")
            }
        } catch {
            gcry_cipher_close(opened)
            throw error
        }
    }

    deinit {
        gcry_cipher_close(handle)
    }

    /// Encrypts `plaintext` under a fresh random nonce, authenticating `aad` with it.
    package func seal(_ plaintext: UnsafeRawBufferPointer, aad: [UInt8]) throws -> SealedBox {
        let nonce = Random.nonce(Self.nonceLength)
        return try seal(plaintext, aad: aad, nonce: nonce)
    }

    package func seal(_ plaintext: [UInt8], aad: [UInt8]) throws -> SealedBox {
        try plaintext.withUnsafeBytes { try seal($0, aad: aad) }
    }

    /// Sealing with a caller-chosen nonce: for known-answer tests only; a nonce must never
    /// repeat under one key.
    package func seal(_ plaintext: UnsafeRawBufferPointer, aad: [UInt8], nonce: [UInt8]) throws -> SealedBox {
        guard nonce.count == Self.nonceLength else {
            throw CryptoError(.badLength, "GCM nonce must be 12 bytes")
        }
        return try lock.withLock {
            try start(nonce: nonce, aad: aad)
            var ciphertext = [UInt8](repeating: 0, count: plaintext.count)
            if plaintext.count > 0 {
                try ciphertext.withUnsafeMutableBytes { out in
                    try CryptoError.check(
                        keyward_gcry_cipher_encrypt(handle, out.baseAddress, out.count, plaintext.baseAddress, plaintext.count),
                        "gcry_cipher_encrypt")
                }
            } else {
                // GCM needs the final call to close the (empty) data phase before gettag.
                try CryptoError.check(keyward_gcry_cipher_encrypt(handle, nil, 0, nil, 0), "gcry_cipher_encrypt")
            }
            var tag = [UInt8](repeating: 0, count: Self.tagLength)
            try tag.withUnsafeMutableBytes {
                try CryptoError.check(keyward_gcry_cipher_gettag(handle, $0.baseAddress, $0.count), "gcry_cipher_gettag")
            }
            return SealedBox(nonce: nonce, ciphertext: ciphertext, tag: tag)
        }
    }

    /// Decrypts and authenticates `box` into `output` (exactly `box.ciphertext.count` bytes).
    /// On any failure `output` is wiped before the error is thrown: libgcrypt writes the
    /// plaintext before the tag is checked.
    /// - Throws: ``CryptoError/Kind/authenticationFailed`` for a wrong key, AAD, nonce, tag or
    ///   ciphertext; ``CryptoError/Kind/badLength`` for a tag other than 16 bytes or a nonce
    ///   other than 12.
    package func open(_ box: SealedBox, aad: [UInt8], into output: UnsafeMutableRawBufferPointer) throws {
        guard box.tag.count == Self.tagLength else {
            SecureBytes.wipe(output)
            throw CryptoError(.badLength, "GCM tag must be 16 bytes, got \(box.tag.count)")
        }
        guard box.nonce.count == Self.nonceLength else {
            SecureBytes.wipe(output)
            throw CryptoError(.badLength, "GCM nonce must be 12 bytes, got \(box.nonce.count)")
        }
        guard output.count == box.ciphertext.count else {
            SecureBytes.wipe(output)
            throw CryptoError(.badLength, "output buffer does not match the ciphertext length")
        }
        try lock.withLock {
            do {
                try start(nonce: box.nonce, aad: aad)
                try box.ciphertext.withUnsafeBytes { input in
                    try CryptoError.check(
                        keyward_gcry_cipher_decrypt(handle, output.baseAddress, output.count, input.baseAddress, input.count),
                        "gcry_cipher_decrypt")
                }
                let result = box.tag.withUnsafeBytes { keyward_gcry_cipher_checktag(handle, $0.baseAddress, $0.count) }
                guard result == 0 else {
                    throw CryptoError(.authenticationFailed, "authentication tag mismatch")
                }
            } catch {
                SecureBytes.wipe(output)
                throw error
            }
        }
    }

    /// Decrypts into ordinary memory (values that leave the vault as `SecretValue`).
    package func open(_ box: SealedBox, aad: [UInt8]) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: box.ciphertext.count)
        try output.withUnsafeMutableBytes { try open(box, aad: aad, into: $0) }
        return output
    }

    /// Decrypts into secure memory (wrapped keys).
    package func openSecure(_ box: SealedBox, aad: [UInt8]) throws -> SecureBytes {
        let output = SecureBytes(count: box.ciphertext.count)
        try output.withUnsafeMutableBytes { try open(box, aad: aad, into: $0) }
        return output
    }

    #if DEBUG
    // The trap tests' entry points (Tests/KeywardVaultTests/CryptoTests.swift): test builds
    // only, so a release binary holds no way to call libgcrypt unguarded.

    /// Calls `gcry_cipher_checktag` with whatever tag length it is given, as a naive caller
    /// would: for the trap test only, which shows that libgcrypt accepts a prefix of the tag.
    package func unguardedLibraryOpen(_ box: SealedBox, aad: [UInt8]) throws -> Bool {
        try lock.withLock {
            try start(nonce: box.nonce, aad: aad)
            var output = [UInt8](repeating: 0, count: box.ciphertext.count)
            defer { SecureBytes.wipe(&output) }
            try output.withUnsafeMutableBytes { out in
                try box.ciphertext.withUnsafeBytes { input in
                    try CryptoError.check(
                        keyward_gcry_cipher_decrypt(handle, out.baseAddress, out.count, input.baseAddress, input.count),
                        "gcry_cipher_decrypt")
                }
            }
            return box.tag.withUnsafeBytes { keyward_gcry_cipher_checktag(handle, $0.baseAddress, $0.count) } == 0
        }
    }

    /// Encrypts without setting an IV, as a naive caller might: for the trap test only, which
    /// shows that libgcrypt then uses an all-zero IV instead of failing.
    package func unguardedEncryptWithoutNonce(_ plaintext: [UInt8]) throws -> [UInt8] {
        try lock.withLock {
            try CryptoError.check(keyward_gcry_cipher_reset(handle), "gcry_cipher_reset")
            var ciphertext = [UInt8](repeating: 0, count: plaintext.count)
            try ciphertext.withUnsafeMutableBytes { out in
                try plaintext.withUnsafeBytes { input in
                    try CryptoError.check(
                        keyward_gcry_cipher_encrypt(handle, out.baseAddress, out.count, input.baseAddress, input.count),
                        "gcry_cipher_encrypt")
                }
            }
            return ciphertext
        }
    }

    /// Whether a raw libgcrypt AES-256 handle accepts a key of `length` bytes: for the trap
    /// test only (it does accept 16, silently becoming weaker than asked for).
    package static func libraryAcceptsAES256Key(length: Int) throws -> Bool {
        try Gcrypt.ensureInitialized()
        var opened: gcry_cipher_hd_t?
        try CryptoError.check(
            gcry_cipher_open(&opened, Int32(GCRY_CIPHER_AES256.rawValue), Int32(GCRY_CIPHER_MODE_GCM.rawValue), 0),
            "gcry_cipher_open")
        guard let opened else { return false }
        defer { gcry_cipher_close(opened) }
        let key = [UInt8](repeating: 7, count: length)
        return key.withUnsafeBytes { keyward_gcry_cipher_setkey(opened, $0.baseAddress, $0.count) } == 0
    }
    #endif

    private func start(nonce: [UInt8], aad: [UInt8]) throws {
        try CryptoError.check(keyward_gcry_cipher_reset(handle), "gcry_cipher_reset")
        try nonce.withUnsafeBytes {
            try CryptoError.check(keyward_gcry_cipher_setiv(handle, $0.baseAddress, $0.count), "gcry_cipher_setiv")
        }
        if !aad.isEmpty {
            try aad.withUnsafeBytes {
                try CryptoError.check(keyward_gcry_cipher_authenticate(handle, $0.baseAddress, $0.count), "gcry_cipher_authenticate")
            }
        }
    }
}

internal import CGcrypt
import Foundation

/// HMAC-SHA256 (RFC 2104) under one key, over libgcrypt's `gcry_mac`.
///
/// The handle is keyed once and reused under a lock, so one instance may be shared by threads.
package final class HMACSHA256: @unchecked Sendable {
    /// The length of a full tag. Verification requires exactly this many bytes:
    /// `gcry_mac_verify` on its own accepts any prefix of the tag.
    package static let tagLength = 32

    private let handle: gcry_mac_hd_t
    private let lock = NSLock()

    /// - Throws: ``CryptoError`` for an empty key or a library failure.
    package init(key: SecureBytes) throws {
        try Gcrypt.ensureInitialized()
        guard key.count > 0 else { throw CryptoError(.badKeyLength, "HMAC key is empty") }
        var opened: gcry_mac_hd_t?
        try CryptoError.check(
            gcry_mac_open(&opened, Int32(GCRY_MAC_HMAC_SHA256.rawValue), UInt32(GCRY_MAC_FLAG_SECURE.rawValue), nil), "gcry_mac_open")
        guard let opened else { throw CryptoError(.library, "gcry_mac_open returned no handle") }
        self.handle = opened
        do {
            try key.withUnsafeBytes {
                try CryptoError.check(gcry_mac_setkey(opened, $0.baseAddress, $0.count), "gcry_mac_setkey")
            }
        } catch {
            gcry_mac_close(opened)
            throw error
        }
    }

    /// Convenience for keys that are not secret (tests, RFC vectors).
    package convenience init(key bytes: [UInt8]) throws {
        try self.init(key: SecureBytes(copying: bytes))
    }

    deinit {
        gcry_mac_close(handle)
    }

    /// The tag of the concatenation of everything `body` writes.
    package func authenticate(_ body: (inout MACInput) throws -> Void) throws -> [UInt8] {
        try lock.withLock {
            try CryptoError.check(keyward_gcry_mac_reset(handle), "gcry_mac_reset")
            var input = MACInput(handle: handle)
            try body(&input)
            if let failure = input.failure { throw failure }
            var tag = [UInt8](repeating: 0, count: Self.tagLength)
            var length = Self.tagLength
            try tag.withUnsafeMutableBytes {
                try CryptoError.check(gcry_mac_read(handle, $0.baseAddress, &length), "gcry_mac_read")
            }
            guard length == Self.tagLength else { throw CryptoError(.library, "short HMAC output") }
            return tag
        }
    }

    /// The tag of `first` followed by `second`, into `tag` (exactly ``tagLength`` bytes): for
    /// loops that MAC many records without allocating.
    package func authenticate(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
                              into tag: UnsafeMutableRawBufferPointer) throws {
        guard tag.count == Self.tagLength else { throw CryptoError(.badLength, "HMAC output buffer must be 32 bytes") }
        try lock.withLock {
            try CryptoError.check(keyward_gcry_mac_reset(handle), "gcry_mac_reset")
            for part in [first, second] where part.count > 0 {
                try CryptoError.check(gcry_mac_write(handle, part.baseAddress, part.count), "gcry_mac_write")
            }
            var length = Self.tagLength
            try CryptoError.check(gcry_mac_read(handle, tag.baseAddress, &length), "gcry_mac_read")
            guard length == Self.tagLength else { throw CryptoError(.library, "short HMAC output") }
        }
    }

    /// The tag of `data`.
    package func authenticate(_ data: some ContiguousBytes) throws -> [UInt8] {
        try authenticate { input in data.withUnsafeBytes { input.write($0) } }
    }

    /// `true` when `tag` is exactly the 32-byte tag of what `body` writes. A truncated or
    /// over-long tag is refused before libgcrypt sees it.
    package func verify(tag: [UInt8], _ body: (inout MACInput) throws -> Void) throws -> Bool {
        guard tag.count == Self.tagLength else { return false }
        return try lock.withLock {
            try CryptoError.check(keyward_gcry_mac_reset(handle), "gcry_mac_reset")
            var input = MACInput(handle: handle)
            try body(&input)
            if let failure = input.failure { throw failure }
            let result = tag.withUnsafeBytes { gcry_mac_verify(handle, $0.baseAddress, $0.count) }
            return result == 0
        }
    }

    #if DEBUG
    /// Calls `gcry_mac_verify` with whatever length it is given, as a naive caller would: for
    /// the trap test only, which shows that libgcrypt accepts a prefix of the tag.
    package func unguardedLibraryVerify(tag: [UInt8], data: [UInt8]) throws -> Bool {
        try lock.withLock {
            try CryptoError.check(keyward_gcry_mac_reset(handle), "gcry_mac_reset")
            data.withUnsafeBytes { _ = gcry_mac_write(handle, $0.baseAddress, $0.count) }
            return tag.withUnsafeBytes { gcry_mac_verify(handle, $0.baseAddress, $0.count) } == 0
        }
    }
    #endif
}

/// What an HMAC computation is fed, piece by piece, with fixed-width big-endian integers so
/// that the encoding of a sequence of fields is unambiguous.
package struct MACInput {
    fileprivate let handle: gcry_mac_hd_t
    fileprivate var failure: CryptoError?

    fileprivate init(handle: gcry_mac_hd_t) {
        self.handle = handle
    }

    package mutating func write(_ buffer: UnsafeRawBufferPointer) {
        guard failure == nil, buffer.count > 0 else { return }
        let code = gcry_mac_write(handle, buffer.baseAddress, buffer.count)
        if code != 0 { failure = CryptoError(.library, "gcry_mac_write failed: \(Gcrypt.errorText(code))") }
    }

    package mutating func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// A length-prefixed byte string (u32 length, then the bytes).
    package mutating func writeField(_ bytes: [UInt8]) {
        write(UInt32(bytes.count))
        write(bytes)
    }

    package mutating func write(_ text: StaticString) {
        write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    package mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { write($0) }
    }

    package mutating func write(_ value: Int64) { write(UInt64(bitPattern: value)) }

    package mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { write($0) }
    }

    package mutating func write(_ value: UInt8) {
        withUnsafeBytes(of: value) { write($0) }
    }
}

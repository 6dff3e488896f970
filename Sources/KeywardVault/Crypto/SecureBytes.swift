internal import CGcrypt

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Key material in libgcrypt's secure memory (locked where the system allows), wiped and freed
/// when the last reference goes away.
///
/// Immutable after initialisation except through ``withUnsafeMutableBytes(_:)``, which only
/// the owner calls while filling it; sharing across threads is then safe.
package final class SecureBytes: @unchecked Sendable {
    private let pointer: UnsafeMutableRawPointer
    /// The number of bytes held.
    package let count: Int

    /// Zero-filled secure memory of `count` bytes (at least one byte is allocated).
    package init(count: Int) {
        precondition(count >= 0)
        try! Gcrypt.ensureInitialized()
        guard let raw = gcry_malloc_secure(max(count, 1)) else {
            // libgcrypt aborts on allocation failure through its own handler before this.
            fatalError("out of secure memory")
        }
        self.pointer = raw
        self.count = count
        memset(raw, 0, max(count, 1))
    }

    /// A secure copy of `bytes`. The caller wipes its own copy.
    package convenience init(copying bytes: some Collection<UInt8>) {
        self.init(count: bytes.count)
        var index = 0
        let target = pointer.assumingMemoryBound(to: UInt8.self)
        for byte in bytes {
            target[index] = byte
            index += 1
        }
    }

    /// `count` bytes from libgcrypt's `GCRY_STRONG_RANDOM` generator.
    package static func random(count: Int) -> SecureBytes {
        let bytes = SecureBytes(count: count)
        bytes.withUnsafeMutableBytes { Random.fill($0) }
        return bytes
    }

    deinit {
        SecureBytes.wipe(UnsafeMutableRawBufferPointer(start: pointer, count: count))
        gcry_free(pointer)
    }

    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    package func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }

    /// A copy in ordinary memory, for tests and for values that leave the vault anyway.
    package func copyBytes() -> [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// Constant-time comparison with `other`.
    package func constantTimeEquals(_ other: SecureBytes) -> Bool {
        withUnsafeBytes { a in other.withUnsafeBytes { b in ConstantTime.equals(a, b) } }
    }

    /// Overwrites `buffer` with zeros in a way the optimiser may not remove.
    package static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        explicit_bzero(base, buffer.count)
    }

    /// Overwrites an array's storage with zeros.
    package static func wipe(_ array: inout [UInt8]) {
        array.withUnsafeMutableBytes { wipe($0) }
    }
}

/// Comparisons whose time depends only on the lengths.
package enum ConstantTime {
    package static func equals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<a.count {
            difference |= a[index] ^ b[index]
        }
        return difference == 0
    }

    package static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in equals(x, y) } }
    }
}

/// Random bytes from libgcrypt.
package enum Random {
    /// Fills `buffer` from `GCRY_STRONG_RANDOM` (keys, salts, nonces).
    package static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        try! Gcrypt.ensureInitialized()
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        gcry_randomize(base, buffer.count, GCRY_STRONG_RANDOM)
    }

    /// `count` bytes from `gcry_create_nonce`: libgcrypt's generator for public, unique,
    /// unpredictable values (seeded from the strong pool), about 40 times cheaper than
    /// `gcry_randomize(GCRY_STRONG_RANDOM)`. For GCM nonces, which must never repeat.
    package static func nonce(_ count: Int) -> [UInt8] {
        try! Gcrypt.ensureInitialized()
        var result = [UInt8](repeating: 0, count: count)
        result.withUnsafeMutableBytes { if let base = $0.baseAddress { gcry_create_nonce(base, $0.count) } }
        return result
    }

    /// `count` strong random bytes in ordinary memory (ids, salts: not secret).
    package static func bytes(_ count: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        result.withUnsafeMutableBytes { fill($0) }
        return result
    }
}

internal import CGcrypt

/// Argon2id cost parameters (RFC 9106 §3.1). libgcrypt takes them as unchecked 32-bit
/// values, so every value is bounded here before use, and values read from a vault file are
/// never trusted beyond these bounds.
package struct Argon2Parameters: Sendable, Equatable, CustomStringConvertible {
    /// Passes over memory (t).
    package var iterations: UInt32
    /// Memory in KiB (m).
    package var memoryKiB: UInt32
    /// Lanes (p).
    package var parallelism: UInt32

    package init(iterations: UInt32, memoryKiB: UInt32, parallelism: UInt32) {
        self.iterations = iterations
        self.memoryKiB = memoryKiB
        self.parallelism = parallelism
    }

    /// What new passphrase slots use: t=3, m=64 MiB, p=2.
    package static let standard = Argon2Parameters(iterations: 3, memoryKiB: 64 * 1024, parallelism: 2)
    /// The weakest setting a production vault accepts, on creation and on unlock: t=2, m=64 MiB.
    package static let floor = Argon2Parameters(iterations: 2, memoryKiB: 64 * 1024, parallelism: 1)

    /// Hard bounds whatever the policy: what a file may ask this process to spend.
    package static let maximumIterations: UInt32 = 32
    package static let maximumMemoryKiB: UInt32 = 1024 * 1024  // 1 GiB
    package static let maximumParallelism: UInt32 = 16
    package static let saltLengths = 16...64

    package var description: String { "t=\(iterations), m=\(memoryKiB) KiB, p=\(parallelism)" }

    /// Checks the hard bounds (RFC 9106 §3.1: m ≥ 8·p, t ≥ 1, 1 ≤ p) and the ceilings above.
    package func checkBounds() throws {
        guard (1...Self.maximumIterations).contains(iterations),
            (1...Self.maximumParallelism).contains(parallelism),
            memoryKiB >= 8 * parallelism, memoryKiB <= Self.maximumMemoryKiB
        else {
            throw CryptoError(.badParameters, "Argon2id parameters out of bounds (\(self))")
        }
    }

    /// `true` when at least as strong as ``floor`` in time and memory.
    package var meetsFloor: Bool {
        iterations >= Self.floor.iterations && memoryKiB >= Self.floor.memoryKiB
    }
}

/// Argon2id (RFC 9106) through `gcry_kdf_open(GCRY_KDF_ARGON2, GCRY_KDF_ARGON2ID, …)`.
package enum Argon2id {
    /// Derives `length` bytes (4...1024) into secure memory.
    /// - Parameters:
    ///   - secret: Argon2's optional secret value K (RFC 9106 §3.1), e.g. a pepper.
    ///   - associatedData: Argon2's optional associated data X.
    /// - Throws: ``CryptoError`` for parameters or salt outside the bounds, or a library failure.
    package static func deriveKey(
        password: UnsafeRawBufferPointer, salt: [UInt8], parameters: Argon2Parameters,
        secret: [UInt8] = [], associatedData: [UInt8] = [], length: Int = 32
    ) throws -> SecureBytes {
        try Gcrypt.ensureInitialized()
        try parameters.checkBounds()
        guard Argon2Parameters.saltLengths.contains(salt.count) else {
            throw CryptoError(.badParameters, "Argon2id salt must be 16...64 bytes, got \(salt.count)")
        }
        guard (4...1024).contains(length) else {
            throw CryptoError(.badParameters, "Argon2id output must be 4...1024 bytes")
        }
        guard password.count <= 1 << 20, secret.count <= 1024, associatedData.count <= 1 << 20 else {
            throw CryptoError(.badParameters, "Argon2id input too long")
        }
        // Parameter order per libgcrypt's argon2 open: tag length, t, m, p.
        let raw: [UInt] = [UInt(length), UInt(parameters.iterations), UInt(parameters.memoryKiB), UInt(parameters.parallelism)]
        var opened: gcry_kdf_hd_t?
        let code = raw.withUnsafeBufferPointer { params in
            salt.withUnsafeBytes { saltBytes in
                secret.withUnsafeBytes { secretBytes in
                    associatedData.withUnsafeBytes { adBytes in
                        gcry_kdf_open(
                            &opened, Int32(GCRY_KDF_ARGON2.rawValue), Int32(GCRY_KDF_ARGON2ID.rawValue),
                            params.baseAddress, UInt32(params.count),
                            password.baseAddress ?? UnsafeRawPointer(saltBytes.baseAddress!), password.count,
                            saltBytes.baseAddress, saltBytes.count,
                            secret.isEmpty ? nil : secretBytes.baseAddress, secretBytes.count,
                            associatedData.isEmpty ? nil : adBytes.baseAddress, adBytes.count)
                    }
                }
            }
        }
        try CryptoError.check(code, "gcry_kdf_open")
        guard let opened else { throw CryptoError(.library, "gcry_kdf_open returned no handle") }
        let handle = KDFHandle(opened)
        // One thread per lane (shim.h): p=2 costs about half the wall time of p=1 on two cores.
        try CryptoError.check(keyward_gcry_kdf_compute_threaded(handle.raw), "gcry_kdf_compute")
        let output = SecureBytes(count: length)
        try output.withUnsafeMutableBytes {
            try CryptoError.check(gcry_kdf_final(handle.raw, $0.count, $0.baseAddress), "gcry_kdf_final")
        }
        return output
    }

    package static func deriveKey(
        password: [UInt8], salt: [UInt8], parameters: Argon2Parameters,
        secret: [UInt8] = [], associatedData: [UInt8] = [], length: Int = 32
    ) throws -> SecureBytes {
        try password.withUnsafeBytes {
            try deriveKey(password: $0, salt: salt, parameters: parameters, secret: secret, associatedData: associatedData, length: length)
        }
    }
}

/// Owns a `gcry_kdf_hd_t` and closes it (which wipes the Argon2 memory) in `deinit`.
private final class KDFHandle {
    let raw: gcry_kdf_hd_t
    init(_ raw: gcry_kdf_hd_t) { self.raw = raw }
    deinit { gcry_kdf_close(raw) }
}

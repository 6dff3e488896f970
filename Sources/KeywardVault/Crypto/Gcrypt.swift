internal import CGcrypt

/// One-time initialisation of libgcrypt, as its manual requires before any other call
/// ("Initializing the library"): version check, secure memory pool, then
/// `GCRYCTL_INITIALIZATION_FINISHED`.
package enum Gcrypt {
    /// The oldest libgcrypt this code accepts: 1.10 brought `gcry_kdf_open` with Argon2.
    package static let minimumVersion = "1.10.0"

    /// Bytes of locked secure memory reserved at start; the pool grows in steps of this size.
    static let secureMemoryBytes: UInt32 = 256 * 1024

    /// The installed version, or the error that prevents use of the library.
    private static let initialization: Result<String, CryptoError> = {
        guard let version = gcry_check_version(minimumVersion) else {
            return .failure(CryptoError(.libraryTooOld, "libgcrypt \(minimumVersion) or later is required"))
        }
        if keyward_gcry_initialization_finished_p() == 0 {
            // Suspend the "using insecure memory" warning while the pool is created: in a
            // container without mlock the pool still works, only unlocked.
            _ = keyward_gcry_suspend_secmem_warn()
            _ = keyward_gcry_init_secmem(secureMemoryBytes)
            _ = keyward_gcry_auto_expand_secmem(secureMemoryBytes)
            _ = keyward_gcry_resume_secmem_warn()
            _ = keyward_gcry_initialization_finished()
        }
        return .success(String(cString: version))
    }()

    /// Initialises libgcrypt once per process (thread-safe: a lazy global).
    /// - Throws: ``CryptoError`` when the installed libgcrypt is too old.
    @discardableResult
    package static func ensureInitialized() throws -> String {
        try initialization.get()
    }

    static func errorText(_ code: UInt32) -> String {
        String(cString: keyward_gcry_strerror(code))
    }
}

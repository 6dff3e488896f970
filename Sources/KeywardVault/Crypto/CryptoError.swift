/// A failure inside the crypto wrapper. Internal to KeywardVault: the vault maps it to
/// ``VaultError`` at the module's edge. `description` never holds key material.
package struct CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Kind: String, Sendable, Equatable {
        /// libgcrypt is older than the minimum this build was written against.
        case libraryTooOld
        /// A key has the wrong length for its algorithm (AES-256 needs 32 bytes).
        case badKeyLength
        /// A nonce, tag or salt has the wrong length.
        case badLength
        /// Argon2 parameters outside the bounds this build accepts.
        case badParameters
        /// An authentication tag or MAC did not match (tampering, wrong key).
        case authenticationFailed
        /// libgcrypt reported an error.
        case library
    }

    package var kind: Kind
    package var message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }

    /// Throws a ``Kind/library`` error for a non-zero `gcry_error_t`.
    static func check(_ code: UInt32, _ what: StaticString) throws {
        guard code != 0 else { return }
        throw CryptoError(.library, "\(what) failed: \(Gcrypt.errorText(code))")
    }
}


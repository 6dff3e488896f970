import KeywardCore

/// The public error of KeywardVault.
///
/// `description` is safe to print: it names what failed (a table, a slot, an entry name the
/// caller already knows) and never holds a secret value, key material or a passphrase.
public struct VaultError: CategorizedError, Sendable, Equatable {
    /// What went wrong, finer than the category; stable for scripts and tests.
    public enum Code: String, Sendable, Equatable {
        /// No key source, or no terminal to prompt on (exit 4).
        case locked
        /// The key or passphrase opened no unlock slot, or the slot is damaged: deliberately
        /// indistinguishable (exit 4).
        case wrongKey
        /// A record, the manifest, a slot or the anchor failed its check (exit 4).
        case integrity
        /// The file is older than the rollback anchor says (exit 4).
        case rollback
        /// The file is not a Keyward vault, or was written by a newer Keyward (exit 4).
        case notAVault
        /// The file's permissions, owner or type are unsafe (exit 4).
        case unsafeFile
        /// Bad input: a name, a parameter, a missing entry, an existing vault (exit 2).
        case invalidInput
        /// The named entry or version does not exist (exit 2).
        case notFound
        /// A file-system or database failure (exit 1).
        case io
        /// Another process moved the state on first (a rotation journal entry already advanced
        /// or closed): a race between jobs, neither bad input nor damage (exit 1; running the
        /// command again sees the new state).
        case conflict
        /// Another process re-keyed the vault and the unlock slot this session used is gone
        /// (exit 1: the file is sound; running the command again unlocks it afresh).
        case rekeyed
    }

    /// What went wrong.
    public var code: Code
    /// One line, safe to print.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `.vault` for locked, wrong key and integrity failures (exit 4); `.usage` for bad input
    /// (exit 2); `.operationFailed` for I/O, a state another process changed first and a rekey by
    /// another process (exit 1). DESIGN.md, "Exit codes".
    public var category: FailureCategory {
        switch code {
        case .locked, .wrongKey, .integrity, .rollback, .notAVault, .unsafeFile: .vault
        case .invalidInput, .notFound: .usage
        case .io, .conflict, .rekeyed: .operationFailed
        }
    }

    public var description: String { message }

    static func integrity(_ message: String) -> VaultError { VaultError(.integrity, "integrity check failed: \(message)") }
    static func io(_ message: String) -> VaultError { VaultError(.io, message) }
    static func invalid(_ message: String) -> VaultError { VaultError(.invalidInput, message) }

    static let wrongKeyError = VaultError(
        .wrongKey, "the key or passphrase does not open this vault (wrong key, or the unlock slot is damaged)")
}

/// The kinds of failure that DESIGN.md's exit-code table tells apart. Each module's public
/// error type says which kind it is; the CLI alone turns kinds into exit codes.
public enum FailureCategory: String, Sendable, Codable {
    /// An operation failed: network, server, sink (exit 1).
    case operationFailed
    /// Usage or configuration error (exit 2).
    case usage
    /// The token service refused authentication: bad password, bad or expired secret (exit 3).
    case authentication
    /// The vault is locked, the key is wrong, or an integrity check failed (exit 4).
    case vault
    /// Some entities or sinks succeeded and some failed (exit 5).
    case partial
    /// `status --fail-within`: a secret expires within the window (exit 6).
    case expiringSoon
}

/// An error that knows its ``FailureCategory``. Every public error type of a Keyward module
/// conforms; an error that does not is treated as ``FailureCategory/operationFailed``.
public protocol CategorizedError: Error, CustomStringConvertible {
    var category: FailureCategory { get }
}

/// The public error of KeywardCore: configuration, usage and engine failures.
///
/// `description` is safe to print: it never holds a secret value or a response body.
public struct KeywardError: CategorizedError, Sendable {
    /// What went wrong, in the exit-code table's terms.
    public var category: FailureCategory
    /// One line, safe to print.
    public var message: String
    /// The cause, kept for logs at debug level; its own `description` must be safe too.
    public var underlying: (any Error & Sendable)?

    public init(_ category: FailureCategory, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.category = category
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }

    /// A usage error (exit 2): a bad argument or combination of arguments.
    public static func usage(_ message: String) -> KeywardError { KeywardError(.usage, message) }

    /// An operation failure (exit 1).
    public static func operationFailed(_ message: String, underlying: (any Error & Sendable)? = nil) -> KeywardError {
        KeywardError(.operationFailed, message, underlying: underlying)
    }
}

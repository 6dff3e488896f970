import Foundation
import KeywardCore
import Logging

/// One external plugin executable, called over protocol 1 (DESIGN.md, "Plugins"): one process
/// per request, the request on stdin, one JSON object on stdout, in the configuration's
/// directory, its own process group, a scrubbed environment, a timeout.
public struct ExternalPlugin: Sendable {
    /// The argv of every call (`[0]` an absolute path).
    public var command: [String]
    /// The working directory (the configuration file's); `nil` keeps Keyward's.
    public var directory: String?
    /// How long one call may run (SIGTERM to its process group, SIGKILL 5 s later).
    public var timeout: Duration
    /// The plugin's environment: `PATH`, `HOME`, `LANG`, `TMPDIR`, `KEYWARD_PLUGIN_PROTOCOL=1`
    /// and `environmentNames` taken from `processEnvironment`.
    public var environmentNames: [String]
    public var processEnvironment: [String: String]

    public init(command: [String], directory: String?, timeout: Duration = ExternalPluginReference.defaultTimeout,
                environmentNames: [String] = [], processEnvironment: [String: String] = ProcessInfo.processInfo.environment) {
        self.command = command
        self.directory = directory
        self.timeout = timeout
        self.environmentNames = environmentNames
        self.processEnvironment = processEnvironment
    }

    /// Calls `describe` and checks the answer (protocol 1 among `protocols`, a known kind, the
    /// required capability, option kinds, no option named like a common key). Blocks the
    /// calling thread (the configuration loader is synchronous).
    ///
    /// - Parameter kind: the kind the configuration expects, or `nil` to accept either.
    /// - Throws: ``ExternalPluginError`` naming the plugin and what was wrong.
    public func describe(expecting kind: PluginKind?) throws(ExternalPluginError) -> ExternalPluginDescription {
        fatalError("wtB implements")
    }

    /// Sends one request and returns the answer object.
    ///
    /// - Parameters:
    ///   - request: the request object; `"protocol": 1` is added.
    ///   - secrets: the secret values the request and its answer may carry: replaced by
    ///     `<redacted>` in the plugin's stderr before it is logged (debug level, 64 KiB kept).
    ///   - logger: where the plugin's stderr lines go.
    /// - Throws: ``ExternalPluginError``: the plugin's error object mapped to its category, or a
    ///   protocol failure (timeout, non-zero exit, no JSON, two objects, another protocol,
    ///   stdout over 16 MiB) naming the plugin; its stdout is never echoed.
    public func call(_ request: [String: JSONValue], secrets: [[UInt8]] = [], logger: Logger) async throws(ExternalPluginError) -> [String: JSONValue] {
        fatalError("wtB implements")
    }
}

/// A JSON value of protocol 1's requests and answers.
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws { fatalError("wtB implements") }
    public func encode(to encoder: any Encoder) throws { fatalError("wtB implements") }
}

/// A failed external plugin call or `describe` (DESIGN.md, "Plugins", "Failure").
public struct ExternalPluginError: CategorizedError, Sendable, Equatable {
    /// The protocol's error codes, and what went wrong outside the protocol.
    public enum Code: String, Sendable, Equatable {
        /// `invalid` (exit 2).
        case invalid
        /// `auth` (exit 3).
        case auth
        /// `notFound`, `unavailable`, `rateLimited` (exit 1, or 5 among others that succeeded).
        case notFound, unavailable, rateLimited
        /// Not an answer protocol 1 allows: timeout, non-zero exit, no JSON, two objects,
        /// another protocol, stdout over 16 MiB, a missing field (exit 1).
        case protocolViolation
    }

    /// The plugin's executable path (or the entry's name when known).
    public var plugin: String
    public var code: Code
    /// What was wrong; for a plugin's own error object, its message with known secrets redacted.
    public var message: String
    /// `retryAfterSeconds` of a `rateLimited` or `unavailable` answer.
    public var retryAfterSeconds: Int?

    public init(plugin: String, code: Code, message: String, retryAfterSeconds: Int? = nil) {
        self.plugin = plugin
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var category: FailureCategory {
        switch code {
        case .invalid: .usage
        case .auth: .authentication
        case .notFound, .unavailable, .rateLimited, .protocolViolation: .operationFailed
        }
    }

    public var description: String { "plugin \(plugin): \(message)" }
}

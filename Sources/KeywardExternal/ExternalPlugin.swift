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

    /// The protocol version Keyward speaks.
    public static let protocolVersion = 1

    /// The common keys of a sink entry, which a sink plugin's options may not reuse (DESIGN.md,
    /// "Plugins"; `onChangeTimeout` too, as the loader reads it). Keyward writes no file for an
    /// external sink, so `path`, `mode` and `allowGroupRead` may be the plugin's own.
    public static let commonSinkKeys: Set<String> = ["type", "command", "timeout", "env", "entities", "keys", "onChange", "onChangeTimeout"]
    /// The common keys of a provider entry (DESIGN.md, "Plugins").
    public static let commonProviderKeys: Set<String> = ["type", "command", "timeout", "env"]

    /// The executable's path, as failures name it.
    var path: String { command.first ?? "(no command)" }

    /// The exact environment of every call: `PATH`, `HOME`, `LANG`, `TMPDIR` (those set),
    /// `KEYWARD_PLUGIN_PROTOCOL=1` and the `environmentNames` set in `processEnvironment`. No
    /// other `KEYWARD_*` variable ever, even when named (the loader refuses that already).
    var environment: [String: String] {
        var result: [String: String] = [:]
        for name in ["PATH", "HOME", "LANG", "TMPDIR"] + environmentNames where !name.hasPrefix("KEYWARD_") {
            if let value = processEnvironment[name] { result[name] = value }
        }
        result["KEYWARD_PLUGIN_PROTOCOL"] = String(Self.protocolVersion)
        return result
    }

    /// Calls `describe` and checks the answer (protocol 1 among `protocols`, a known kind, the
    /// required capability, option kinds, no option named like a common key). Blocks the
    /// calling thread (the configuration loader is synchronous).
    ///
    /// - Parameter kind: the kind the configuration expects, or `nil` to accept either.
    /// - Throws: ``ExternalPluginError`` naming the plugin and what was wrong.
    public func describe(expecting kind: PluginKind?) throws(ExternalPluginError) -> ExternalPluginDescription {
        let logger = Logger(label: "keyward.plugin")
        let input = encode(["operation": .string("describe")])
        let result = process(input).runBlocking()
        let answer = try counted(result) { () throws(ExternalPluginError) in try check(result, secrets: [], logger: logger) }
        return try Self.description(of: answer, expecting: kind, plugin: path)
    }

    /// Sends one request and returns the answer object.
    ///
    /// - Parameters:
    ///   - request: the request object; `"protocol": 1` is added.
    ///   - secrets: the secret values the request and its answer may carry: replaced by
    ///     `<redacted>` in the plugin's stderr before it is logged (debug level, 64 KiB kept)
    ///     and in the message of its error object.
    ///   - answerCarriesSecret: `true` for a call whose answer brings a secret Keyward does not
    ///     know yet (a provider's `fetch`, `reset`, `token`): when it fails, the plugin's stderr
    ///     is not logged at all (only its size), since the one value that must be redacted from
    ///     it never arrived.
    ///   - logger: where the plugin's stderr lines go.
    /// - Throws: ``ExternalPluginError``: the plugin's error object mapped to its category, or a
    ///   protocol failure (timeout, non-zero exit, no JSON, two objects, another protocol,
    ///   stdout over 16 MiB) naming the plugin; its stdout is never echoed.
    public func call(_ request: [String: JSONValue], secrets: [[UInt8]] = [], answerCarriesSecret: Bool = false,
                     logger: Logger) async throws(ExternalPluginError) -> [String: JSONValue] {
        let input = encode(request)
        let result = await process(input).run()
        return try counted(result) { () throws(ExternalPluginError) in
            try check(result, secrets: secrets, answerCarriesSecret: answerCarriesSecret, logger: logger)
        }
    }

    /// The `plugin` label of `keyward_plugin_calls_total`: the executable's file name (a
    /// configuration may name one plugin in several entries; its path's directories are not
    /// the plugin's identity).
    var metricName: String { (path as NSString).lastPathComponent }

    /// Runs `check` and counts the call in `keyward_plugin_calls_total` by how it ended
    /// (``EngineMetrics/PluginOutcome``).
    private func counted(_ result: PluginProcess.Result,
                         _ check: () throws(ExternalPluginError) -> [String: JSONValue]) throws(ExternalPluginError) -> [String: JSONValue] {
        do {
            let answer = try check()
            EngineMetrics.countPluginCall(plugin: metricName, outcome: .ok)
            return answer
        } catch {
            let outcome: EngineMetrics.PluginOutcome
            if case .timedOut = result.ending {
                outcome = .timeout
            } else {
                outcome = error.code == .protocolViolation ? .violation : .error
            }
            EngineMetrics.countPluginCall(plugin: metricName, outcome: outcome)
            throw error
        }
    }

    private func process(_ input: [UInt8]) -> PluginProcess {
        PluginProcess(command: command, directory: directory, environment: environment, timeout: timeout, input: input)
    }

    private func failure(_ message: String, code: ExternalPluginError.Code = .protocolViolation) -> ExternalPluginError {
        ExternalPluginError(plugin: path, code: code, message: message)
    }

    private func encode(_ request: [String: JSONValue]) -> [UInt8] {
        var request = request
        request["protocol"] = .integer(Self.protocolVersion)
        return JSONValue.object(request).serialized()
    }

    /// Turns a finished run into the answer object, or the failure protocol 1 says it is.
    func check(_ result: PluginProcess.Result, secrets: [[UInt8]], answerCarriesSecret: Bool = false,
                       logger: Logger) throws(ExternalPluginError) -> [String: JSONValue] {
        let parsed: Parsed = if case .exited = result.ending { Self.parseObject(result.stdout) } else { .none }
        // What the answer carries is secret too (a fetched secret, a minted token, a read value).
        var secrets = secrets
        var answered = false
        if case .object(let answer) = parsed {
            Self.collectSecrets(in: .object(answer), into: &secrets)
            answered = answer["error"] == nil && answer["protocol"] == .integer(Self.protocolVersion)
        }
        if case .exited(let status) = result.ending, status != 0 { answered = false }
        // The forms to redact (raw, JSON-escaped) are worked out only when there is text to
        // redact: for a 1,000-entity write that is 1,000 secrets on every call.
        if answerCarriesSecret && !answered {
            if !result.stderr.isEmpty {
                logger.debug("wrote \(result.stderr.count) bytes to stderr, not shown: the call failed, so the secret its answer would have carried is not known and could not be redacted",
                             metadata: ["plugin": .string(path)])
            }
        } else {
            log(result.stderr, secrets: secrets, logger: logger)
        }
        let status: Int32
        switch result.ending {
        case .couldNotStart(let reason):
            throw failure("could not be started: \(reason)")
        case .timedOut:
            throw failure("did not answer within \(Self.format(timeout)): stopped at its timeout (SIGTERM to its process group, SIGKILL \(Self.format(PluginProcess.killGrace)) later); raise its timeout if it needs longer")
        case .stdoutTooLarge:
            throw failure("wrote more than 16 MiB to stdout: stopped")
        case .exited(let raw):
            status = raw
        }
        let signal = status & 0x7f
        let exitCode = (status >> 8) & 0xff
        guard signal == 0, exitCode == 0 else {
            // A protocol error object explains a non-zero exit better than its status.
            if case .object(let answer) = parsed, answer["protocol"] == .integer(Self.protocolVersion),
               let error = answer["error"]?.objectValue
            {
                throw mapError(error, secrets: secrets)
            }
            throw failure(signal == 0 ? "exited with status \(exitCode)" : "was killed by signal \(signal)")
        }
        let answer: [String: JSONValue]
        switch parsed {
        case .object(let object): answer = object
        case .several: throw failure("answered more than one JSON object")
        case .none: throw failure("did not answer a JSON object")
        }
        switch answer["protocol"] {
        case .integer(Self.protocolVersion): break
        case .integer(let other): throw failure("speaks protocol \(other); Keyward speaks \(Self.protocolVersion)")
        default: throw failure("answered without \"protocol\": \(Self.protocolVersion)")
        }
        if let error = answer["error"] {
            guard let object = error.objectValue else { throw failure("answered an \"error\" that is not an object") }
            throw mapError(object, secrets: secrets)
        }
        return answer
    }

    /// The most of a plugin's error message Keyward prints, in characters.
    static let messageLimit = 500

    /// `text` safe to print on a terminal: control characters (newlines and escape sequences a
    /// plugin could use to forge `keyward:` lines or drive the terminal) shown as `\n`, `\t`
    /// or `\u{1b}`; cut after `limit` characters with `…`.
    static func printable(_ text: String, limit: Int?) -> String {
        var shown = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if let limit, count >= limit {
                shown += "…"
                break
            }
            switch scalar {
            case "\n": shown += "\\n"
            case "\t": shown += "\\t"
            case "\r": shown += "\\r"
            case _ where scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}":
                shown += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: shown.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return shown
    }

    /// `{"code":C,"message":M,"retryAfterSeconds":N}` as an ``ExternalPluginError``; an unknown
    /// code is a protocol violation. The message has known secrets redacted.
    private func mapError(_ error: [String: JSONValue], secrets: [[UInt8]]) -> ExternalPluginError {
        let message = error["message"]?.stringValue.map {
            Self.printable(String(decoding: Redaction.redact(Array($0.utf8), secrets.flatMap(Redaction.variants(of:))), as: UTF8.self),
                           limit: Self.messageLimit)
        }
        guard let name = error["code"]?.stringValue, let code = ExternalPluginError.Code(rawValue: name), code != .protocolViolation else {
            return failure("answered an error with an unknown code" + (message.map { ": \($0)" } ?? ""))
        }
        return ExternalPluginError(plugin: path, code: code, message: message ?? name, retryAfterSeconds: error["retryAfterSeconds"]?.integerValue)
    }

    /// The string values under `secret`, `token` and `value` anywhere in an answer.
    static func collectSecrets(in value: JSONValue, into secrets: inout [[UInt8]]) {
        switch value {
        case .object(let object):
            for (key, inner) in object {
                if ["secret", "token", "value"].contains(key), let text = inner.stringValue { secrets.append(Array(text.utf8)) }
                collectSecrets(in: inner, into: &secrets)
            }
        case .array(let items):
            for item in items { collectSecrets(in: item, into: &secrets) }
        default: break
        }
    }

    /// The plugin's stderr, line by line at debug level, secrets redacted.
    private func log(_ stderr: [UInt8], secrets: [[UInt8]], logger: Logger) {
        guard !stderr.isEmpty else { return }
        var kept = stderr
        var cut = false
        if kept.count >= PluginProcess.stderrKept {
            // The last line may end inside a secret: dropped, not half-redacted.
            if let newline = kept.lastIndex(of: UInt8(ascii: "\n")) { kept.removeSubrange(newline...) } else { kept = [] }
            cut = true
        }
        let text = String(decoding: Redaction.redact(kept, secrets.flatMap(Redaction.variants(of:))), as: UTF8.self)
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            logger.debug("\(Self.printable(String(line), limit: nil))", metadata: ["plugin": .string(path)])
        }
        if cut { logger.debug("(stderr cut at 64 KiB)", metadata: ["plugin": .string(path)]) }
    }

    enum Parsed: Equatable {
        case object([String: JSONValue])
        case several
        case none
    }

    /// Exactly one JSON object, whitespace around it allowed.
    static func parseObject(_ bytes: [UInt8]) -> Parsed {
        let decoder = JSONDecoder()
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }) else { return .none }
        let last = bytes.lastIndex(where: { !isSpace($0) })!
        let body = bytes[first...last]
        guard body.first == UInt8(ascii: "{") else { return .none }
        if let value = try? decoder.decode(JSONValue.self, from: Data(body)) {
            if case .object(let object) = value { return .object(object) }
            return .none
        }
        // Not one value: a first object followed by another is "two objects".
        guard let end = endOfObject(body), end < body.endIndex else { return .none }
        guard case .object? = try? decoder.decode(JSONValue.self, from: Data(body[..<end])) else { return .none }
        let rest = body[end...].drop(while: isSpace)
        if rest.first == UInt8(ascii: "{") { return .several }
        return .none
    }

    /// The index just after the object that starts `bytes`, by brackets outside strings.
    private static func endOfObject(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8>.Index? {
        var depth = 0
        var inString = false
        var escaped = false
        for index in bytes.indices {
            let byte = bytes[index]
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return bytes.index(after: index) }
            default: break
            }
        }
        return nil
    }

    /// A duration as messages show it: `30s`, or milliseconds below a second.
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 { return DurationParser.format(seconds: seconds) }
        return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)ms"
    }

    /// Checks a `describe` answer (DESIGN.md, "Plugins").
    static func description(of answer: [String: JSONValue], expecting expected: PluginKind?, plugin: String) throws(ExternalPluginError) -> ExternalPluginDescription {
        func bad(_ message: String) -> ExternalPluginError {
            ExternalPluginError(plugin: plugin, code: .protocolViolation, message: "its describe answer " + message)
        }
        guard let protocols = answer["protocols"]?.arrayValue, protocols.allSatisfy({ $0.integerValue != nil }) else {
            throw bad("has no \"protocols\" list of whole numbers")
        }
        let versions = protocols.compactMap(\.integerValue)
        guard versions.contains(protocolVersion) else {
            throw bad("says it speaks protocols \(versions.map(String.init).joined(separator: ", ")); Keyward speaks \(protocolVersion)")
        }
        guard let kindName = answer["kind"]?.stringValue, let kind = PluginKind(rawValue: kindName) else {
            throw bad("has no \"kind\" \"sink\" or \"provider\"")
        }
        if let expected, expected != kind {
            throw bad("says it is a \(kind.rawValue), but the configuration uses it as a \(expected.rawValue)")
        }
        guard let name = answer["name"]?.stringValue, !name.isEmpty else { throw bad("has no \"name\"") }
        guard let capabilityValues = answer["capabilities"]?.arrayValue, capabilityValues.allSatisfy({ $0.stringValue != nil }) else {
            throw bad("has no \"capabilities\" list of strings")
        }
        let capabilities = capabilityValues.compactMap(\.stringValue)
        let required = kind == .sink ? "write" : "fetch"
        guard capabilities.contains(required) else { throw bad("does not claim the \"\(required)\" capability a \(kind.rawValue) needs") }

        var options: [String: ExternalPluginDescription.Option] = [:]
        let optionValues: [String: JSONValue]
        switch answer["options"] {
        case nil, .null?: optionValues = [:]
        case .object(let object)?: optionValues = object
        default: throw bad("has \"options\" that are not an object")
        }
        let common = kind == .sink ? commonSinkKeys : commonProviderKeys
        for (optionName, value) in optionValues.sorted(by: { $0.key < $1.key }) {
            guard !optionName.isEmpty else { throw bad("has an option with an empty name") }
            guard !common.contains(optionName) else {
                throw bad("has an option \"\(optionName)\", the name of a common key of a \(kind.rawValue) entry")
            }
            guard let object = value.objectValue else { throw bad("has an option \"\(optionName)\" that is not an object") }
            guard let optionKind = object["type"]?.stringValue.flatMap(ExternalPluginDescription.Option.kind(named:)) else {
                throw bad("gives option \"\(optionName)\" no \"type\" among \(ExternalPluginDescription.Option.typeNames.map(\.name).joined(separator: ", "))")
            }
            let isRequired: Bool
            switch object["required"] {
            case nil: isRequired = false
            case .bool(let flag)?: isRequired = flag
            default: throw bad("gives option \"\(optionName)\" a \"required\" that is not true or false")
            }
            options[optionName] = .init(kind: optionKind, required: isRequired)
        }
        return ExternalPluginDescription(kind: kind, name: name, protocols: versions, capabilities: capabilities, options: options)
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

    /// Decodes any JSON value; a whole number stays ``integer(_:)`` (a fraction or exponent,
    /// or a number beyond `Int`, is ``number(_:)``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The string, when this is one.
    public var stringValue: String? { if case .string(let value) = self { value } else { nil } }
    /// The whole number, when this is one.
    public var integerValue: Int? { if case .integer(let value) = self { value } else { nil } }
    /// The object, when this is one.
    public var objectValue: [String: JSONValue]? { if case .object(let value) = self { value } else { nil } }
    /// The array, when this is one.
    public var arrayValue: [JSONValue]? { if case .array(let value) = self { value } else { nil } }

}

/// A failed external plugin call or `describe` (DESIGN.md, "Plugins", "Failure").
public struct ExternalPluginError: CategorizedError, ServiceActionReporting, RetryAfterReporting, Sendable, Equatable {
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

    /// An error object is the plugin's answer that it made no change (DESIGN.md, "Plugins":
    /// a refusal is an answer); anything else (timeout, crash, no JSON) may hide a change it
    /// made, so a `reset` that failed that way is recovered with `fetch`, never sent again.
    public var serviceDidNotAct: Bool { code != .protocolViolation }
}

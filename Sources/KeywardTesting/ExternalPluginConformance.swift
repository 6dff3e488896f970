import Foundation
import KeywardCore
import KeywardExternal
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The conformance suite for an external plugin executable (DESIGN.md, "Plugins", protocol 1):
/// what `keyward plugin test` runs, and what a test target runs with `#expect(failures.isEmpty)`.
/// Every call goes through ``ExternalPlugin`` (KeywardExternal's runner: scrubbed environment,
/// own process group, timeout), in ``directory``. Cases, in this order (``caseNames(kind:capabilities:)``):
/// - `describe` answers protocol 1 with a valid description (of ``kind`` when one is given);
/// - a sink: hostile values (newlines, quotes, `$`, backslashes, control characters, emoji,
///   64 KiB; NUL-free) written, then read back byte for byte when it claims `read`; a second
///   identical write answers `unchanged`; a dry-run write answers `written` and changes nothing
///   (`read` still shows the old values);
/// - a provider: `fetch` of ``entity`` answers a secret; `reset` (when claimed) a new secret that
///   `fetch` then returns; `token` (when claimed) a token that expires in the future, and a
///   wrong secret is refused;
/// - bad JSON, an unknown operation and `"protocol": 2` are each answered with an `invalid` error
///   object (not a crash, not silence);
/// - a call that cannot finish (its stdin is never closed) is stopped at a short timeout
///   (``stopTimeout``), and its process group is gone afterwards.
///
/// Bad JSON, `protocol: 2` and the open stdin cannot be said through ``ExternalPlugin/call(_:secrets:logger:)``
/// (it writes a well-formed protocol 1 request and closes stdin), so those cases run the plugin
/// behind `/bin/sh -c '… | "$@"'`, which hands it the fixed request (or a `sleep`'s
/// never-closed pipe) on stdin; the shell's argv holds no secret.
///
/// The provider cases reset ``entity``'s secret: run them against a test store or entity.
///
/// ```swift
/// let failures = await ExternalPluginConformance(command: [path], options: ["directory": out], directory: scratch).run()
/// #expect(failures.isEmpty, "\(failures)")
/// ```
public struct ExternalPluginConformance: Sendable {
    /// One case and how it went.
    public struct Case: Sendable, Equatable, CustomStringConvertible {
        /// The case's name, e.g. `sink: a second identical write answers unchanged`.
        public let name: String
        /// What was wrong; `nil` when the case passed.
        public let failure: String?

        public init(name: String, failure: String?) {
            self.name = name
            self.failure = failure
        }

        public var passed: Bool { failure == nil }
        public var description: String { failure.map { "FAIL \(name): \($0)" } ?? "pass \(name)" }
    }

    /// The plugin's argv; `command[0]` an absolute path (``ExternalPlugin/locate(_:directory:environment:)``).
    public var command: [String]
    /// The kind the plugin must be; `nil` takes the one its `describe` answers.
    public var kind: PluginKind?
    /// The plugin's options, as `--option NAME=VALUE` gives them: each sent as the JSON type its
    /// `describe` declares (``jsonValue(_:kind:)``).
    public var options: [String: String]
    /// The variables of ``processEnvironment`` the plugin may see besides the fixed ones (`env:`).
    public var environmentNames: [String]
    public var processEnvironment: [String: String]
    /// A provider's test entity (its secret is reset when the plugin claims `reset`).
    public var entity: String?
    /// An existing directory where the plugin runs (the configuration directory's place).
    public var directory: String
    /// The timeout of every ordinary call (default 30 s, as `timeout:`).
    public var timeout: Duration
    /// The timeout of the case whose call cannot finish (default 2 s).
    public var stopTimeout: Duration
    /// Where the plugin's stderr goes (debug level, redacted).
    public var logger: Logger

    public init(command: [String], kind: PluginKind? = nil, options: [String: String] = [:], environmentNames: [String] = [],
                processEnvironment: [String: String] = ProcessInfo.processInfo.environment, entity: String? = nil,
                directory: String, timeout: Duration = ExternalPluginReference.defaultTimeout, stopTimeout: Duration = .seconds(2),
                logger: Logger = Logger(label: "keyward.plugin-test")) {
        self.command = command
        self.kind = kind
        self.options = options
        self.environmentNames = environmentNames
        self.processEnvironment = processEnvironment
        self.entity = entity
        self.directory = directory
        self.timeout = timeout
        self.stopTimeout = stopTimeout
        self.logger = logger
    }

    // MARK: - case names

    public static let describeCase = "describe answers protocol 1 with a valid description"
    public static let sinkRoundTripCase = "sink: hostile values written then read back byte for byte"
    public static let sinkWriteCase = "sink: hostile values are written"
    public static let sinkUnchangedCase = "sink: a second identical write answers unchanged"
    public static let sinkDryRunCase = "sink: a dry-run write changes nothing"
    public static let fetchCase = "provider: fetch answers the entity's secret"
    public static let resetCase = "provider: reset answers a new secret that fetch then returns"
    public static let tokenCase = "provider: token answers a token that expires in the future"
    public static let wrongSecretCase = "provider: token refuses a wrong secret"
    public static let badJSONCase = "bad JSON is answered with an invalid error"
    public static let unknownOperationCase = "an unknown operation is answered with an invalid error"
    public static let otherProtocolCase = "protocol 2 is answered with an invalid error"
    public static let timeoutCase = "a call that cannot finish is stopped at its timeout, its process group gone"

    /// The cases run for a plugin of `kind` claiming `capabilities`, in order (`kind` `nil`: its
    /// `describe` failed, so only the cases that need no description).
    public static func caseNames(kind: PluginKind?, capabilities: [String]) -> [String] {
        var names = [describeCase]
        switch kind {
        case .sink:
            names += [capabilities.contains("read") ? sinkRoundTripCase : sinkWriteCase, sinkUnchangedCase, sinkDryRunCase]
        case .provider:
            names.append(fetchCase)
            if capabilities.contains("reset") { names.append(resetCase) }
            if capabilities.contains("token") { names += [tokenCase, wrongSecretCase] }
        case nil:
            break
        }
        return names + [badJSONCase, unknownOperationCase, otherProtocolCase, timeoutCase]
    }

    /// The hostile values of the sink cases, by key: each NUL-free, valid UTF-8 (a JSON string).
    public static let hostileValues: [(key: String, value: String)] = [
        ("KEYWARD_CONFORMANCE_NEWLINES", "line one\nline two\n\nend\n"),
        ("KEYWARD_CONFORMANCE_SINGLE_QUOTES", "it's 'quoted' '\\''"),
        ("KEYWARD_CONFORMANCE_DOUBLE_QUOTES", "say \"hi\" \" `tick`"),
        ("KEYWARD_CONFORMANCE_DOLLAR_SIGNS", "$HOME ${HOME} $(id) $1 $$ cost: $"),
        ("KEYWARD_CONFORMANCE_BACKSLASHES", "C:\\path\\to\\n x \\\\ \\"),
        ("KEYWARD_CONFORMANCE_CONTROLS", "\u{01}\u{07}\t\r\u{1B}[31m\u{7F}\u{80}\u{85}\u{9F} end"),
        ("KEYWARD_CONFORMANCE_EMOJI", "🔑 ключ 鍵 ā é \u{10FFFF}"),
        ("KEYWARD_CONFORMANCE_64_KIB", String((0..<65_536).map { Character(Unicode.Scalar(UInt8(ascii: "a") + UInt8($0 % 26))) })),
    ]

    // MARK: - running

    /// Runs every case; the failed ones (empty when the plugin conforms).
    public func run() async -> [ConformanceFailure] {
        await runCases().compactMap { item in item.failure.map { ConformanceFailure(testCase: item.name, message: $0) } }
    }

    /// Runs every case and says how each went, in ``caseNames(kind:capabilities:)``'s order.
    public func runCases() async -> [Case] {
        var cases: [Case] = []
        let plugin = makePlugin(command: command, timeout: timeout)
        var description: ExternalPluginDescription?
        do {
            let described = try await offPool { [kind] in try plugin.describe(expecting: kind) }
            description = described
            cases.append(Case(name: Self.describeCase, failure: nil))
        } catch {
            cases.append(Case(name: Self.describeCase, failure: Self.say(error)))
        }
        if let description {
            let options = Self.jsonOptions(options, description: description)
            switch description.kind {
            case .sink: cases += await sinkCases(plugin, description: description, options: options)
            case .provider: cases += await providerCases(plugin, description: description, options: options)
            }
        }
        cases += await invalidRequestCases(plugin)
        cases.append(await timeoutCase())
        return cases
    }

    // MARK: - sink

    private func sinkCases(_ plugin: ExternalPlugin, description: ExternalPluginDescription, options: [String: JSONValue]) async -> [Case] {
        let readable = description.has("read")
        let sink: JSONValue = .object(["name": .string("conformance"), "options": .object(options)])
        let secrets = Self.hostileValues.map { Array($0.value.utf8) }
        func write(_ values: [(key: String, value: String)], dryRun: Bool) async throws -> String {
            let entries: [JSONValue] = values.map {
                .object(["key": .string($0.key), "value": .string($0.value), "entity": .string("FIU-CONFORMANCE-1"), "field": .string("secret")])
            }
            let answer = try await plugin.call(["operation": .string("write"), "sink": sink, "dryRun": .bool(dryRun), "entries": .array(entries)],
                                               secrets: secrets + values.map { Array($0.value.utf8) }, logger: logger)
            guard case .string(let outcome)? = answer["outcome"], outcome == "written" || outcome == "unchanged" else {
                throw Refused("the write answered no outcome written or unchanged")
            }
            return outcome
        }
        func read(_ keys: [String]) async throws -> [String: String] {
            let entries: [JSONValue] = keys.map { .object(["key": .string($0), "entity": .string("FIU-CONFORMANCE-1"), "field": .string("secret")]) }
            let answer = try await plugin.call(["operation": .string("read"), "sink": sink, "entries": .array(entries)], secrets: secrets, logger: logger)
            guard case .array(let found)? = answer["entries"] else { throw Refused("the read answered no entries array") }
            var values: [String: String] = [:]
            for item in found {
                guard case .object(let entry) = item, case .string(let key)? = entry["key"], case .string(let value)? = entry["value"] else {
                    throw Refused("the read answered an entry without a string key and value")
                }
                values[key] = value
            }
            return values
        }
        func compare(_ expected: [(key: String, value: String)], _ got: [String: String]) -> String? {
            let wrong = expected.compactMap { pair -> String? in
                guard let value = got[pair.key] else { return "\(pair.key) is missing" }
                let (want, have) = (Array(pair.value.utf8), Array(value.utf8))
                return want == have ? nil : "\(pair.key) read back as \(have.count) bytes that differ from the \(want.count) written"
            }
            return wrong.isEmpty ? nil : wrong.joined(separator: "; ")
        }

        var cases: [Case] = []
        // Round trip.
        var written = false
        do {
            let outcome = try await write(Self.hostileValues, dryRun: false)
            written = true
            if readable {
                let got = try await read(Self.hostileValues.map(\.key))
                cases.append(Case(name: Self.sinkRoundTripCase, failure: compare(Self.hostileValues, got)))
            } else {
                cases.append(Case(name: Self.sinkWriteCase, failure: outcome == "written" ? nil : "the first write answered \(outcome), not written"))
            }
        } catch {
            cases.append(Case(name: readable ? Self.sinkRoundTripCase : Self.sinkWriteCase, failure: Self.say(error)))
        }
        // Unchanged.
        do {
            if !written { _ = try await write(Self.hostileValues, dryRun: false) }
            let again = try await write(Self.hostileValues, dryRun: false)
            cases.append(Case(name: Self.sinkUnchangedCase, failure: again == "unchanged" ? nil : "the second identical write answered \(again)"))
        } catch {
            cases.append(Case(name: Self.sinkUnchangedCase, failure: Self.say(error)))
        }
        // Dry run.
        do {
            let changed = Self.hostileValues.map { (key: $0.key, value: "changed by a dry run " + $0.value) }
            let outcome = try await write(changed, dryRun: true)
            var problems: [String] = []
            if outcome != "written" { problems.append("a dry-run write of changed values answered \(outcome), not written") }
            if readable, let wrong = compare(Self.hostileValues, try await read(Self.hostileValues.map(\.key))) {
                problems.append("after the dry run: \(wrong)")
            }
            cases.append(Case(name: Self.sinkDryRunCase, failure: problems.isEmpty ? nil : problems.joined(separator: "; ")))
        } catch {
            cases.append(Case(name: Self.sinkDryRunCase, failure: Self.say(error)))
        }
        return cases
    }

    // MARK: - provider

    private func providerCases(_ plugin: ExternalPlugin, description: ExternalPluginDescription, options: [String: JSONValue]) async -> [Case] {
        var cases: [Case] = []
        guard let entity, !entity.isEmpty else {
            return Self.caseNames(kind: .provider, capabilities: description.capabilities).dropFirst()
                .filter { $0.hasPrefix("provider: ") }
                .map { Case(name: $0, failure: "no test entity was given (--entity)") }
        }
        var known: [[UInt8]] = []
        func secretAnswer(_ operation: String, extra: [String: JSONValue] = [:]) async throws -> (secret: String, expiresAt: Date?) {
            var request: [String: JSONValue] = ["operation": .string(operation), "entity": .string(entity), "options": .object(options)]
            request.merge(extra) { $1 }
            let answer = try await plugin.call(request, secrets: known, logger: logger)
            guard case .string(let secret)? = answer["secret"], !secret.isEmpty else { throw Refused("\(operation) answered no secret (a non-empty string)") }
            known.append(Array(secret.utf8))
            switch answer["expiresAt"] {
            case nil, .null?: return (secret, nil)
            case .string(let text)?:
                guard let date = Self.date(text) else { throw Refused("\(operation) answered an expiresAt that is not RFC 3339") }
                return (secret, date)
            default: throw Refused("\(operation) answered an expiresAt that is neither a string nor null")
            }
        }

        var current: String?
        do {
            current = try await secretAnswer("fetch").secret
            cases.append(Case(name: Self.fetchCase, failure: nil))
        } catch {
            cases.append(Case(name: Self.fetchCase, failure: Self.say(error)))
        }
        if description.has("reset") {
            do {
                let reset = try await secretAnswer("reset", extra: ["secretExpiryDays": .integer(1)])
                var problems: [String] = []
                if reset.secret == current { problems.append("the secret did not change") }
                if let expiresAt = reset.expiresAt, expiresAt <= Date() { problems.append("the new secret has already expired") }
                let fetched = try await secretAnswer("fetch").secret
                if fetched != reset.secret { problems.append("fetch after the reset answered another secret") }
                current = fetched
                cases.append(Case(name: Self.resetCase, failure: problems.isEmpty ? nil : problems.joined(separator: "; ")))
            } catch {
                cases.append(Case(name: Self.resetCase, failure: Self.say(error)))
            }
        }
        if description.has("token") {
            do {
                guard let current else { throw Refused("no secret to mint with: fetch failed") }
                let answer = try await plugin.call(["operation": .string("token"), "entity": .string(entity), "options": .object(options),
                                                    "secret": .string(current)], secrets: known, logger: logger)
                guard case .string(let token)? = answer["token"], !token.isEmpty else { throw Refused("token answered no token (a non-empty string)") }
                known.append(Array(token.utf8))
                guard case .string(let text)? = answer["expiresAt"], let expiresAt = Self.date(text) else {
                    throw Refused("token answered no expiresAt in RFC 3339")
                }
                cases.append(Case(name: Self.tokenCase, failure: expiresAt > Date() ? nil : "the token expires at \(text), not in the future"))
            } catch {
                cases.append(Case(name: Self.tokenCase, failure: Self.say(error)))
            }
            let wrong = "keyward-conformance-wrong-secret-\(UUID().uuidString)"
            do {
                _ = try await plugin.call(["operation": .string("token"), "entity": .string(entity), "options": .object(options),
                                           "secret": .string(wrong)], secrets: known + [Array(wrong.utf8)], logger: logger)
                cases.append(Case(name: Self.wrongSecretCase, failure: "a token was answered for a wrong secret"))
            } catch where error.code == .auth {
                cases.append(Case(name: Self.wrongSecretCase, failure: nil))
            } catch {
                cases.append(Case(name: Self.wrongSecretCase, failure: "expected an auth error, got: \(Self.say(error))"))
            }
        }
        return cases
    }

    // MARK: - requests protocol 1 refuses, and a call that cannot finish

    private func invalidRequestCases(_ plugin: ExternalPlugin) async -> [Case] {
        func expectInvalid(_ name: String, _ body: () async throws -> Void) async -> Case {
            do {
                try await body()
                return Case(name: name, failure: "it answered as if the request were valid")
            } catch let error as ExternalPluginError where error.code == .invalid {
                return Case(name: name, failure: nil)
            } catch {
                return Case(name: name, failure: "expected an invalid error object, got: \(Self.say(error))")
            }
        }
        let badJSON = makePlugin(command: Self.feeding("{\"protocol\": 1, \"operation\": \"describe\",", to: command), timeout: timeout)
        let unknown = await expectInvalid(Self.unknownOperationCase) {
            _ = try await plugin.call(["operation": .string("keyward-conformance-unknown")], logger: logger)
        }
        let otherProtocol = makePlugin(command: Self.feeding("{\"protocol\":2,\"operation\":\"describe\"}", to: command), timeout: timeout)
        return [
            await expectInvalid(Self.badJSONCase) { _ = try await badJSON.call(["operation": .string("describe")], logger: logger) },
            unknown,
            await expectInvalid(Self.otherProtocolCase) { _ = try await otherProtocol.call(["operation": .string("describe")], logger: logger) },
        ]
    }

    /// The plugin with a stdin that never closes: a shell records its process group, starts a
    /// `sleep` that holds a FIFO's writing end open, and replaces itself (`exec`) with the plugin
    /// reading that FIFO, so the plugin is the process the runner waits for. The call cannot
    /// finish: at ``stopTimeout`` the runner sends SIGTERM to the group and waits up to 5 s
    /// before SIGKILL. The plugin must stop on SIGTERM (the call returns well before those 5 s
    /// pass), and no process of its group may be left afterwards.
    private func timeoutCase() async -> Case {
        let tag = UUID().uuidString
        let pidFile = (directory as NSString).appendingPathComponent(".keyward-conformance-group-\(tag)")
        let fifo = (directory as NSString).appendingPathComponent(".keyward-conformance-stdin-\(tag)")
        defer {
            try? FileManager.default.removeItem(atPath: pidFile)
            try? FileManager.default.removeItem(atPath: fifo)
        }
        guard mkfifo(fifo, 0o600) == 0 else {
            return Case(name: Self.timeoutCase, failure: "could not make a FIFO in \(directory)")
        }
        let script = "echo $$ > \"$0\" && fifo=$1 && shift && { sleep 3600 > \"$fifo\" & } && exec \"$@\" < \"$fifo\""
        let plugin = makePlugin(command: ["/bin/sh", "-c", script, pidFile, fifo] + command, timeout: stopTimeout)
        let started = ContinuousClock.now
        do {
            _ = try await plugin.call(["operation": .string("describe")], logger: logger)
            return Case(name: Self.timeoutCase, failure: "the call answered although its stdin was never closed")
        } catch where error.code == .protocolViolation {
            // The runner stopped the call (its message says so at --verbose); now the group.
        } catch {
            return Case(name: Self.timeoutCase, failure: "expected the call to be stopped at its timeout, got: \(Self.say(error))")
        }
        let took = ContinuousClock.now - started
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let group = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), group > 1 else {
            return Case(name: Self.timeoutCase, failure: "the plugin was not started (see its stderr with --verbose)")
        }
        var problems: [String] = []
        if took >= stopTimeout + .seconds(4) {
            problems.append("the plugin did not stop on SIGTERM: the call took \(took.components.seconds) s with a \(stopTimeout.components.seconds) s timeout (SIGKILL came 5 s after SIGTERM)")
        }
        var gone = false
        for _ in 0..<50 {
            if kill(-group, 0) != 0 && errno == ESRCH { gone = true; break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        if !gone {
            kill(-group, SIGKILL)
            problems.append("processes of the plugin's group were still there 5 s after the call returned")
        }
        return Case(name: Self.timeoutCase, failure: problems.isEmpty ? nil : problems.joined(separator: "; "))
    }

    // MARK: - helpers

    private func makePlugin(command: [String], timeout: Duration) -> ExternalPlugin {
        ExternalPlugin(command: command, directory: directory, timeout: timeout, environmentNames: environmentNames,
                       processEnvironment: processEnvironment)
    }

    /// The plugin behind `/bin/sh -c 'printf %s REQUEST | "$@"'`: it reads `request`
    /// (fixed text, never a secret) instead of what the runner writes.
    static func feeding(_ request: String, to command: [String]) -> [String] {
        ["/bin/sh", "-c", "printf '%s' '\(request)' | \"$@\"", "keyward-conformance"] + command
    }

    /// `--option` values as the JSON types the plugin's `describe` declares, as Keyward sends a
    /// configuration entry's options (KeywardExternal's PluginOptions): `integer` a number,
    /// `boolean` `true`/`false`, `duration` (`90s`, `15m`) its whole number of seconds, `list`
    /// comma-separated strings, the others (`secret` given as its value) strings. A value that
    /// does not parse as its kind is sent as a string (the plugin then refuses it).
    public static func jsonValue(_ value: String, kind: ProviderTypeDescriptor.OptionKind?) -> JSONValue {
        switch kind {
        case .integer?: Int(value).map(JSONValue.integer) ?? .string(value)
        case .duration?: (DurationParser.seconds(value).map(Int.init) ?? Int(value)).map(JSONValue.integer) ?? .string(value)
        case .boolean?: ["true": JSONValue.bool(true), "false": .bool(false)][value] ?? .string(value)
        case .list?: .array(value.split(separator: ",", omittingEmptySubsequences: false).map { .string(String($0)) })
        default: .string(value)
        }
    }

    static func jsonOptions(_ options: [String: String], description: ExternalPluginDescription) -> [String: JSONValue] {
        options.reduce(into: [:]) { result, option in result[option.key] = jsonValue(option.value, kind: description.options[option.key]?.kind) }
    }

    /// `NAME=VALUE` split at the first `=`; `nil` when there is none or NAME is empty.
    public static func parseOption(_ text: String) -> (name: String, value: String)? {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { return nil }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    private struct Refused: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func say(_ error: any Error) -> String {
        if let error = error as? ExternalPluginError { return "\(error.code.rawValue): \(error.message)" }
        if let error = error as? Refused { return error.description }
        return (error as? any CategorizedError)?.description ?? "\(type(of: error))"
    }

    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}

import Foundation
import KeywardCore

extension SharedStoreSettings {
    /// The keys of `shared:` this type reads besides the connection keys.
    static let storeKeys = ["mount", "prefix", "leaseTTL"]
    /// The longest `leaseTTL` accepted (1 hour): a holder that dies blocks the entity that long.
    static let maximumLeaseSeconds: Int64 = 3_600

    /// Validates the `shared:` section of type `openbao` (DESIGN.md, "Beyond one machine"):
    /// the connection keys (``OpenBaoServerSettings/parse(options:lines:keyPrefix:directory:)``),
    /// `mount` (default `secret`), `prefix` (required), `leaseTTL` (duration, default 60s, at
    /// least 5s). Paths are `/`-separated segments of `[A-Za-z0-9._@-]`, none `.` or `..`.
    ///
    /// - Throws: ``ConfigurationError`` listing every problem with its key (`shared.prefix`) and
    ///   line; an unknown key is refused.
    public static func parse(_ configuration: SharedStoreConfiguration) throws -> SharedStoreSettings {
        var problems: [ConfigurationError.Problem] = []
        func fail(_ key: String, _ message: String) {
            problems.append(ConfigurationError.Problem(keyPath: "shared.\(key)", line: configuration.optionLines[key] ?? configuration.line,
                                                       column: nil, message: message))
        }
        if configuration.type != "openbao" {
            problems.append(ConfigurationError.Problem(keyPath: "shared.type", line: configuration.optionLines["type"] ?? configuration.line,
                                                       column: nil, message: "unknown type '\(configuration.type)': expected openbao"))
        }
        let known = Set(storeKeys + OpenBaoServerSettings.optionKeys + ["type"])
        for key in configuration.options.keys.sorted() where !known.contains(key) {
            fail(key, "unknown key: expected one of \((storeKeys + OpenBaoServerSettings.optionKeys).sorted().joined(separator: ", "))")
        }

        var mount = "secret"
        if let value = configuration.options["mount"] {
            if let text = value.stringValue, isPath(text) { mount = text } else { fail("mount", "must be a mount path: \(pathRule)") }
        }
        var prefix = ""
        switch configuration.options["prefix"] {
        case nil: fail("prefix", "is required: the path under the mount where Keyward keeps its records (keyward/prod)")
        case let value?:
            if let text = value.stringValue, isPath(text) { prefix = text } else { fail("prefix", "must be a path: \(pathRule)") }
        }
        var leaseTTL = Duration.seconds(60)
        if let value = configuration.options["leaseTTL"] {
            let seconds: Int64? = switch value {
            case .duration(let duration): duration.components.attoseconds == 0 ? duration.components.seconds : nil
            case .string(let text): DurationParser.seconds(text)
            default: nil
            }
            if let seconds, (5...maximumLeaseSeconds).contains(seconds) {
                leaseTTL = .seconds(seconds)
            } else if seconds != nil {
                fail("leaseTTL", "must be between 5s and 1h (a dead holder's lease blocks every host's rotations for that long)")
            } else {
                fail("leaseTTL", "invalid duration: expected \(DurationParser.formDescription), between 5s and 1h")
            }
        }
        if let margin = configuration.resetMargin, leaseTTL <= margin, problems.allSatisfy({ $0.keyPath != "shared.leaseTTL" }) {
            fail("leaseTTL", "must be longer than \(margin.components.seconds)s: a reset is sent only with the longest provider timeout "
                    + "plus 5 s of the lease left (give leaseTTL at least \(margin.components.seconds + 10)s, or shorten the providers' timeout)")
        }

        var server: OpenBaoServerSettings?
        do {
            let connection = configuration.options.filter { OpenBaoServerSettings.optionKeys.contains($0.key) }
            server = try OpenBaoServerSettings.parse(options: connection, lines: configuration.optionLines, keyPrefix: "shared",
                                                     directory: configuration.directory)
        } catch let error as ConfigurationError {
            // A missing connection key has no line of its own: name shared:'s.
            problems += error.problems.map { problem in
                var problem = problem
                problem.line = problem.line ?? configuration.line
                return problem
            }
        }
        guard problems.isEmpty, let server else {
            throw ConfigurationError(file: nil, problems: problems.sorted { ($0.line ?? 0, $0.keyPath) < ($1.line ?? 0, $1.keyPath) })
        }
        return SharedStoreSettings(server: server, mount: mount, prefix: prefix, leaseTTL: leaseTTL)
    }
}

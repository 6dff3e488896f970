import Foundation
import KeywardCore
import Logging

extension OpenBaoKVSink {
    /// The options that name the sink's own connection; without `address`, none may be given
    /// and the `shared:` section's connection is used.
    static let connectionOptions = OpenBaoServerSettings.optionKeys

    /// Registers `openbao-kv` in `registry`.
    public static func register(in registry: inout PluginRegistry) {
        registry.registerSink(descriptor) { configuration, environment in
            try OpenBaoKVSink(configuration: configuration, environment: environment)
        }
    }

    /// Builds the sink from its `sinks.<name>` section: its own connection when it names an
    /// `address`, else the `shared:` section's (``PluginEnvironment/shared``).
    ///
    /// - Throws: ``ConfigurationError`` (exit 2) naming the sink when it names no `address` and
    ///   the configuration has no `shared:` section of type `openbao`, or when the connection's
    ///   settings are invalid; ``OpenBaoError`` (usage) from the client (e.g. an unreadable CA file).
    public init(configuration: SinkConfiguration, environment: PluginEnvironment) throws {
        let sinkPath = "sinks.\(configuration.name)"
        let problems = Self.validate(configuration)
        if !problems.isEmpty {
            throw ConfigurationError(file: nil, problems: problems.map {
                ConfigurationError.Problem(keyPath: Self.keyPath($0.place, sinkPath: sinkPath), line: configuration.line, column: nil, message: $0.message)
            })
        }
        let options = configuration.options
        let server: OpenBaoServerSettings
        if options["address"] != nil {
            server = try Self.parseConnection(options: options.filter { Self.connectionOptions.contains($0.key) }, lines: [:],
                                              keyPrefix: sinkPath, directory: configuration.directory ?? FileManager.default.currentDirectoryPath)
        } else if let shared = environment.shared, shared.type == "openbao" {
            server = try Self.parseConnection(options: shared.options.filter { Self.connectionOptions.contains($0.key) }, lines: shared.optionLines,
                                              keyPrefix: "shared", directory: shared.directory)
        } else {
            throw ConfigurationError(file: nil, problems: [.init(
                keyPath: sinkPath, line: configuration.line, column: nil,
                message: "an openbao-kv sink needs a server: give it `address` and `auth`, or configure a `shared:` section of type openbao whose connection it uses")])
        }
        let client = try OpenBaoClient(settings: server, credentials: environment.credentials,
                                       logger: Logger(label: "keyward.openbao-kv", factory: { _ in SwiftLogNoOpLogHandler() }))
        self.init(name: configuration.name, mount: options["mount"]?.stringValue ?? "", path: options["path"]?.stringValue ?? "",
                  keys: configuration.keys, mode: options["merge"]?.stringValue.flatMap(MergeMode.init(rawValue:)) ?? .merge, client: client)
    }

    /// The section's own rules, checked when the configuration is loaded (so `config check` and
    /// every command refuse it before anything is unlocked or called): `mount` and `path`
    /// present and made of plain segments, key names that `custom_metadata` can record, and the
    /// sink's own connection, when it has one.
    public static func validate(_ configuration: SinkConfiguration) -> [SinkConfigurationProblem] {
        let options = configuration.options
        var problems: [SinkConfigurationProblem] = []
        for (option, what) in [("mount", "the KV v2 mount, e.g. secret"), ("path", "the entry's path under the mount, e.g. apps/payments")] {
            guard let text = options[option]?.stringValue else {
                problems.append(.init(.section, "missing \(option) (\(what))"))
                continue
            }
            if let problem = pathProblem(text) { problems.append(.init(.option(option), problem)) }
        }

        let names: [String] = configuration.keys?.map(\.key) ?? configuration.entities.flatMap { SinkKeys.defaultTemplates(for: $0).map(\.key) }
        for name in names {
            if name.isEmpty {
                problems.append(.init(.outputKey(name), "an empty key cannot be written to an openbao-kv entry"))
            } else if name.contains(",") || name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                problems.append(.init(.outputKey(name), "'\(name)' holds a comma or a control character; an openbao-kv sink records its keys comma-separated in custom_metadata"))
            }
        }
        let recorded = writtenKeysValue(Set(names)).utf8.count
        if recorded > metadataValueLimit {
            problems.append(.init(.section, "its key names take \(recorded) bytes in custom_metadata's \(writtenKeysKey), above the server's limit of \(metadataValueLimit); split the entities over several sinks"))
        }

        let given = connectionOptions.filter { options[$0] != nil }
        if options["address"] == nil {
            for option in given {
                problems.append(.init(.option(option), "\(option) belongs to the sink's own connection, which needs `address` (without it the `shared:` connection is used)"))
            }
        } else {
            do {
                _ = try parseConnection(options: options.filter { connectionOptions.contains($0.key) }, lines: [:], keyPrefix: "",
                                        directory: configuration.directory ?? FileManager.default.currentDirectoryPath)
            } catch let error as ConfigurationError {
                problems += error.problems.map { SinkConfigurationProblem($0.keyPath.isEmpty ? .section : .option($0.keyPath), $0.message) }
            } catch {
                problems.append(.init(.section, (error as? any CategorizedError)?.description ?? "the connection settings are invalid"))
            }
        }
        return problems
    }

    /// Why `text` is not a usable mount or KV path, or `nil`: it must not be empty, start with
    /// `/`, or hold an empty, `.` or `..` segment (a trailing `/` is an empty segment), nor a
    /// control character, `?` or `#` (which would end the URL's path).
    static func pathProblem(_ text: String) -> String? {
        if text.isEmpty { return "must not be empty" }
        if text.hasPrefix("/") { return "'\(text)' must not start with '/'" }
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == "?" || $0 == "#" }) {
            return "'\(text)' must not hold a control character, '?' or '#'"
        }
        for segment in text.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { return "'\(text)' has an empty segment ('//' or a trailing '/')" }
            if segment == "." || segment == ".." { return "'\(text)' has a '\(segment)' segment" }
        }
        return nil
    }

    /// The server settings of a connection section (the sink's own keys or `shared:`'s).
    ///
    /// - Throws: ``ConfigurationError`` naming each key at fault.
    static func parseConnection(options: [String: ConfigurationValue], lines: [String: Int], keyPrefix: String,
                                directory: String) throws -> OpenBaoServerSettings {
        try OpenBaoServerSettings.parse(options: options, lines: lines, keyPrefix: keyPrefix, directory: directory)
    }

    private static func keyPath(_ place: SinkConfigurationProblem.Place, sinkPath: String) -> String {
        switch place {
        case .option(let key): "\(sinkPath).\(key)"
        case .outputKey(let key): "\(sinkPath).keys.\(key)"
        case .entity: "\(sinkPath).entities"
        case .section: sinkPath
        }
    }
}

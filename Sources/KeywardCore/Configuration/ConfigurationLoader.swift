import Foundation
import Yams

/// Reads and validates `keyward.yaml` exactly as DESIGN.md ("Configuration") describes:
/// camelCase keys, unknown keys rejected, durations like `15d`, credentials only as
/// `env:`/`file:`/`vault:` references. A provider or sink section's own options and rules come
/// from its type's descriptor (``ProviderTypeDescriptor``, ``SinkTypeDescriptor``) in the registry.
///
/// Every problem is collected with its key path and line, then thrown together as one
/// ``ConfigurationError`` (exit 2). Loading writes nothing.
public struct ConfigurationLoader: Sendable, CustomStringConvertible {
    /// Never the environment it holds.
    public var description: String { "ConfigurationLoader" }

    /// The plugin types this build provides; a sink `type` outside it is an error.
    public var registry: PluginRegistry
    /// The process environment: `$HOME` for a leading `~` in configured paths.
    public var environment: [String: String]

    public init(registry: PluginRegistry, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.registry = registry
        self.environment = environment
    }

    /// Where the configuration is looked for: `--config PATH`, else `$KEYWARD_CONFIG`, else
    /// `./keyward.yaml`.
    public static func locate(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = environment["KEYWARD_CONFIG"], !fromEnvironment.isEmpty { return fromEnvironment }
        return "keyward.yaml"
    }

    /// Loads the file at `path`.
    ///
    /// - Throws: ``ConfigurationError`` when the file cannot be read or is invalid.
    public func load(path: String) throws -> KeywardConfiguration {
        let url = URL(fileURLWithPath: path)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            let reason = FileManager.default.fileExists(atPath: url.path) ? "cannot be read" : "does not exist"
            throw ConfigurationError(file: path, problems: [
                .init(keyPath: "", line: nil, column: nil, message: "the configuration file \(reason) (give one with --config or KEYWARD_CONFIG)")
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(file: path, problems: [.init(keyPath: "", line: nil, column: nil, message: "the file is not UTF-8 text")])
        }
        return try parse(yaml: text, file: path, directory: url.deletingLastPathComponent().path)
    }

    /// Parses configuration text; relative paths resolve against `directory`.
    ///
    /// - Throws: ``ConfigurationError``.
    public func parse(yaml text: String, file: String? = nil, directory: String) throws -> KeywardConfiguration {
        var reader = Reader(file: file, directory: directory, registry: registry, environment: environment)
        let configuration = reader.read(text)
        guard reader.problems.isEmpty, let configuration else {
            throw ConfigurationError(file: file, problems: reader.problems.sorted { ($0.line ?? 0) < ($1.line ?? 0) })
        }
        return configuration
    }
}

// MARK: - The reader

private struct Reader {
    let file: String?
    let directory: String
    let registry: PluginRegistry
    /// `$HOME`, for a leading `~`; `nil` falls back to the user database.
    let home: String?
    /// The process environment: `PATH` for external plugins, which it is handed to.
    let environment: [String: String]
    /// External providers read, by name: a sink key template that needs an entity token is
    /// checked against the capabilities of its entity's provider.
    var externalProviders: [String: ExternalPluginReference] = [:]
    var problems: [ConfigurationError.Problem] = []
    var warnings: [ConfigurationWarning] = []
    /// Providers read (of a type this build provides), in file order, for their type's rules,
    /// with the options that failed to parse.
    var providerSections: [(provider: ProviderConfiguration, keyNode: Node, map: OrderedMapping, failed: Set<String>)] = []
    /// Entities read without problems, for a provider rule that points at one of their keys.
    var entityMaps: [EntityID: OrderedMapping] = [:]
    /// Whether the file has a `shared:` section (which `openbao:` references read through).
    var hasSharedSection = false
    /// The `shared:` section's node, its keys' nodes and its type, for ``validateShared(_:)``.
    var sharedNodes: (Node, [String: Node], SharedStoreTypeDescriptor)?

    init(file: String?, directory: String, registry: PluginRegistry, environment: [String: String]) {
        self.file = file
        self.directory = directory
        self.registry = registry
        self.home = environment["HOME"]
        self.environment = environment
    }

    mutating func fail(_ path: String, _ node: Node?, _ message: String) {
        problems.append(.init(keyPath: path, line: node?.mark?.line, column: node?.mark?.column, message: message))
    }

    mutating func read(_ text: String) -> KeywardConfiguration? {
        let root: Node?
        do {
            // No tag resolution: the reader looks at each scalar's text and style itself
            // (`integer`, `boolean`, `string`), never at a resolved tag. Yams' default resolver
            // runs up to seven ICU regular expressions on every plain scalar (all of them on
            // every mapping key, for its duplicate check), which for a configuration of
            // thousands of entities cost more than the rest of loading it.
            root = try Yams.compose(yaml: text, Resolver.basic)
        } catch let error as YamlError {
            problems.append(Self.problem(from: error))
            return nil
        } catch {
            problems.append(.init(keyPath: "", line: nil, column: nil, message: "not valid YAML"))
            return nil
        }
        guard let root, let top = mapping(root, "") else {
            if root == nil { fail("", nil, "the file is empty; it needs at least `version: 1`") }
            return nil
        }
        var configuration = KeywardConfiguration(file: file)
        let known = ["version", "vault", "shared", "providers", "entities", "sinks"]
        checkKeys(top, known: known, path: "")

        if let node = top["version"] {
            if let version = integer(node, "version") {
                if version != 1 { fail("version", node, "unsupported version \(version); this build reads version 1") }
            }
        } else {
            fail("version", root, "missing; add `version: 1`")
        }
        hasSharedSection = top["shared"] != nil
        if let node = top["vault"] { configuration.vault = readVault(node) }
        if let node = top["shared"] { configuration.shared = readShared(node) }
        if let node = top["providers"], let map = mapping(node, "providers") {
            for (name, (keyNode, value)) in map.ordered {
                if let provider = readProvider(name: name, keyNode: keyNode, node: value) {
                    configuration.providers[name] = provider
                }
            }
        }
        // Names as written, valid or not, so one broken provider does not also make every
        // entity that relies on it report a missing provider.
        var providerNames: [String] = []
        if case .mapping(let map)? = top["providers"] {
            providerNames = map.keys.compactMap { if case .scalar(let scalar) = $0 { scalar.string } else { nil } }
        }
        if let node = top["entities"], let map = mapping(node, "entities") {
            for (name, (keyNode, value)) in map.ordered {
                guard let id = EntityID(name) else {
                    fail("entities.\(name)", keyNode, "not a valid entity id: \(EntityID.ruleDescription)")
                    continue
                }
                if let entity = readEntity(id: id, node: value, providers: configuration.providers, providerNames: providerNames,
                                           shared: top["shared"] != nil) {
                    configuration.entities[id] = entity
                }
            }
        }
        var entityNames: Set<String> = []
        if case .mapping(let map)? = top["entities"] {
            entityNames = Set(map.keys.compactMap { if case .scalar(let scalar) = $0 { scalar.string } else { nil } })
        }
        if let node = top["sinks"], let map = mapping(node, "sinks") {
            var writers: [String: String] = [:]
            for (name, (keyNode, value)) in map.ordered {
                var written: String?
                let sink = readSink(name: name, keyNode: keyNode, node: value, entities: configuration.entities, entityNames: entityNames,
                                    filePath: &written)
                // Two sinks writing one file would overwrite each other at every sync (checked
                // for a sink with other problems too: every problem is reported at once).
                if let path = written.map({ URL(fileURLWithPath: $0).standardizedFileURL.path }) {
                    if let other = writers[path] {
                        var pathNode: Node?
                        if case .mapping(let fields) = value { pathNode = fields["path"] }
                        fail("sinks.\(name).path", pathNode ?? keyNode, "writes the same file as sink '\(other)' (\(path))")
                        continue
                    }
                    writers[path] = name
                }
                if let sink { configuration.sinks[name] = sink }
            }
        }
        validateProviders(configuration)
        validateShared(&configuration)
        // In file order: a provider's rules about an entity come after the entities are read.
        configuration.warnings = warnings.enumerated().sorted { ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset) }.map(\.element)
        return problems.isEmpty ? configuration : nil
    }

    // MARK: sections

    mutating func readVault(_ node: Node) -> VaultSettings {
        var settings = VaultSettings()
        guard let map = mapping(node, "vault") else { return settings }
        checkKeys(map, known: ["path", "retention", "auditRetention"], path: "vault")
        if let path = map["path"], let text = string(path, "vault.path") {
            settings.path = resolvePath(text)
        }
        if let retention = map["retention"], let value = integer(retention, "vault.retention") {
            if (1...1000).contains(value) { settings.retention = value } else { fail("vault.retention", retention, "must be between 1 and 1000") }
        }
        if let node = map["auditRetention"], let seconds = duration(node, "vault.auditRetention") {
            if (86_400...(36_500 * 86_400)).contains(seconds) {
                settings.auditRetention = .seconds(seconds)
            } else {
                fail("vault.auditRetention", node, "must be between 1d and 36500d")
            }
        }
        return settings
    }

    /// Reads a provider section: its `type` and each option its type declares, parsed to its
    /// kind. The type's own rules run later (``validateProviders(_:)``), once the whole
    /// configuration is known. `nil` when the section has problems already.
    mutating func readProvider(name: String, keyNode: Node, node: Node) -> ProviderConfiguration? {
        let path = "providers.\(name)"
        guard Self.isPlainName(name) else {
            fail(path, keyNode, "provider names use letters, digits, '.', '_' and '-' (it becomes part of vault entry names)")
            return nil
        }
        guard let map = mapping(node, path) else { return nil }
        if case .scalar(let scalar)? = map["type"], isExternal(scalar.string, kind: .provider), let typeNode = map["type"] {
            return readExternalProvider(name: name, keyNode: keyNode, typeNode: typeNode, map: map)
        }
        // The declared options decide the known keys; for a type this build lacks, only the
        // type is reported.
        var type = registry.defaultProviderType
        var descriptor = type.flatMap { registry.providerDescriptor(type: $0) }
        if case .scalar(let scalar)? = map["type"] {
            type = scalar.string
            descriptor = registry.providerDescriptor(type: scalar.string)
        }
        if let declared = descriptor?.options {
            checkKeys(map, known: ["type"] + declared.map(\.name), path: path)
        }
        let start = problems.count
        if let node = map["type"] {
            if let text = string(node, "\(path).type"), !registry.providerTypes.contains(text) {
                fail("\(path).type", node, "provider type '\(text)' is not provided by this build (available: \(registry.providerTypes.joined(separator: ", ")))")
            }
        } else if type == nil {
            fail("\(path).type", node, "missing: one of \(registry.providerTypes.joined(separator: ", "))")
        }
        guard let type, let descriptor else { return nil }
        var options: [String: ConfigurationValue] = [:]
        var lines: [String: Int] = [:]
        var failed: Set<String> = []
        if let declared = descriptor.options {
            for option in declared {
                guard let node = map[option.name] else { continue }
                lines[option.name] = map.keyNode(option.name)?.mark?.line
                if let value = providerOption(node, kind: option.kind, path: "\(path).\(option.name)") {
                    options[option.name] = value
                } else {
                    failed.insert(option.name)
                }
            }
        } else {
            for (key, (keyNode, value)) in map.ordered where key != "type" {
                lines[key] = keyNode.mark?.line
                options[key] = Self.raw(value)
            }
        }
        let provider = ProviderConfiguration(name: name, type: type, options: options, optionLines: lines, line: keyNode.mark?.line)
        // Its type's rules run even when an option failed to parse, so that every problem of
        // the file is reported at once; only what those failures make meaningless is left out.
        providerSections.append((provider, keyNode, map, failed))
        return problems.count == start ? provider : nil
    }

    /// Runs each read provider's type rules (``ProviderTypeDescriptor/validate``) with the
    /// whole configuration, in file order, and reports what they find at the key's line.
    mutating func validateProviders(_ configuration: KeywardConfiguration) {
        for (provider, keyNode, map, failed) in providerSections {
            guard let descriptor = registry.providerDescriptor(type: provider.type) else { continue }
            let path = "providers.\(provider.name)"
            // Grouped by key in the declared order, as the section reads.
            let order = descriptor.options?.map(\.name) ?? []
            let found = descriptor.validate(provider, configuration)
            let sorted = found.enumerated().sorted { a, b in
                func rank(_ problem: ProviderConfigurationProblem) -> Int {
                    if case .option(let key) = problem.place { return order.firstIndex(of: key) ?? order.count }
                    return order.count + 1
                }
                return (rank(a.element), a.offset) < (rank(b.element), b.offset)
            }.map(\.element)
            for problem in sorted {
                if case .option(let key) = problem.place, failed.contains(key) { continue }
                if !failed.isEmpty, problem.place == .section { continue }
                let keyPath: String
                let node: Node?
                switch problem.place {
                case .option(let key):
                    keyPath = "\(path).\(key)"
                    node = map[key] ?? map.node
                case .entity(let id, let key):
                    keyPath = "entities.\(id).\(key)"
                    node = entityMaps[id].flatMap { $0[key] ?? $0.node } ?? keyNode
                case .section:
                    keyPath = path
                    node = keyNode
                }
                switch problem.severity {
                case .error: fail(keyPath, node, problem.message)
                case .warning: warnings.append(.init(keyPath: keyPath, line: node?.mark?.line, message: problem.message))
                }
            }
        }
    }

    /// A value kept as written, for a provider type that checks nothing.
    static func raw(_ node: Node) -> ConfigurationValue {
        switch node {
        case .scalar(let scalar): .string(scalar.string)
        case .sequence(let sequence): .list(sequence.map(raw))
        case .mapping(let mapping):
            .map(Dictionary(mapping.compactMap { key, value in
                if case .scalar(let scalar) = key { (scalar.string, raw(value)) } else { nil }
            }, uniquingKeysWith: { first, _ in first }))
        case .alias: .string("")
        }
    }

    mutating func providerOption(_ node: Node, kind: ProviderTypeDescriptor.OptionKind, path: String) -> ConfigurationValue? {
        switch kind {
        case .string: return string(node, path).map(ConfigurationValue.string)
        case .integer: return integer(node, path).map(ConfigurationValue.integer)
        case .boolean: return option(node, kind: .boolean, path: path)
        case .duration: return duration(node, path).map { ConfigurationValue.duration(.seconds($0)) }
        case .credential: return reference(node, path).map(ConfigurationValue.credential)
        case .list:
            guard case .sequence(let sequence) = node else {
                fail(path, node, "expected a list, e.g. [a, b]")
                return nil
            }
            let items = sequence.compactMap { string($0, path) }
            return items.count == sequence.count ? .list(items.map(ConfigurationValue.string)) : nil
        }
    }

    /// - Parameter shared: whether the configuration has a `shared:` section (which
    ///   `secretSource: shared` needs).
    mutating func readEntity(id: EntityID, node: Node, providers: [String: ProviderConfiguration], providerNames: [String],
                             shared: Bool) -> EntityConfiguration? {
        let path = "entities.\(id)"
        guard let map = mapping(node, path) else { return nil }
        checkKeys(map, known: ["provider", "secretExpiryDays", "rotateBefore", "tokenRefreshBefore", "secretSource"], path: path)
        let start = problems.count
        var source = SecretSource.service
        if let node = map["secretSource"], let text = string(node, "\(path).secretSource") {
            if let value = SecretSource(rawValue: text) {
                if value == .shared, !shared {
                    fail("\(path).secretSource", node, "'shared' needs a `shared:` section (DESIGN.md, \"Beyond one machine\")")
                }
                source = value
            } else {
                fail("\(path).secretSource", node, "'\(text)' is not one of service, shared")
            }
        }
        var provider: String?
        if let node = map["provider"] {
            if let name = string(node, "\(path).provider") {
                if providers[name] == nil, providerNames.contains(name) {
                    // The provider is there but broken; its own errors say why.
                } else if providers[name] == nil {
                    let known = providers.keys.sorted()
                    fail("\(path).provider", node, "unknown provider '\(name)'" + (known.isEmpty ? " (no providers are configured)" : " (configured: \(known.joined(separator: ", ")))"))
                } else {
                    provider = name
                }
            }
        } else if providerNames.count == 1, let only = providerNames.first {
            if providers[only] != nil { provider = only }
        } else {
            fail("\(path).provider", node, "missing: name one of the configured providers")
        }
        var expiryDays: Int?
        if let node = map["secretExpiryDays"], let days = integer(node, "\(path).secretExpiryDays") {
            if days <= 0 {
                fail("\(path).secretExpiryDays", node, "must be a positive number of days")
            } else {
                expiryDays = days
            }
        }
        // The provider's type, also for a provider with problems of its own (its rules still
        // apply to this entity): what its resets grant and how long its tokens live. What it
        // says of an asked validity it will not grant, its descriptor reports.
        let written: String? = if case .scalar(let scalar)? = map["provider"] { scalar.string } else { providerNames.count == 1 ? providerNames.first : nil }
        let descriptor = written.flatMap { name in providerSections.first { $0.provider.name == name } }
            .flatMap { registry.providerDescriptor(type: $0.provider.type) }
        let grantedDays = descriptor.map { $0.secretValidity.grantedDays(asked: expiryDays) } ?? expiryDays
        var rotateBefore: Int64 = 15 * 86_400
        if let node = map["rotateBefore"], let seconds = duration(node, "\(path).rotateBefore") { rotateBefore = seconds }
        var refreshBefore: Int64 = 600
        if let node = map["tokenRefreshBefore"], let seconds = duration(node, "\(path).tokenRefreshBefore") {
            if let lifetime = descriptor?.accessTokenLifetime, seconds >= lifetime.components.seconds {
                let hours = lifetime.components.seconds / 3_600
                let shown = hours * 3_600 == lifetime.components.seconds ? "\(hours) h" : DurationParser.format(seconds: lifetime.components.seconds)
                fail("\(path).tokenRefreshBefore", node, "must be shorter than an entity token's \(shown) lifetime")
            } else {
                refreshBefore = seconds
            }
        }
        // Only a window the user wrote, for a validity the user asked, is worth a warning; the
        // default is capped silently.
        if map["rotateBefore"] != nil, expiryDays != nil, let days = grantedDays, rotateBefore * 3 > Int64(days) * 86_400 {
            let third = Double(days) / 3
            let shown = third == third.rounded() ? "\(Int(third))d" : String(format: "%.1f days", third)
            warnings.append(.init(keyPath: "\(path).rotateBefore", line: map["rotateBefore"]?.mark?.line,
                                  message: "longer than a third of the \(days)-day lifetime; a third (\(shown)) is used"))
        }
        guard problems.count == start, let provider else { return nil }
        entityMaps[id] = map
        return EntityConfiguration(id: id, provider: provider, secretExpiryDays: expiryDays, grantedValidityDays: grantedDays,
                                   rotateBefore: .seconds(rotateBefore), tokenRefreshBefore: .seconds(refreshBefore), secretSource: source)
    }

    /// Reads the `shared:` section: its `type`, every other key kept as YAML gave it (a string
    /// that is a credential reference, `env:`/`file:`/`vault:`, is checked and kept as one),
    /// then the type's own rules, each problem on its key's line.
    mutating func readShared(_ node: Node) -> SharedStoreConfiguration? {
        guard let map = mapping(node, "shared") else { return nil }
        let start = problems.count
        guard let typeNode = map["type"] else {
            fail("shared.type", node, "missing: one of \(registry.sharedStoreTypes.joined(separator: ", "))")
            return nil
        }
        guard let type = string(typeNode, "shared.type") else { return nil }
        guard let descriptor = registry.sharedStoreDescriptor(type: type) else {
            let available = registry.sharedStoreTypes.isEmpty ? "none" : registry.sharedStoreTypes.joined(separator: ", ")
            fail("shared.type", typeNode, "shared store type '\(type)' is not provided by this build (available: \(available))")
            return nil
        }
        var lines: [String: Int] = [:]
        var nodes: [String: Node] = [:]
        var options: [String: ConfigurationValue] = [:]
        for (key, (keyNode, value)) in map.ordered where key != "type" {
            lines[key] = keyNode.mark?.line
            nodes[key] = keyNode
            if let converted = plainValue(value, path: "shared.\(key)", key: key, lines: &lines, nodes: &nodes) { options[key] = converted }
        }
        guard problems.count == start else { return nil }
        sharedNodes = (node, nodes, descriptor)
        return SharedStoreConfiguration(type: type, options: options, optionLines: lines, line: node.mark?.line, directory: directory)
    }

    /// The `shared:` type's own rules, once the providers are known (a lease must outlast the
    /// longest provider timeout plus 5 s, the fence before a reset), each problem on its key's line.
    mutating func validateShared(_ configuration: inout KeywardConfiguration) {
        guard var shared = configuration.shared, let (node, nodes, descriptor) = sharedNodes else { return }
        let longest = configuration.providers.values.map { registry.providerSettings($0).callTimeout }.max()
        shared.resetMargin = longest.map { $0 + .seconds(5) }
        configuration.shared = shared
        let start = problems.count
        for problem in descriptor.validate(shared) {
            fail(problem.key.isEmpty ? "shared" : "shared.\(problem.key)", problem.key.isEmpty ? node : nodes[problem.key] ?? node, problem.message)
        }
        if problems.count != start { configuration.shared = nil }
    }

    /// A YAML value as a ``ConfigurationValue``: maps and lists keep their shape (each nested key's
    /// line recorded as `a.b`), `true`/`false` and whole numbers are typed, a credential reference
    /// is parsed (and a `file:` one checked), every other scalar is a string.
    mutating func plainValue(_ node: Node, path: String, key: String, lines: inout [String: Int], nodes: inout [String: Node]) -> ConfigurationValue? {
        switch node {
        case .mapping:
            guard let map = mapping(node, path) else { return nil }
            var result: [String: ConfigurationValue] = [:]
            for (child, (keyNode, value)) in map.ordered {
                lines["\(key).\(child)"] = keyNode.mark?.line
                nodes["\(key).\(child)"] = keyNode
                if let converted = plainValue(value, path: "\(path).\(child)", key: "\(key).\(child)", lines: &lines, nodes: &nodes) {
                    result[child] = converted
                }
            }
            return .map(result)
        case .sequence(let sequence):
            var result: [ConfigurationValue] = []
            for (index, element) in sequence.enumerated() {
                if let converted = plainValue(element, path: "\(path)[\(index)]", key: "\(key)[\(index)]", lines: &lines, nodes: &nodes) {
                    result.append(converted)
                }
            }
            return .list(result)
        case .scalar(let scalar):
            if scalar.style == .plain, let flag = Bool(scalar.string) { return .boolean(flag) }
            if scalar.style == .plain, let number = Int(scalar.string) { return .integer(number) }
            let text = scalar.string
            if text.hasPrefix("env:") || text.hasPrefix("file:") || text.hasPrefix("vault:")
                || registry.sharedStoreTypes.contains(where: { text.hasPrefix($0 + ":") }) {
                return reference(node, path).map(ConfigurationValue.credential)
            }
            return string(node, path).map(ConfigurationValue.string)
        default:
            fail(path, node, "aliases are not supported here")
            return nil
        }
    }

    /// - Parameter written: set to the file the sink writes, as soon as its `path` is read,
    ///   even when the sink has other problems.
    mutating func readSink(name: String, keyNode: Node, node: Node, entities: [EntityID: EntityConfiguration], entityNames: Set<String>,
                           filePath written: inout String?) -> SinkConfiguration? {
        let path = "sinks.\(name)"
        guard Self.isPlainName(name) else {
            fail(path, keyNode, "sink names use letters, digits, '.', '_' and '-'")
            return nil
        }
        guard let map = mapping(node, path) else { return nil }
        let start = problems.count
        guard let typeNode = map["type"] else {
            fail("\(path).type", node, "missing: one of \(registry.sinkTypes.joined(separator: ", "))")
            return nil
        }
        guard let type = string(typeNode, "\(path).type") else { return nil }
        // An external sink (DESIGN.md, "Plugins"): its command, `timeout` and `env`, then its
        // plugin's own options (which may include a `path` of its own: Keyward writes no file
        // for it, so `mode` and `allowGroupRead` are not common keys either).
        let external = isExternal(type, kind: .sink)
        var externalEntry: (reference: ExternalPluginReference, options: [String: ConfigurationValue], lines: [String: Int])?
        let descriptor: SinkTypeDescriptor
        if external {
            descriptor = SinkTypeDescriptor(type: type, writesFile: false)
            externalEntry = readExternal(kind: .sink, path: path, type: type, typeNode: typeNode, keyNode: keyNode, map: map,
                                         commonKeys: Self.externalSinkKeys)
        } else if let builtIn = registry.sinkDescriptor(type: type) {
            descriptor = builtIn
            let shared = ["type", "path", "entities", "onChange", "onChangeTimeout", "keys", "mode", "allowGroupRead"]
            checkKeys(map, known: shared + descriptor.options.keys.sorted(), path: path)
        } else {
            let available = registry.sinkTypes.isEmpty ? "none" : registry.sinkTypes.joined(separator: ", ")
            fail("\(path).type", typeNode, "sink type '\(type)' is not provided by this build (available: \(available))")
            return nil
        }

        var filePath: String?
        if !external, let node = map["path"] {
            if descriptor.writesFile {
                if let text = string(node, "\(path).path") {
                    if text.isEmpty { fail("\(path).path", node, "must not be empty") } else { filePath = resolvePath(text) }
                    written = filePath
                }
            } else if descriptor.options["path"] == nil {
                fail("\(path).path", node, "a \(type) sink writes no file")
            }
        } else if descriptor.writesFile {
            fail("\(path).path", node, "missing: the file this sink writes")
        }

        var sinkEntities: [EntityID] = []
        // Where each entity is listed, for its line; also the duplicate check, in constant
        // time per item (a sink may list tens of thousands).
        var entityNodes: [EntityID: Node] = [:]
        if let node = map["entities"] {
            if case .sequence(let sequence) = node {
                sinkEntities.reserveCapacity(sequence.count)
                entityNodes.reserveCapacity(sequence.count)
                for item in sequence {
                    guard let text = string(item, "\(path).entities") else { continue }
                    guard let id = EntityID(text), entities[id] != nil else {
                        // An entity that is there but broken has its own errors; don't add one.
                        if !entityNames.contains(text) { fail("\(path).entities", item, "unknown entity '\(text)' (not under `entities:`)") }
                        continue
                    }
                    if entityNodes[id] != nil {
                        fail("\(path).entities", item, "'\(text)' is listed twice")
                    } else {
                        entityNodes[id] = item
                        sinkEntities.append(id)
                    }
                }
                if sequence.isEmpty { fail("\(path).entities", node, "must list at least one entity") }
            } else {
                fail("\(path).entities", node, "expected a list of entity ids, e.g. [FIU-EXAMPLE-1]")
            }
        } else {
            fail("\(path).entities", node, "missing: the entities this sink receives")
        }

        var onChange: [String]?
        if let node = map["onChange"] {
            if case .sequence(let sequence) = node, !sequence.isEmpty {
                onChange = sequence.compactMap { string($0, "\(path).onChange") }
            } else {
                fail("\(path).onChange", node, "expected a command as a non-empty list (argv form, no shell), e.g. [systemctl, reload, app]")
            }
        }
        var onChangeTimeout = HookRunner.defaultTimeout.components.seconds
        if let node = map["onChangeTimeout"], let seconds = duration(node, "\(path).onChangeTimeout") {
            if map["onChange"] == nil {
                fail("\(path).onChangeTimeout", node, "there is no onChange command to time out")
            } else if seconds < 1 || seconds > 3_600 {
                fail("\(path).onChangeTimeout", node, "expected between 1s and 1h")
            } else {
                onChangeTimeout = seconds
            }
        }

        var keys: [(key: String, template: KeyTemplate)]?
        var keyNodes: [String: Node] = [:]
        if let node = map["keys"], let keyMap = mapping(node, "\(path).keys") {
            var parsed: [(key: String, template: KeyTemplate)] = []
            for (key, (keyNode, value)) in keyMap.ordered {
                keyNodes[key] = keyNode
                guard let text = string(value, "\(path).keys.\(key)") else { continue }
                do {
                    parsed.append((key, try KeyTemplate(parsing: text)))
                } catch {
                    fail("\(path).keys.\(key)", value, error.message)
                }
            }
            if parsed.isEmpty && keyMap.ordered.isEmpty { fail("\(path).keys", node, "must name at least one key") }
            if sinkEntities.count > 1 {
                fail("\(path).keys", node, "a custom key map serves one entity, but this sink lists \(sinkEntities.count); their keys would collide (use one sink per entity, or the default names)")
            }
            keys = parsed
            checkTokenTemplates(parsed, sinkEntities: sinkEntities, entities: entities, keyNodes: keyNodes, path: path)
        } else if sinkEntities.count > 1 {
            var seen: [String: EntityID] = [:]
            for id in sinkEntities {
                let prefix = id.environmentPrefix
                if let other = seen[prefix] {
                    fail("\(path).entities", map["entities"], "entities '\(other)' and '\(id)' give the same default key names (\(prefix)_SECRET …)")
                }
                seen[prefix] = id
            }
        }

        // DESIGN.md, "Files and defaults": written secret files are 0600; a mode that lets group
        // or others read needs `allowGroupRead: true`, and none may let them write.
        var allowGroupRead = false
        if !external, let node = map["allowGroupRead"] {
            if case .boolean(let value)? = option(node, kind: .boolean, path: "\(path).allowGroupRead") { allowGroupRead = value }
        }
        var mode: UInt16 = 0o600
        if !external, let node = map["mode"], let text = string(node, "\(path).mode") {
            if let value = UInt16(text, radix: 8), text.count <= 4, value & ~0o666 == 0, value & 0o600 == 0o600 {
                if value & 0o022 != 0 {
                    fail("\(path).mode", node, "\"\(text)\" lets group or others write the secret file; use \"0600\" (or \"0640\" with allowGroupRead: true)")
                } else if value & 0o044 != 0 && !allowGroupRead {
                    fail("\(path).mode", node, "\"\(text)\" lets group or others read the secret file; use \"0600\", or add `allowGroupRead: true` to this sink if that is meant")
                } else {
                    mode = value
                }
            } else {
                fail("\(path).mode", node, "expected an octal file mode such as \"0600\" or \"0640\" (owner read+write, no execute bits)")
            }
        }

        var options: [String: ConfigurationValue] = externalEntry?.options ?? [:]
        for (key, kind) in descriptor.options {
            guard let node = map[key] else { continue }
            if let value = option(node, kind: kind, path: "\(path).\(key)") { options[key] = value }
        }
        var sink = SinkConfiguration(name: name, type: type, path: filePath, entities: sinkEntities, onChange: onChange,
                                     onChangeTimeout: .seconds(onChangeTimeout), keys: keys, mode: mode, allowGroupRead: allowGroupRead, options: options, line: keyNode.mark?.line,
                                     directory: directory)
        sink.external = externalEntry?.reference
        // The type's own rules (Kubernetes names, the key names a format can carry): checked
        // here, so every command refuses the section before it unlocks or calls anything.
        // Checked even when the generic checks failed, so that every problem of the file is
        // reported at once; only what those failures make meaningless is left out.
        let failed = Set(problems[start...].map(\.keyPath))
        for problem in descriptor.validate(sink) where !Self.follows(from: failed, place: problem.place, sinkPath: path) {
            switch problem.place {
            case .option(let key):
                let top = key.split(separator: ".", maxSplits: 1).first.map(String.init) ?? key
                var node = map[top]
                if top != key, let parent = node, case .mapping(let entries) = parent {
                    let rest = String(key.dropFirst(top.count + 1))
                    node = entries.first { if case .scalar(let scalar) = $0.key { scalar.string == rest } else { false } }?.key ?? parent
                }
                fail("\(path).\(key)", node ?? keyNode, problem.message)
            case .outputKey(let key):
                fail("\(path).keys.\(key.isEmpty ? "\"\"" : key)", keyNodes[key] ?? map["keys"] ?? keyNode, problem.message)
            case .entity(let id):
                fail("\(path).entities", entityNodes[id] ?? map["entities"] ?? keyNode, problem.message)
            case .section:
                fail(path, keyNode, problem.message)
            }
        }
        guard problems.count == start else { return nil }
        return sink
    }

    /// Whether a type's validation problem at `place` may be a consequence of the sink's
    /// generic problems (the key paths in `failed`), when some failed: an option or key that
    /// did not parse is missing from what the type sees (a section-level "missing name"), and
    /// a key list with a broken entry can look like one lacking a required key.
    static func follows(from failed: Set<String>, place: SinkConfigurationProblem.Place, sinkPath: String) -> Bool {
        guard !failed.isEmpty else { return false }
        let keysOrEntitiesFailed = failed.contains { $0.hasPrefix("\(sinkPath).keys") || $0.hasPrefix("\(sinkPath).entities") }
        switch place {
        case .section:
            return true
        case .option(let key):
            let top = key.split(separator: ".", maxSplits: 1).first.map(String.init) ?? key
            return failed.contains("\(sinkPath).\(top)") || failed.contains("\(sinkPath).\(key)") || (top == "secretType" && keysOrEntitiesFailed)
        case .outputKey(let key):
            return failed.contains("\(sinkPath).keys.\(key)")
        case .entity:
            return false
        }
    }

    mutating func option(_ node: Node, kind: SinkTypeDescriptor.OptionKind, path: String) -> ConfigurationValue? {
        switch kind {
        case .string:
            return string(node, path).map(ConfigurationValue.string)
        case .choice(let choices):
            guard let text = string(node, path) else { return nil }
            guard choices.contains(text) else {
                fail(path, node, "'\(text)' is not one of \(choices.joined(separator: ", "))")
                return nil
            }
            return .string(text)
        case .boolean:
            guard case .scalar(let scalar) = node, scalar.style == .plain, let value = Bool(scalar.string) else {
                fail(path, node, "expected true or false")
                return nil
            }
            return .boolean(value)
        case .integer:
            return integer(node, path).map(ConfigurationValue.integer)
        case .stringMap:
            guard let map = mapping(node, path) else { return nil }
            var result: [String: ConfigurationValue] = [:]
            for (key, (_, value)) in map.ordered {
                if let text = string(value, "\(path).\(key)") { result[key] = .string(text) }
            }
            return .map(result)
        case .map:
            guard mapping(node, path) != nil else { return nil }
            return Self.raw(node)
        }
    }

    // MARK: scalars

    mutating func mapping(_ node: Node, _ path: String) -> OrderedMapping? {
        guard case .mapping(let mapping) = node else {
            fail(path, node, "expected a mapping of keys to values")
            return nil
        }
        var ordered: [(String, (Node, Node))] = []
        var seen: Set<String> = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                fail(path, key, "keys must be plain strings")
                continue
            }
            let child = path.isEmpty ? scalar.string : "\(path).\(scalar.string)"
            if !seen.insert(scalar.string).inserted {
                fail(child, key, "duplicate key")
                continue
            }
            ordered.append((scalar.string, (key, value)))
        }
        return OrderedMapping(ordered: ordered, node: node)
    }

    mutating func checkKeys(_ map: OrderedMapping, known: [String], path: String) {
        for (key, (keyNode, _)) in map.ordered where !known.contains(key) {
            let child = path.isEmpty ? key : "\(path).\(key)"
            let hint = known.first { $0.lowercased() == key.lowercased() || $0.lowercased() == key.replacingOccurrences(of: "_", with: "").lowercased() }
            let suggestion = hint.map { " (did you mean '\($0)'?)" } ?? " (known keys: \(known.joined(separator: ", ")))"
            fail(child, keyNode, "unknown key\(suggestion)")
        }
    }

    mutating func string(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let scalar) = node else {
            fail(path, node, "expected a single value, not a list or mapping")
            return nil
        }
        if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
            fail(path, node, "missing value")
            return nil
        }
        return scalar.string
    }

    mutating func integer(_ node: Node, _ path: String) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = Int(scalar.string) else {
            fail(path, node, "expected a whole number")
            return nil
        }
        return value
    }

    mutating func duration(_ node: Node, _ path: String) -> Int64? {
        guard let text = string(node, path) else { return nil }
        guard let seconds = DurationParser.seconds(text) else {
            fail(path, node, "invalid duration '\(text)': expected \(DurationParser.formDescription)")
            return nil
        }
        return seconds
    }

    mutating func reference(_ node: Node, _ path: String) -> CredentialReference? {
        guard let text = string(node, path) else { return nil }
        do {
            if let reference = try CredentialReference.parseLocal(text, resolvePath: resolvePath) { return reference }
        } catch {
            fail(path, node, error.message)
            return nil
        }
        if let colon = text.firstIndex(of: ":"), registry.sharedStoreTypes.contains(String(text[..<colon])) {
            let type = String(text[..<colon])
            // The shared store's own login cannot come from the store (DESIGN.md).
            guard !path.hasPrefix("shared.") else {
                fail(path, node, "the shared store's own credentials cannot be read from it: use env:, file: or vault:")
                return nil
            }
            guard hasSharedSection else {
                fail(path, node, "\(type): references read through the `shared:` section, and there is none")
                return nil
            }
            guard let location = CredentialReference.sharedLocation(String(text[text.index(after: colon)...])) else {
                fail(path, node, "\(type): needs MOUNT/PATH#KEY (segments of letters, digits, '.', '_' and '-', never '.' or '..')")
                return nil
            }
            return .shared(type: type, mount: location.mount, path: location.path, key: location.key)
        }
        // Never echo the value: it may be the password itself.
        fail(path, node, "must be \(CredentialReference.formDescription); a literal password is not accepted in the configuration")
        return nil
    }

    func resolvePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        if path == "~" || path.hasPrefix("~/") {
            // `$HOME`, as a shell expands `~`; the user database only when it is unset.
            let home = self.home.flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.homeDirectoryForCurrentUser.path
            return URL(fileURLWithPath: home + path.dropFirst()).standardizedFileURL.path
        }
        return URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: directory, isDirectory: true)).standardizedFileURL.path
    }

    static func isPlainName(_ name: String) -> Bool {
        guard let segment = SecretName(name), segment.segments.count == 1 else { return false }
        return !name.contains("@") && !name.contains("+")
    }

    static func problem(from error: YamlError) -> ConfigurationError.Problem {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return .init(keyPath: "", line: mark.line, column: mark.column, message: "not valid YAML: \(problem)")
        case .composer(_, let problem, let mark, _):
            return .init(keyPath: "", line: mark.line, column: mark.column, message: "not valid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams names the first of the duplicated keys in its sort order, which is a total
            // order only for distinct plain-text keys: for keys that are mappings or sequences
            // (named "<uncovertable>"), or one text under two tags, it picked one of them by
            // hash order, so the same file gave line 9 on one run and line 10 on the next
            // (found by Fuzz/fuzz-configuration). Those are reported without a line.
            guard !duplicates.contains("<uncovertable>"), Set(duplicates).count == duplicates.count else {
                return .init(keyPath: "", line: nil, column: nil,
                             message: "not valid YAML: a mapping holds the same key twice, and the key is not plain text (keyward.yaml's keys are plain text)")
            }
            return .init(keyPath: duplicates.sorted().joined(separator: ", "), line: context.mark.line, column: context.mark.column,
                         message: "duplicate key in this mapping")
        default:
            return .init(keyPath: "", line: nil, column: nil, message: "not valid YAML")
        }
    }
}

/// A YAML mapping with its keys in file order and the key nodes kept for line numbers.
private struct OrderedMapping {
    var ordered: [(String, (Node, Node))]
    /// The mapping itself, for a problem about a key it lacks.
    var node: Node

    /// The node of `key` itself (its line is the key's).
    func keyNode(_ key: String) -> Node? {
        ordered.first { $0.0 == key }?.1.0
    }

    subscript(key: String) -> Node? {
        ordered.first { $0.0 == key }?.1.1
    }
}

// MARK: - External plugins (DESIGN.md, "Plugins")

extension Reader {
    /// The keys of an external provider entry besides its plugin's own options.
    static let externalProviderKeys = ["type", "command", "timeout", "env"]
    /// The keys of an external sink entry besides its plugin's own options: Keyward writes no
    /// file for it, so `path`, `mode` and `allowGroupRead` are not among them (a plugin may
    /// declare a `path` of its own).
    static let externalSinkKeys = ["type", "command", "timeout", "env", "entities", "keys", "onChange", "onChangeTimeout"]
    /// The bounds of an external entry's `timeout` (one call, `describe` included), in seconds:
    /// 1 s to 1 h, like `onChangeTimeout`.
    static let externalTimeoutRange: ClosedRange<Int64> = 1...3_600

    /// Whether an entry of `kind` with `type` is an external plugin: `type: external`, or a
    /// type no registered plugin claims, when this build resolves external plugins.
    func isExternal(_ type: String, kind: PluginKind) -> Bool {
        guard registry.externalPlugins != nil else { return false }
        if type == "external" { return true }
        switch kind {
        case .sink: return registry.sinkDescriptor(type: type) == nil
        case .provider: return registry.providerDescriptor(type: type) == nil
        }
    }

    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "_" }
    }

    /// Reads an external provider entry (``readExternal``).
    mutating func readExternalProvider(name: String, keyNode: Node, typeNode: Node, map: OrderedMapping) -> ProviderConfiguration? {
        let path = "providers.\(name)"
        let start = problems.count
        guard let type = string(typeNode, "\(path).type"),
            let entry = readExternal(kind: .provider, path: path, type: type, typeNode: typeNode, keyNode: keyNode, map: map,
                                     commonKeys: Self.externalProviderKeys)
        else { return nil }
        var provider = ProviderConfiguration(name: name, type: type, options: entry.options, optionLines: entry.lines, line: keyNode.mark?.line)
        provider.external = entry.reference
        provider.directory = directory
        guard problems.count == start else { return nil }
        externalProviders[name] = entry.reference
        return provider
    }

    /// Reads the common keys of an external entry (`command`, `timeout`, `env`), resolves the
    /// plugin through ``PluginRegistry/externalPlugins`` (which finds it, checks who may write
    /// it and calls its `describe`), then reads each option the plugin declares, by its kind,
    /// and refuses keys it does not declare and required options that are missing, each on
    /// its key's line. `nil` when the plugin could not be resolved (the problem is recorded).
    mutating func readExternal(kind: PluginKind, path: String, type: String, typeNode: Node, keyNode: Node, map: OrderedMapping,
                               commonKeys: [String]) -> (reference: ExternalPluginReference, options: [String: ConfigurationValue], lines: [String: Int])? {
        guard let resolver = registry.externalPlugins else { return nil }
        let isCommand = type == "external"
        var command: [String]?
        var commandUsable = true
        if let node = map["command"] {
            if !isCommand {
                fail("\(path).command", map.keyNode("command") ?? node,
                     "only a `type: external` entry takes a command; type '\(type)' runs keyward-\(kind.rawValue)-\(type) found on PATH")
            } else if case .sequence(let sequence) = node, !sequence.isEmpty {
                let items = sequence.compactMap { string($0, "\(path).command") }
                if items.count != sequence.count {
                    commandUsable = false
                } else if items[0].isEmpty {
                    fail("\(path).command", sequence[0], "the program (the first item) must not be empty")
                    commandUsable = false
                } else {
                    command = items
                }
            } else {
                fail("\(path).command", node, "expected a command as a non-empty list (argv form, no shell), e.g. [./plugins/my-plugin, --flag]")
                commandUsable = false
            }
        } else if isCommand {
            fail("\(path).command", keyNode, "missing: a `type: external` entry needs `command:`, the plugin as a list (argv form, no shell), e.g. [./plugins/my-plugin]")
            commandUsable = false
        }

        var timeout = ExternalPluginReference.defaultTimeout
        if let node = map["timeout"], let seconds = duration(node, "\(path).timeout") {
            if Self.externalTimeoutRange.contains(seconds) {
                timeout = .seconds(seconds)
            } else {
                fail("\(path).timeout", node, "expected between 1s and 1h")
            }
        }

        var names: [String] = []
        if let node = map["env"] {
            if case .sequence(let sequence) = node {
                for item in sequence {
                    guard let name = string(item, "\(path).env") else { continue }
                    if name.hasPrefix("KEYWARD_") {
                        fail("\(path).env", item, "env: may not name Keyward's own KEYWARD_* variables")
                    } else if !Self.isVariableName(name) {
                        fail("\(path).env", item, "'\(name)' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
                    } else if names.contains(name) {
                        fail("\(path).env", item, "'\(name)' is listed twice")
                    } else {
                        names.append(name)
                    }
                }
            } else {
                fail("\(path).env", node, "expected a list of environment variable names, e.g. [AWS_PROFILE]")
            }
        }
        if !isCommand && !PluginKind.isTypeName(type) {
            // `type` becomes part of a file name on PATH: a `/` or `..` would leave PATH.
            var message = "'\(type)' is not a plugin type name (lower-case letters, digits and '-', starting with a letter or digit): it names keyward-\(kind.rawValue)-TYPE on PATH"
            if let near = TypoSuggestion.closest(to: type, among: kind == .sink ? registry.sinkTypes : registry.providerTypes) {
                message += "; did you mean '\(near)'?"
            }
            fail("\(path).type", typeNode, message)
            return nil
        }
        guard commandUsable else { return nil }

        let resolved: (command: [String], description: ExternalPluginDescription)
        do {
            resolved = try resolver.resolve(kind: kind, type: type, command: command, directory: directory, environment: environment,
                                            timeout: timeout)
        } catch {
            switch error {
            case .notFound(let executable, let searched):
                let place = searched.isEmpty ? "PATH is empty" : "searched: \(searched.joined(separator: ", "))"
                if isCommand {
                    fail("\(path).command", map["command"] ?? keyNode, "'\(executable)' was not found on PATH (\(place))")
                } else {
                    var message = "\(kind.rawValue) type '\(type)' is not provided by this build, and no \(executable) was found on PATH (\(place))"
                    let builtIn = kind == .sink ? registry.sinkTypes : registry.providerTypes
                    if let near = TypoSuggestion.closest(to: type, among: builtIn) { message += "; did you mean '\(near)'?" }
                    fail("\(path).type", typeNode, message)
                }
            case .unusable(let message):
                if isCommand { fail("\(path).command", map["command"] ?? keyNode, message) } else { fail("\(path).type", typeNode, message) }
            }
            return nil
        }
        let description = resolved.description
        let program = resolved.command.first ?? type
        guard description.kind == kind else {
            fail(isCommand ? "\(path).command" : "\(path).type", isCommand ? (map["command"] ?? keyNode) : typeNode,
                 "\(program) is a \(description.kind.rawValue) plugin (its describe says so), not a \(kind.rawValue)")
            return nil
        }

        var known = commonKeys + description.options.keys.filter { !commonKeys.contains($0) }.sorted()
        if kind == .sink {
            // Refused rather than ignored: a user who wrote them expects a file mode Keyward
            // cannot enforce on what a plugin stores.
            for key in ["mode", "allowGroupRead"] where map[key] != nil && description.options[key] == nil {
                fail("\(path).\(key)", map.keyNode(key) ?? keyNode,
                     "an external sink writes no file of Keyward's, so \(key) has no meaning here (the plugin decides how what it writes is kept)")
                known.append(key)
            }
        }
        checkKeys(map, known: known, path: path)
        var options: [String: ConfigurationValue] = [:]
        var lines: [String: Int] = [:]
        for (name, option) in description.options.sorted(by: { $0.key < $1.key }) where !commonKeys.contains(name) {
            guard let node = map[name] else {
                if option.required { fail("\(path).\(name)", keyNode, "missing: the plugin \(program) requires it") }
                continue
            }
            lines[name] = map.keyNode(name)?.mark?.line
            if let value = providerOption(node, kind: option.kind, path: "\(path).\(name)") { options[name] = value }
        }
        let reference = ExternalPluginReference(kind: kind, type: type, command: resolved.command, timeout: timeout,
                                                environmentNames: names, description: description)
        return (reference, options, lines)
    }

    /// DESIGN.md, "Plugins": an entity whose provider has no `token` capability has no entity
    /// token, so a key template with `{entity.token}` or `{entity.tokenExpiresAt}` for it is a
    /// configuration error, named at the key's line.
    mutating func checkTokenTemplates(_ keys: [(key: String, template: KeyTemplate)], sinkEntities: [EntityID],
                                      entities: [EntityID: EntityConfiguration], keyNodes: [String: Node], path: String) {
        let tokenless = sinkEntities.compactMap { id -> (EntityID, String, ExternalPluginReference)? in
            guard let provider = entities[id]?.provider, let reference = externalProviders[provider], !reference.description.has("token") else {
                return nil
            }
            return (id, provider, reference)
        }
        guard let (id, provider, reference) = tokenless.first else { return }
        for (key, template) in keys {
            let needs = template.parts.compactMap { part -> KeyTemplate.Placeholder? in
                if case .placeholder(let placeholder) = part, placeholder == .token || placeholder == .tokenExpiresAt { placeholder } else { nil }
            }
            guard let placeholder = needs.first else { continue }
            fail("\(path).keys.\(key)", keyNodes[key],
                 "{\(placeholder.rawValue)}: entity '\(id)' has no entity access token (its provider '\(provider)', \(reference.command.first ?? reference.type), does not claim the `token` capability)")
        }
    }
}

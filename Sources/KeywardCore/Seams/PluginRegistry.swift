import Foundation

/// The plugin types this build provides, by their `type` name in `keyward.yaml`.
///
/// A value handed to the configuration loader and the engine, never a global (STYLE.md,
/// "Seams"): the CLI, the composition root, registers every built-in plugin; tests build their
/// own registries.
public struct PluginRegistry: Sendable {
    /// Builds a provider from its configuration section.
    public typealias ProviderFactory = @Sendable (ProviderConfiguration, PluginEnvironment) throws -> any SecretProvider
    /// Builds a sink from its configuration section.
    public typealias SinkFactory = @Sendable (SinkConfiguration, PluginEnvironment) throws -> any SecretSink

    private var providers: [String: (descriptor: ProviderTypeDescriptor, factory: ProviderFactory)] = [:]
    private var sinks: [String: (descriptor: SinkTypeDescriptor, factory: SinkFactory)] = [:]
    private var sharedStores: [String: (descriptor: SharedStoreTypeDescriptor, factory: SharedStoreFactory)] = [:]

    /// Builds the shared store of a `shared:` section (DESIGN.md, "Beyond one machine").
    /// - Parameters:
    ///   - local: this host's rotation coordinator (the vault's file lock), which the store's
    ///     lease wraps.
    ///   - resetMargin: the least lease left, after a holder advanced it to `sent`, for a reset to
    ///     be sent: the longest provider timeout plus 5 s (DESIGN.md, "Fencing the reset").
    public typealias SharedStoreFactory = @Sendable (SharedStoreConfiguration, PluginEnvironment, _ local: any RotationCoordinator,
                                                     _ resetMargin: Duration) throws -> any SharedSecretStore

    /// Resolves and builds external plugins (protocol 1, DESIGN.md "Plugins"): entries with
    /// `type: external`, and types no registered plugin claims (looked up on `PATH`). `nil`:
    /// this build knows only its registered types.
    public var externalPlugins: (any ExternalPluginResolving)?

    public init() {}

    /// Registers a shared store type (the `type:` of a `shared:` section).
    public mutating func registerSharedStore(_ descriptor: SharedStoreTypeDescriptor, factory: @escaping SharedStoreFactory) {
        sharedStores[descriptor.type] = (descriptor, factory)
    }

    /// Shared store type names, sorted.
    public var sharedStoreTypes: [String] { sharedStores.keys.sorted() }

    /// The descriptor of a shared store type, or `nil` when this build does not provide it.
    public func sharedStoreDescriptor(type: String) -> SharedStoreTypeDescriptor? { sharedStores[type]?.descriptor }

    /// Builds the shared store of a `shared:` section.
    ///
    /// - Throws: ``KeywardError`` (usage) when the type is not registered, or the factory's error.
    public func makeSharedStore(_ configuration: SharedStoreConfiguration, environment: PluginEnvironment, local: any RotationCoordinator,
                                resetMargin: Duration) throws -> any SharedSecretStore {
        guard let entry = sharedStores[configuration.type] else {
            throw KeywardError.usage("shared: type '\(configuration.type)' is not provided by this build")
        }
        return try entry.factory(configuration, environment, local, resetMargin)
    }

    /// The provider type a `providers.<name>` section without `type:` has; set by the
    /// registration that passes `isDefault: true` (the CLI's: `token-service`), `nil` when none
    /// did (then `type:` is required).
    public private(set) var defaultProviderType: String?

    /// Registers a provider type with the options its section may hold and its rules. A later
    /// registration of the same type replaces the earlier.
    ///
    /// - Parameter isDefault: the type of a provider section that names none.
    public mutating func registerProvider(_ descriptor: ProviderTypeDescriptor, isDefault: Bool = false, factory: @escaping ProviderFactory) {
        providers[descriptor.type] = (descriptor, factory)
        if isDefault { defaultProviderType = descriptor.type }
    }

    /// Registers a provider type whose section is not checked: every key is kept unparsed in
    /// ``ProviderConfiguration/options`` (for tests that need a provider but not its rules).
    public mutating func registerProvider(type: String, factory: @escaping ProviderFactory) {
        registerProvider(ProviderTypeDescriptor(type: type, options: nil), factory: factory)
    }

    /// Registers a sink type with the options its section may hold.
    public mutating func registerSink(_ descriptor: SinkTypeDescriptor, factory: @escaping SinkFactory) {
        sinks[descriptor.type] = (descriptor, factory)
    }

    /// Provider type names, sorted.
    public var providerTypes: [String] { providers.keys.sorted() }
    /// Sink type names, sorted.
    public var sinkTypes: [String] { sinks.keys.sorted() }

    /// The descriptor of a provider type, or `nil` when this build does not provide it.
    public func providerDescriptor(type: String) -> ProviderTypeDescriptor? { providers[type]?.descriptor }

    /// What the engine uses of a provider section (its type's ``ProviderTypeDescriptor/settings``;
    /// the defaults for a type this build does not provide).
    public func providerSettings(_ configuration: ProviderConfiguration) -> ProviderSettings {
        if let reference = configuration.external {
            return ProviderSettings(callTimeout: reference.timeout, endpoint: reference.command.first)
        }
        return providers[configuration.type]?.descriptor.settings(configuration) ?? ProviderSettings()
    }

    /// The descriptor of a sink type, or `nil` when this build does not provide it.
    public func sinkDescriptor(type: String) -> SinkTypeDescriptor? { sinks[type]?.descriptor }

    /// Builds the provider for a configuration section.
    ///
    /// - Throws: ``KeywardError`` (usage) when the type is not registered, or the factory's error.
    public func makeProvider(_ configuration: ProviderConfiguration, environment: PluginEnvironment) throws -> any SecretProvider {
        if let reference = configuration.external {
            guard let externalPlugins else { throw KeywardError.usage("provider '\(configuration.name)': external plugins are not enabled in this build") }
            return try externalPlugins.makeProvider(configuration, reference: reference, environment: environment)
        }
        guard let entry = providers[configuration.type] else {
            throw KeywardError.usage("provider '\(configuration.name)': type '\(configuration.type)' is not provided by this build")
        }
        return try entry.factory(configuration, environment)
    }

    /// Builds the sink for a configuration section.
    ///
    /// - Throws: ``KeywardError`` (usage) when the type is not registered, or the factory's error.
    public func makeSink(_ configuration: SinkConfiguration, environment: PluginEnvironment) throws -> any SecretSink {
        if let reference = configuration.external {
            guard let externalPlugins else { throw KeywardError.usage("sink '\(configuration.name)': external plugins are not enabled in this build") }
            return try externalPlugins.makeSink(configuration, reference: reference, environment: environment)
        }
        guard let entry = sinks[configuration.type] else {
            throw KeywardError.usage("sink '\(configuration.name)': type '\(configuration.type)' is not provided by this build")
        }
        return try entry.factory(configuration, environment)
    }
}

/// What a sink type accepts in its configuration section beyond the shared keys (`type`,
/// `path`, `entities`, `onChange`, `keys`, `mode`). A sink that writes no file may declare
/// `path` among its ``options`` (a KV path): then it is one of its options, not a file.
public struct SinkTypeDescriptor: Sendable {
    /// The kind of value an option takes.
    public enum OptionKind: Sendable, Equatable {
        case string
        /// A string from a fixed set.
        case choice([String])
        case boolean
        case integer
        /// A map of string to string (labels, annotations).
        case stringMap
        /// A mapping kept as YAML gave it (nested maps, lists and scalars as strings), for a
        /// section the type parses itself in ``SinkTypeDescriptor/validate`` (an `auth:` block).
        case map
    }

    public var type: String
    /// `true` when the sink writes a file and so needs `path`.
    public var writesFile: Bool
    public var options: [String: OptionKind]
    /// The type's own rules for a section that already has the right keys and kinds (a
    /// Kubernetes name, the output key names a format can carry): every problem found, each
    /// naming the key it is about. The configuration loader runs it, so `config check` and every
    /// command refuse such a section before the vault is unlocked or the network called
    /// (DESIGN.md, "Configuration").
    public var validate: @Sendable (SinkConfiguration) -> [SinkConfigurationProblem]

    public init(type: String, writesFile: Bool, options: [String: OptionKind] = [:],
                validate: @escaping @Sendable (SinkConfiguration) -> [SinkConfigurationProblem] = { _ in [] }) {
        self.type = type
        self.writesFile = writesFile
        self.options = options
        self.validate = validate
    }
}

/// A problem a sink type finds in its section (``SinkTypeDescriptor/validate``). The loader
/// turns it into a ``ConfigurationError/Problem`` with the sink's name, the key and its line.
public struct SinkConfigurationProblem: Sendable, Equatable {
    /// What the problem is about, so the loader can point at its line.
    public enum Place: Sendable, Equatable {
        /// A key of the section, e.g. `name` or `namespace`; `labels.app` for one entry of a map.
        case option(String)
        /// One output key under `keys:`.
        case outputKey(String)
        /// One entity of `entities:` (e.g. the default key names made from its id).
        case entity(EntityID)
        /// The section as a whole.
        case section
    }

    public var place: Place
    /// What is wrong and what is expected; never a secret (sections hold none).
    public var message: String

    public init(_ place: Place, _ message: String) {
        self.place = place
        self.message = message
    }
}

/// What plugin factories may use besides their configuration section.
public struct PluginEnvironment: Sendable {
    /// The vault, for `vault:` references and for persisting tokens.
    public var store: (any SecretStore)?
    /// Resolves credential references (`env:`, `file:`, `vault:`).
    public var credentials: CredentialResolver
    /// The configuration's `shared:` section, when it has one: a sink of the shared store's type
    /// (`openbao-kv`) uses its connection unless it names its own.
    public var shared: SharedStoreConfiguration?
    /// Keyward's environment, from which an external plugin's scrubbed environment is taken
    /// (`PATH`, `HOME`, `LANG`, `TMPDIR` and the names its `env:` lists; DESIGN.md, "Plugins").
    public var processEnvironment: [String: String]

    public init(store: (any SecretStore)?, credentials: CredentialResolver, shared: SharedStoreConfiguration? = nil,
                processEnvironment: [String: String] = ProcessInfo.processInfo.environment) {
        self.store = store
        self.credentials = credentials
        self.shared = shared
        self.processEnvironment = processEnvironment
    }
}

import Foundation
import Logging

/// The one entry point for every operation (DESIGN.md, "Architecture"): the CLI, the scheduler
/// and the SwiftPM plugins all go through it, so they behave the same.
///
/// A dispatcher holds the validated configuration, the plugin registry and the vault (when one
/// is open). Commands build one, make one call and render the result.
public struct Dispatcher: Sendable, CustomStringConvertible, CustomReflectable {
    public let configuration: KeywardConfiguration
    public let registry: PluginRegistry
    /// The vault, or `nil` for operations that do not need it.
    public let vault: (any VaultServices)?
    public var store: (any SecretStore)? { vault }
    /// Who may rotate an entity now (DESIGN.md, "Architecture"): the vault's own file lock
    /// unless ``with(vault:coordinator:)`` was given another (a shared store's lease).
    public let coordinator: (any RotationCoordinator)?
    /// The shared store (DESIGN.md, "Beyond one machine"), when the configuration has one: its
    /// lease (wrapping ``coordinator``) guards rotations, and it holds the publication records.
    /// Syncs take only the local ``coordinator``: they never reset, and publish with check-and-set.
    public let shared: (any SharedSecretStore)?
    public let environment: [String: String]
    /// Providers built so far, by name: one per provider for the dispatcher's life, so its
    /// user token cache serves every entity.
    let providers = ProviderCache()

    /// The configuration file and the entity count, never the environment or a credential: a
    /// dispatcher reaches logs inside other values (ServiceLifecycle logs the services it runs),
    /// and its environment holds unlock variables such as `KEYWARD_PASSPHRASE`.
    public var description: String {
        "Dispatcher(configuration: \(configuration.file ?? "none"), entities: \(configuration.entities.count))"
    }

    /// As ``description``: `dump` and debuggers show no environment either.
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }

    /// - Parameters:
    ///   - coordinator: who may rotate an entity on this host; `nil` for the vault's own file lock.
    ///   - shared: the shared store, whose lease rotations take (it wraps the local coordinator).
    public init(configuration: KeywardConfiguration, registry: PluginRegistry, vault: (any VaultServices)? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment, coordinator: (any RotationCoordinator)? = nil,
                shared: (any SharedSecretStore)? = nil) {
        self.configuration = configuration
        self.registry = registry
        self.vault = vault
        self.environment = environment
        self.coordinator = coordinator ?? vault
        self.shared = shared
    }

    /// Loads the configuration from `--config`, `$KEYWARD_CONFIG` or `./keyward.yaml`.
    ///
    /// - Throws: ``ConfigurationError``.
    public static func load(configPath: String?, registry: PluginRegistry,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Dispatcher {
        let path = ConfigurationLoader.locate(explicit: configPath, environment: environment)
        let configuration = try ConfigurationLoader(registry: registry, environment: environment).load(path: path)
        return Dispatcher(configuration: configuration, registry: registry, environment: environment)
    }

    /// The same dispatcher with a vault.
    ///
    /// - Parameter coordinator: who may rotate an entity (a shared store's lease, or a fake in
    ///   tests); `nil` for the vault's own file lock.
    /// - Parameter shared: the shared store (built on this vault's coordinator), or `nil`.
    public func with(vault: any VaultServices, coordinator: (any RotationCoordinator)? = nil, shared: (any SharedSecretStore)? = nil) -> Dispatcher {
        Dispatcher(configuration: configuration, registry: registry, vault: vault, environment: environment, coordinator: coordinator,
                   shared: shared)
    }

    /// Appends an audit row on the way out of an operation. A failure to audit is logged, not
    /// thrown: the operation's own outcome (often an error already) is what the caller reports.
    func recordAudit(_ entry: AuditEntry, to vault: any VaultServices, context: OperationContext) async {
        do {
            try await vault.record(entry)
        } catch {
            context.logger.error("could not append to the audit log: \((error as? any CategorizedError)?.description ?? "\(type(of: error))")")
        }
    }

    /// The vault, or a usage error saying that this operation needs one.
    func requireVault() throws -> any VaultServices {
        guard let vault else { throw KeywardError(.vault, "this operation needs the vault, and none is open") }
        return vault
    }

    /// The entities an operation names, checked against the configuration; all of them when
    /// `names` is empty.
    ///
    /// - Throws: ``KeywardError`` (usage) naming an id that is malformed or not configured.
    public func selectEntities(_ names: [String]) throws -> [EntityID] {
        if names.isEmpty { return configuration.entities.keys.sorted() }
        var selected: [EntityID] = []
        var seen: Set<EntityID> = []
        for name in names {
            guard let id = EntityID(name) else { throw KeywardError.usage("'\(name)' is not a valid entity id: \(EntityID.ruleDescription)") }
            guard configuration.entities[id] != nil else {
                let known = configuration.entities.keys.sorted().map(\.rawValue).joined(separator: ", ")
                throw KeywardError.usage("entity '\(name)' is not in the configuration" + (known.isEmpty ? "" : " (configured: \(known))"))
            }
            if seen.insert(id).inserted { selected.append(id) }
        }
        return selected
    }

    var pluginEnvironment: PluginEnvironment {
        PluginEnvironment(store: store, credentials: CredentialResolver(environment: environment, store: store, shared: shared),
                          shared: configuration.shared)
    }

    /// The provider configured for `entity`.
    ///
    /// - Throws: ``KeywardError`` (usage) for an entity not in the configuration, or the
    ///   provider factory's error.
    public func provider(for entity: EntityID) throws -> any SecretProvider {
        guard let entityConfiguration = configuration.entities[entity] else {
            let known = configuration.entities.keys.sorted().map(\.rawValue).joined(separator: ", ")
            throw KeywardError.usage("entity '\(entity)' is not in the configuration" + (known.isEmpty ? "" : " (configured: \(known))"))
        }
        guard let providerConfiguration = configuration.providers[entityConfiguration.provider] else {
            throw KeywardError.usage("entity '\(entity)': provider '\(entityConfiguration.provider)' is not configured")
        }
        return try providers.provider(named: providerConfiguration.name) {
            try registry.makeProvider(providerConfiguration, environment: pluginEnvironment)
        }
    }

    /// Checks that every provider and sink in the configuration can be built, without calling
    /// any of them, and summarises the configuration.
    ///
    /// - Throws: the first provider or sink factory error.
    public func checkConfiguration() throws -> ConfigurationSummary {
        for name in configuration.providers.keys.sorted() {
            _ = try registry.makeProvider(configuration.providers[name]!, environment: pluginEnvironment)
        }
        for name in configuration.sinks.keys.sorted() {
            _ = try registry.makeSink(configuration.sinks[name]!, environment: pluginEnvironment)
        }
        return ConfigurationSummary(
            file: configuration.file,
            providers: configuration.providers.values.sorted { $0.name < $1.name }.map {
                let settings = registry.providerSettings($0)
                return .init(name: $0.name, type: $0.type, baseURL: settings.endpoint, username: settings.account, password: settings.credential?.description,
                             plugin: $0.external?.command.first)
            },
            entities: configuration.entities.values.sorted { $0.id < $1.id }.map {
                .init(id: $0.id.rawValue, provider: $0.provider, secretExpiryDays: $0.secretExpiryDays,
                      rotateBefore: DurationParser.format(seconds: $0.rotateBefore.components.seconds),
                      tokenRefreshBefore: DurationParser.format(seconds: $0.tokenRefreshBefore.components.seconds))
            },
            sinks: configuration.sinks.values.sorted { $0.name < $1.name }.map {
                .init(name: $0.name, type: $0.type, path: $0.path, entities: $0.entities.map(\.rawValue), plugin: $0.external?.command.first)
            },
            warnings: configuration.warnings.map(\.description) + configuration.sinks.values.sorted { $0.name < $1.name }.compactMap { sink in
                guard let path = sink.path else { return nil }
                let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
                var isDirectory: ObjCBool = false
                guard !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue else { return nil }
                return "sinks.\(sink.name).path: the directory \(directory) does not exist; create it before `keyward sync`"
            })
    }
}

/// Built providers by name, shared by copies of one dispatcher.
final class ProviderCache: @unchecked Sendable {
    private let lock = NSLock()
    private var built: [String: any SecretProvider] = [:]

    func provider(named name: String, make: () throws -> any SecretProvider) throws -> any SecretProvider {
        try lock.withLock {
            if let provider = built[name] { return provider }
            let provider = try make()
            built[name] = provider
            return provider
        }
    }
}

/// What `keyward config check` reports: the configuration without any credential (a password
/// shows as its reference, e.g. `vault:providers/uat/password`).
public struct ConfigurationSummary: Sendable, Codable, Equatable {
    public struct Provider: Sendable, Codable, Equatable {
        public var name, type: String
        /// Where it connects and as whom (``ProviderSettings/endpoint``, ``ProviderSettings/account``);
        /// absent for a type that has none.
        public var baseURL, username: String?
        /// Its credential's reference (``ProviderSettings/credential``), never the credential.
        public var password: String?
        /// An external provider's executable, resolved (DESIGN.md, "Plugins": `config check`
        /// prints the resolved path of every plugin); absent for a built-in type.
        public var plugin: String?
    }
    public struct Entity: Sendable, Codable, Equatable {
        public var id, provider: String
        public var secretExpiryDays: Int?
        public var rotateBefore, tokenRefreshBefore: String
    }
    public struct Sink: Sendable, Codable, Equatable {
        public var name, type: String
        public var path: String?
        public var entities: [String]
        /// An external sink's executable, resolved; absent for a built-in type.
        public var plugin: String?
    }
    /// The vault the commands would open (DESIGN.md, "Files and defaults"), filled in by the
    /// command line, which knows `--vault` and the environment.
    public struct Vault: Sendable, Codable, Equatable {
        /// The absolute path.
        public var path: String
        /// Whether a file is there.
        public var exists: Bool
        /// Which rule chose it: `flag` (`--vault`), `env` (`$KEYWARD_VAULT`), `config`
        /// (`vault.path`) or `default` (`$XDG_DATA_HOME/keyward/vault.db`).
        public var source: String

        public init(path: String, exists: Bool, source: String) {
            self.path = path
            self.exists = exists
            self.source = source
        }
    }
    public var version = 1
    public var file: String?
    public var providers: [Provider]
    public var entities: [Entity]
    public var sinks: [Sink]
    public var warnings: [String]
    /// `nil` until the caller resolves it (the library cannot see `--vault`).
    public var vault: Vault?
}

extension Dispatcher {
    /// What ``Dispatcher/probe(entity:context:)`` found: expiries and notices, never values.
    public struct ProbeResult: Sendable {
        public var entity: EntityID
        /// The secret's length in bytes.
        public var secretLength: Int
        /// When the secret expires (UTC), or `nil` for no expiry.
        public var secretExpiresAt: Date?
        /// When the minted entity token expires (UTC), or `nil` when the provider mints none.
        public var tokenExpiresAt: Date?
        /// The `txnId`s of the calls made.
        public var txnIds: [String]
        /// Notices from the service.
        public var warnings: [String]
    }

    /// Reads the entity's current secret and mints an entity access token with it, storing
    /// nothing: proves that the configured provider, credentials and entity work together.
    ///
    /// - Throws: ``KeywardError`` for an entity or provider not in the configuration; the
    ///   provider's error (for the token service, `TokenServiceError`).
    public func probe(entity: EntityID, context: OperationContext) async throws -> ProbeResult {
        let provider = try provider(for: entity)
        let secret = try await readSourceSecret(entity, provider: provider, context: context)
        var result = ProbeResult(entity: entity, secretLength: secret.record.value.count, secretExpiresAt: secret.record.expiresAt,
                                 tokenExpiresAt: nil, txnIds: [secret.record.txnId].compactMap { $0 }, warnings: secret.warnings)
        if let issuer = provider as? any AccessTokenIssuer {
            let token = try await issuer.issueAccessToken(for: entity, secret: secret.record.value, context: context)
            result.tokenExpiresAt = token.record.expiresAt
            result.txnIds += [token.record.txnId].compactMap { $0 }
            result.warnings += token.warnings
        }
        return result
    }
}

import Foundation

/// The contents of `keyward.yaml`, validated (DESIGN.md, "Configuration").
///
/// Build one with ``ConfigurationLoader``. Paths inside are already resolved against the
/// configuration file's directory.
public struct KeywardConfiguration: Sendable {
    /// The file it was read from, if any.
    public var file: String?
    /// The configuration format version; only `1` exists.
    public var version: Int
    public var vault: VaultSettings
    /// Providers by name.
    public var providers: [String: ProviderConfiguration]
    /// Entities by id.
    public var entities: [EntityID: EntityConfiguration]
    /// Sinks by name.
    public var sinks: [String: SinkConfiguration]
    /// Things that work but are probably not meant; shown on stderr.
    public var warnings: [ConfigurationWarning]

    public init(
        file: String? = nil, version: Int = 1, vault: VaultSettings = VaultSettings(),
        providers: [String: ProviderConfiguration] = [:], entities: [EntityID: EntityConfiguration] = [:],
        sinks: [String: SinkConfiguration] = [:], warnings: [ConfigurationWarning] = []
    ) {
        self.file = file
        self.version = version
        self.vault = vault
        self.providers = providers
        self.entities = entities
        self.sinks = sinks
        self.warnings = warnings
    }
}

/// `vault:` section.
public struct VaultSettings: Sendable, Equatable {
    /// The vault file, resolved; `nil` when the configuration does not say (then `$KEYWARD_VAULT`
    /// or `$XDG_DATA_HOME/keyward/vault.db` applies).
    public var path: String?
    /// Versions kept per entry (labelled versions are always kept). Default 10.
    public var retention: Int
    /// How long the vault keeps audit rows and finished rotation journal entries
    /// (`vault.auditRetention`, a duration of 1d to 36500d). Default 90 days.
    public var auditRetention: Duration

    public init(path: String? = nil, retention: Int = 10, auditRetention: Duration = .seconds(90 * 86_400)) {
        self.path = path
        self.retention = retention
        self.auditRetention = auditRetention
    }
}

/// A named token service environment or URL (token-service-contract.md, "Environments").
public enum TokenServiceEnvironment: String, Sendable, CaseIterable {
    case production
    case uat
    case sandbox

    /// The environment's base URL, ending in `/iam/v1`.
    public var baseURL: URL {
        switch self {
        case .production: URL(string: "https://api.sahamati.org.in/iam/v1")!
        case .uat: URL(string: "https://api.uat.sahamati.org.in/iam/v1")!
        case .sandbox: URL(string: "https://api.sandbox.sahamati.org.in/iam/v1")!
        }
    }
}

/// `providers.<name>` section.
public struct ProviderConfiguration: Sendable, Equatable {
    /// The provider's name (a key of `providers`).
    public var name: String
    /// The plugin type, e.g. `token-service`.
    public var type: String
    /// The token service base URL, ending in `/iam/v1`: a named environment's, an `https://` URL,
    /// or an `http://` URL on a loopback host.
    public var baseURL: URL
    /// The admin user's login (an email address).
    public var username: String
    /// Where the admin user's password comes from. Default `vault:providers/<name>/password`.
    public var password: CredentialReference
    /// Time allowed for one HTTP call, in seconds. Default 10.
    public var timeoutSeconds: Int64

    public init(name: String, type: String = "token-service", baseURL: URL, username: String,
                password: CredentialReference? = nil, timeoutSeconds: Int64 = 10) {
        self.name = name
        self.type = type
        self.baseURL = baseURL
        self.username = username
        self.password = password ?? .vault(.providerPassword(name))
        self.timeoutSeconds = timeoutSeconds
    }
}

/// `entities.<id>` section.
public struct EntityConfiguration: Sendable, Equatable {
    public var id: EntityID
    /// The name of the provider that holds this entity's secret.
    public var provider: String
    /// Validity asked for on reset, in days; `nil` leaves the service's default (180).
    public var secretExpiryDays: Int?
    /// A rotation is due once the secret's expiry is this close, in seconds. Default 15 days;
    /// the engine caps it at a third of the secret's lifetime.
    public var rotateBeforeSeconds: Int64
    /// An entity token is minted again once its expiry is this close, in seconds. Default 10 min.
    public var tokenRefreshBeforeSeconds: Int64

    public init(id: EntityID, provider: String, secretExpiryDays: Int? = nil,
                rotateBeforeSeconds: Int64 = 15 * 86_400, tokenRefreshBeforeSeconds: Int64 = 600) {
        self.id = id
        self.provider = provider
        self.secretExpiryDays = secretExpiryDays
        self.rotateBeforeSeconds = rotateBeforeSeconds
        self.tokenRefreshBeforeSeconds = tokenRefreshBeforeSeconds
    }
}

/// `sinks.<name>` section. Keys every sink shares are fields; the rest are in ``options``,
/// checked against the sink type's ``SinkTypeDescriptor``.
public struct SinkConfiguration: Sendable {
    public var name: String
    /// The plugin type, e.g. `dotenv`.
    public var type: String
    /// The output file, resolved, for file sinks.
    public var path: String?
    /// The entities this sink receives, in configuration order.
    public var entities: [EntityID]
    /// A command (argv, no shell) run after this sink's output changed.
    public var onChange: [String]?
    /// `onChangeTimeout`: how long `onChange` may run before its process group gets SIGTERM
    /// (then SIGKILL 5 s later), in seconds; default 60 (DESIGN.md, "Plugins").
    public var onChangeTimeoutSeconds: Int64 = HookRunner.defaultTimeoutSeconds
    /// Output key to template, in configuration order; `nil` for the default names.
    public var keys: [(key: String, template: KeyTemplate)]?
    /// The file mode for written files (default 0600). One that lets group or others read is
    /// accepted only with ``allowGroupRead`` (DESIGN.md, "Files and defaults").
    public var mode: UInt16
    /// `allowGroupRead: true`: the sink's `mode` may let group or others read the file.
    public var allowGroupRead: Bool = false
    /// Type-specific options, validated against the type's descriptor.
    public var options: [String: ConfigurationValue]
    /// Line of the sink's name in the file, for errors found later.
    public var line: Int?
}

/// A scalar, list or map from the configuration, for type-specific sink options.
public indirect enum ConfigurationValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case list([ConfigurationValue])
    case map([String: ConfigurationValue])

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .boolean(let b) = self { b } else { nil } }
    public var integerValue: Int? { if case .integer(let i) = self { i } else { nil } }
}

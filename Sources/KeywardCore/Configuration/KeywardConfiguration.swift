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

/// `providers.<name>` section: its `type` and the options that type declares, parsed to their
/// kinds but not interpreted. The type's ``ProviderTypeDescriptor`` checked them at load and
/// parses them into its own typed options (DESIGN.md, "Plugins").
public struct ProviderConfiguration: Sendable, Equatable {
    /// The provider's name (a key of `providers`).
    public var name: String
    /// The plugin type, e.g. `token-service`.
    public var type: String
    /// The section's keys other than `type`, each parsed to the kind its type declares
    /// (``ProviderTypeDescriptor/OptionKind``).
    public var options: [String: ConfigurationValue]
    /// The line of each key in ``options``, for problems found after loading.
    public var optionLines: [String: Int]
    /// Line of the provider's name in the file.
    public var line: Int?

    public init(name: String, type: String, options: [String: ConfigurationValue] = [:], optionLines: [String: Int] = [:], line: Int? = nil) {
        self.name = name
        self.type = type
        self.options = options
        self.optionLines = optionLines
        self.line = line
    }
}

/// `entities.<id>` section.
public struct EntityConfiguration: Sendable, Equatable {
    public var id: EntityID
    /// The name of the provider that holds this entity's secret.
    public var provider: String
    /// Validity asked for on reset, in days; `nil` leaves the provider's default.
    public var secretExpiryDays: Int?
    /// The validity, in days, a reset of this entity's secret is granted: ``secretExpiryDays``
    /// within the provider type's default and maximum (``SecretValidityRules``), set by the
    /// loader; `nil` when the provider does not say. The rotation window uses it for a secret
    /// whose record cannot tell its lifetime.
    public var grantedValidityDays: Int?
    /// A rotation is due once the secret's expiry is this close, in seconds. Default 15 days;
    /// the engine caps it at a third of the secret's lifetime.
    public var rotateBeforeSeconds: Int64
    /// An entity token is minted again once its expiry is this close, in seconds. Default 10 min.
    public var tokenRefreshBeforeSeconds: Int64

    /// - Parameter grantedValidityDays: `nil` takes `secretExpiryDays`.
    public init(id: EntityID, provider: String, secretExpiryDays: Int? = nil, grantedValidityDays: Int? = nil,
                rotateBeforeSeconds: Int64 = 15 * 86_400, tokenRefreshBeforeSeconds: Int64 = 600) {
        self.id = id
        self.provider = provider
        self.secretExpiryDays = secretExpiryDays
        self.grantedValidityDays = grantedValidityDays ?? secretExpiryDays
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

/// A scalar, list or map from the configuration, for type-specific sink and provider options.
public indirect enum ConfigurationValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case list([ConfigurationValue])
    case map([String: ConfigurationValue])
    /// A duration option (``ProviderTypeDescriptor/OptionKind/duration``).
    case duration(Duration)
    /// A credential reference option (``ProviderTypeDescriptor/OptionKind/credential``).
    case credential(CredentialReference)

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .boolean(let b) = self { b } else { nil } }
    public var integerValue: Int? { if case .integer(let i) = self { i } else { nil } }
    public var durationValue: Duration? { if case .duration(let d) = self { d } else { nil } }
    public var credentialValue: CredentialReference? { if case .credential(let c) = self { c } else { nil } }
}

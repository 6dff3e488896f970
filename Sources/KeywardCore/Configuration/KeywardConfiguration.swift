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
    /// The `shared:` section (DESIGN.md, "Beyond one machine"), or `nil` for none.
    public var shared: SharedStoreConfiguration?
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

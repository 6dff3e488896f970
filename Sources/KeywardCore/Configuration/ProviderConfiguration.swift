import Foundation

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
    /// For an external provider (`type: external`, or a type found on `PATH`): its command,
    /// common keys and `describe` answer, resolved at load (DESIGN.md, "Plugins"); `nil` for
    /// built-in types.
    public var external: ExternalPluginReference? = nil
    /// The configuration file's directory, where an external provider runs (DESIGN.md,
    /// "Plugins"); `nil` for a section not read from a file (then Keyward's working directory).
    public var directory: String? = nil

    public init(name: String, type: String, options: [String: ConfigurationValue] = [:], optionLines: [String: Int] = [:], line: Int? = nil) {
        self.name = name
        self.type = type
        self.options = options
        self.optionLines = optionLines
        self.line = line
    }
}

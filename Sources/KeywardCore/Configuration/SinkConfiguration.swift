import Foundation

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
    /// (then SIGKILL 5 s later), a `Duration`; default 60 s (DESIGN.md, "Plugins").
    public var onChangeTimeout: Duration = HookRunner.defaultTimeout
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
    /// The configuration file's directory, against which the sink's own relative paths (a CA
    /// file) resolve; `nil` for a section not read from a file.
    public var directory: String? = nil
    /// For an external sink (`type: external`, or a type found on `PATH`): its command, common
    /// keys and `describe` answer, resolved at load (DESIGN.md, "Plugins"); `nil` for built-in types.
    public var external: ExternalPluginReference? = nil
}

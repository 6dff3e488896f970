import KeywardCore
import Logging

/// The `shell` sink: writes the entities' pairs as `export KEY='…'` lines, safe to `eval` or
/// source whatever the bytes (DESIGN.md, "Sinks"; see ``ShellFormat``).
///
/// ```yaml
/// sinks:
///   app-sh:
///     type: shell
///     path: deploy/app.sh
///     entities: [FIU-EXAMPLE-1]
/// ```
public struct ShellSink: SecretSink {
    /// The registry entry: type `shell`, a file sink, no options of its own; every key must be
    /// a variable name.
    public static let descriptor = SinkTypeDescriptor(type: "shell", writesFile: true, validate: SinkValidation.variableNames)

    public let name: String
    /// The file written (resolved).
    public let path: String
    /// The file mode, e.g. `0o600`.
    public let mode: UInt16
    private let keys: [(key: String, template: KeyTemplate)]?

    /// - Parameter keys: output key to template, in order; `nil` for the default names.
    public init(name: String, path: String, keys: [(key: String, template: KeyTemplate)]? = nil, mode: UInt16 = 0o600) {
        self.name = name
        self.path = path
        self.keys = keys
        self.mode = mode
    }

    /// Builds the sink from its `sinks.<name>` section.
    ///
    /// - Throws: ``KeywardError`` (usage) when `path` is missing.
    public init(configuration: SinkConfiguration) throws {
        let file = try FileSinkSettings(configuration)
        self.init(name: configuration.name, path: file.path, keys: configuration.keys, mode: configuration.mode)
    }

    public var destination: String? { path }

    /// Renders the file and replaces it atomically; in a dry run, only says what it would do.
    ///
    /// - Throws: ``KeywardError`` naming the key (a missing token, an invalid name, a NUL byte)
    ///   or the path (see ``AtomicFileWriter``); never a value.
    public func write(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        let bytes = try render(material)
        if context.dryRun { return try AtomicFileWriter().outcome(of: bytes, at: path, mode: mode) }
        let outcome = try AtomicFileWriter().write(bytes, to: path, mode: mode)
        context.logger.debug("shell sink wrote", metadata: ["sink": "\(name)", "path": "\(path)", "outcome": "\(outcome.rawValue)"])
        return outcome
    }

    /// What ``write(_:context:)`` would return, writing nothing.
    public func plan(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        try AtomicFileWriter().outcome(of: try render(material), at: path, mode: mode)
    }

    private func render(_ material: [EntityMaterial]) throws -> [UInt8] {
        try ShellFormat.render(SinkKeys.pairs(for: material, keys: keys))
    }
}

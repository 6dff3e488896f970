import KeywardCore
import Logging

/// The `json` sink: writes the entities' pairs as one JSON object (DESIGN.md, "Sinks").
///
/// ```yaml
/// sinks:
///   app-json:
///     type: json
///     path: deploy/credentials.json
///     entities: [FIU-EXAMPLE-1]
///     pretty: true           # optional; indent by two spaces
/// ```
public struct JSONSink: SecretSink {
    /// The registry entry: type `json`, a file sink, option `pretty`.
    public static let descriptor = SinkTypeDescriptor(type: "json", writesFile: true, options: ["pretty": .boolean])

    public let name: String
    /// The file written (resolved).
    public let path: String
    /// The file mode, e.g. `0o600`.
    public let mode: UInt16
    /// Indent the object, one key a line.
    public let pretty: Bool
    private let keys: [(key: String, template: KeyTemplate)]?

    /// - Parameter keys: output key to template, in order; `nil` for the default names.
    public init(name: String, path: String, keys: [(key: String, template: KeyTemplate)]? = nil,
                mode: UInt16 = 0o600, pretty: Bool = false) {
        self.name = name
        self.path = path
        self.keys = keys
        self.mode = mode
        self.pretty = pretty
    }

    /// Builds the sink from its `sinks.<name>` section.
    ///
    /// - Throws: ``KeywardError`` (usage) when `path` is missing.
    public init(configuration: SinkConfiguration) throws {
        let file = try FileSinkSettings(configuration)
        self.init(name: configuration.name, path: file.path, keys: configuration.keys, mode: configuration.mode,
                  pretty: configuration.options["pretty"]?.boolValue ?? false)
    }

    public var destination: String? { path }

    /// Renders the object and replaces the file atomically; in a dry run, only says what it
    /// would do.
    ///
    /// - Throws: ``KeywardError`` naming the key (a missing token, a value that is not UTF-8)
    ///   or the path (see ``AtomicFileWriter``); never a value.
    public func write(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        let bytes = try render(material)
        if context.dryRun { return try AtomicFileWriter().outcome(of: bytes, at: path, mode: mode) }
        let outcome = try AtomicFileWriter().write(bytes, to: path, mode: mode)
        context.logger.debug("json sink wrote", metadata: ["sink": "\(name)", "path": "\(path)", "outcome": "\(outcome.rawValue)"])
        return outcome
    }

    /// What ``write(_:context:)`` would return, writing nothing.
    public func plan(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        try AtomicFileWriter().outcome(of: try render(material), at: path, mode: mode)
    }

    private func render(_ material: [EntityMaterial]) throws -> [UInt8] {
        try JSONFormat.render(SinkKeys.pairs(for: material, keys: keys), pretty: pretty)
    }
}

import KeywardCore
import Logging

/// The `dotenv` sink: writes the entities' pairs as an env file (DESIGN.md, "Sinks").
///
/// ```yaml
/// sinks:
///   app-env:
///     type: dotenv
///     path: deploy/app.env
///     entities: [FIU-EXAMPLE-1]
///     dialect: portable      # optional; portable | docker | systemd
/// ```
public struct DotenvSink: SecretSink {
    /// The registry entry: type `dotenv`, a file sink, option `dialect` (`portable`, `docker`,
    /// `systemd`; see ``DotenvFormat/Dialect``); every key must be a variable name.
    public static let descriptor = SinkTypeDescriptor(
        type: "dotenv", writesFile: true,
        options: ["dialect": .choice(DotenvFormat.Dialect.allCases.map(\.rawValue))],
        validate: SinkValidation.variableNames)

    public let name: String
    /// The file written (resolved).
    public let path: String
    /// The file mode, e.g. `0o600`.
    public let mode: UInt16
    public let dialect: DotenvFormat.Dialect
    private let keys: [(key: String, template: KeyTemplate)]?

    /// - Parameter keys: output key to template, in order; `nil` for the default names.
    public init(name: String, path: String, keys: [(key: String, template: KeyTemplate)]? = nil,
                mode: UInt16 = 0o600, dialect: DotenvFormat.Dialect = .portable) {
        self.name = name
        self.path = path
        self.keys = keys
        self.mode = mode
        self.dialect = dialect
    }

    /// Builds the sink from its `sinks.<name>` section.
    ///
    /// - Throws: ``KeywardError`` (usage) when `path` is missing or `dialect` is unknown.
    public init(configuration: SinkConfiguration) throws {
        let file = try FileSinkSettings(configuration)
        var dialect = DotenvFormat.Dialect.portable
        if let raw = configuration.options["dialect"]?.stringValue {
            guard let chosen = DotenvFormat.Dialect(rawValue: raw) else {
                throw KeywardError.usage("sink '\(configuration.name)': dialect '\(raw)' is not one of \(DotenvFormat.Dialect.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            dialect = chosen
        }
        self.init(name: configuration.name, path: file.path, keys: configuration.keys, mode: configuration.mode, dialect: dialect)
    }

    public var destination: String? { path }

    /// Renders the file and replaces it atomically; in a dry run, only says what it would do.
    ///
    /// - Throws: ``KeywardError`` naming the key (a missing token, a value the dialect cannot
    ///   carry) or the path (see ``AtomicFileWriter``); never a value.
    public func write(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        let bytes = try render(material)
        if context.dryRun { return try AtomicFileWriter().outcome(of: bytes, at: path, mode: mode) }
        let outcome = try AtomicFileWriter().write(bytes, to: path, mode: mode)
        context.logger.debug("dotenv sink wrote", metadata: ["sink": "\(name)", "path": "\(path)", "outcome": "\(outcome.rawValue)"])
        return outcome
    }

    /// What ``write(_:context:)`` would return, writing nothing.
    public func plan(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        try AtomicFileWriter().outcome(of: try render(material), at: path, mode: mode)
    }

    private func render(_ material: [EntityMaterial]) throws -> [UInt8] {
        try DotenvFormat.render(SinkKeys.pairs(for: material, keys: keys), dialect: dialect)
    }
}

/// The settings every file sink shares, checked once.
struct FileSinkSettings {
    var path: String

    init(_ configuration: SinkConfiguration) throws {
        guard let path = configuration.path, !path.isEmpty else {
            throw KeywardError.usage("sink '\(configuration.name)': missing path (the file this sink writes)")
        }
        self.path = path
    }
}

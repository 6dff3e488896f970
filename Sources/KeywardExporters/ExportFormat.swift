import KeywardCore

/// The formats `keyward export --format` writes with this module (DESIGN.md, "Commands"); the
/// raw value is the `--format` argument. `kubernetes-secret` comes later.
public enum ExportFormat: String, Sendable, CaseIterable {
    /// An env file in the ``DotenvFormat/Dialect/portable`` dialect.
    case dotenv
    /// `export KEY='…'` lines (``ShellFormat``).
    case shell
    /// A JSON object of key to value.
    case json

    /// Renders `pairs` (from ``SinkKeys/pairs(for:keys:)``) in this format, for stdout or
    /// `--out` (write the latter with ``AtomicFileWriter``).
    ///
    /// - Parameter pretty: indent JSON (`--pretty`); ignored by the other formats.
    /// - Throws: ``KeywardError`` naming the key that cannot be written, never its value.
    public func render(pairs: [SinkKeys.Pair], pretty: Bool = false) throws -> [UInt8] {
        switch self {
        case .dotenv: try DotenvFormat.render(pairs, dialect: .portable)
        case .shell: try ShellFormat.render(pairs)
        case .json: try JSONFormat.render(pairs, pretty: pretty)
        }
    }
}

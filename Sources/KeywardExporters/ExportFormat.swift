import KeywardCore

/// The formats `keyward export --format` writes with this module (DESIGN.md, "Commands"); the
/// raw value is the `--format` argument.
public enum ExportFormat: String, Sendable, CaseIterable {
    /// An env file in the ``DotenvFormat/Dialect/portable`` dialect.
    case dotenv
    /// `export KEY='…'` lines (``ShellFormat``).
    case shell
    /// A `v1` `Secret` manifest (``KubernetesSecretFormat``).
    case kubernetesSecret = "kubernetes-secret"
    /// A JSON object of key to value.
    case json

    /// Renders `pairs` (from ``SinkKeys/pairs(for:keys:)``) in this format, for stdout or
    /// `--out` (write the latter with ``AtomicFileWriter``).
    ///
    /// - Parameters:
    ///   - pretty: indent JSON (`--pretty`); ignored by the other formats.
    ///   - kubernetes: the manifest's name, namespace and so on (`--name`, `--namespace`;
    ///     the default name is ``KubernetesSecretOptions/defaultName(for:)`` of the first
    ///     entity); required by `kubernetes-secret`, ignored by the others.
    /// - Throws: ``KeywardError`` naming the key that cannot be written, never its value;
    ///   (usage) for `kubernetes-secret` without `kubernetes` options.
    public func render(pairs: [SinkKeys.Pair], pretty: Bool = false, kubernetes: KubernetesSecretOptions? = nil) throws -> [UInt8] {
        switch self {
        case .dotenv: return try DotenvFormat.render(pairs, dialect: .portable)
        case .shell: return try ShellFormat.render(pairs)
        case .json: return try JSONFormat.render(pairs, pretty: pretty)
        case .kubernetesSecret:
            guard let kubernetes else {
                throw KeywardError.usage("kubernetes-secret: the manifest needs a name (--name)")
            }
            return try KubernetesSecretFormat.render(pairs, options: kubernetes)
        }
    }
}

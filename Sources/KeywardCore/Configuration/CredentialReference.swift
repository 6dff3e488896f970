/// Where a credential in `keyward.yaml` comes from (DESIGN.md, "Configuration"). Credentials are
/// never written into the configuration itself.
public enum CredentialReference: Sendable, Equatable, CustomStringConvertible {
    /// `env:NAME`: the environment variable `NAME`.
    case environment(String)
    /// `file:PATH`: the file's contents with one trailing newline dropped; a relative path is
    /// resolved against the configuration file's directory (held here already resolved).
    case file(String)
    /// `vault:PATH`: the vault entry `PATH` (the default for a provider password is
    /// `vault:providers/<NAME>/password`, where `keyward login NAME` stores it).
    case vault(SecretName)

    public var description: String {
        switch self {
        case .environment(let name): "env:\(name)"
        case .file(let path): "file:\(path)"
        case .vault(let name): "vault:\(name)"
        }
    }

    /// The accepted forms, for error messages.
    public static let formDescription = "a reference: env:NAME, file:PATH or vault:ENTRY"
}

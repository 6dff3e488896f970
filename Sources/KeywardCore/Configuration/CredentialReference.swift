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
    /// `<type>:<mount>/<path>#<key>` (`openbao:secret/keyward/prod/db#password`): the key of a
    /// KV entry in the shared store of that type (DESIGN.md, "Beyond one machine", `openbao:`
    /// references), read through the configuration's `shared:` connection.
    case shared(type: String, mount: String, path: String, key: String)

    public var description: String {
        switch self {
        case .environment(let name): "env:\(name)"
        case .file(let path): "file:\(path)"
        case .vault(let name): "vault:\(name)"
        case .shared(let type, let mount, let path, let key): "\(type):\(mount)/\(path)#\(key)"
        }
    }

    /// The accepted forms, for error messages.
    public static let formDescription = "a reference: env:NAME, file:PATH, vault:ENTRY or openbao:MOUNT/PATH#KEY"

    /// Reads `<mount>/<path>#<key>` (the part after `<type>:`): the mount and every path segment
    /// made of letters, digits, `.`, `_` and `-` (never `.` or `..`), the key not empty and
    /// without `/`. `nil` when it is not of that form.
    public static func sharedLocation(_ text: String) -> (mount: String, path: String, key: String)? {
        guard let hash = text.lastIndex(of: "#") else { return nil }
        let key = String(text[text.index(after: hash)...])
        let segments = text[..<hash].split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !key.isEmpty, !key.contains("/"), segments.count >= 2,
            segments.allSatisfy({ segment in
                !segment.isEmpty && segment != "." && segment != ".."
                    && segment.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || "._-".unicodeScalars.contains($0) }
            })
        else { return nil }
        return (segments[0], segments.dropFirst().joined(separator: "/"), key)
    }
}

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

    /// What is wrong with a reference's text; the message never holds the text (it may be the
    /// secret itself).
    public struct Problem: Error, Sendable, Equatable {
        public var message: String
    }

    /// Reads the references that need no shared store: `env:NAME` (`[A-Za-z_][A-Za-z0-9_]*`),
    /// `file:PATH` (made absolute by `resolvePath`; the file must exist, be readable and be
    /// private, ``SecretFileRule/readProblem(path:what:)``) and `vault:ENTRY`
    /// (``SecretName``'s rule). Shared by the configuration loader, the `shared:` section's
    /// settings and `keyward plugin test`.
    ///
    /// - Returns: `nil` when `text` starts with none of these prefixes (a shared-store
    ///   reference, or a literal, for the caller to judge).
    /// - Throws: ``Problem`` naming what is wrong with a text that has one of the prefixes.
    public static func parseLocal(_ text: String, resolvePath: (String) -> String) throws(Problem) -> CredentialReference? {
        if text.hasPrefix("env:") {
            let name = String(text.dropFirst(4))
            let valid = !name.isEmpty && name.unicodeScalars.first.map { !("0"..."9").contains($0) } == true
                && name.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "_" }
            guard valid else { throw Problem(message: "env: needs an environment variable name ([A-Za-z_][A-Za-z0-9_]*)") }
            return .environment(name)
        }
        if text.hasPrefix("file:") {
            let file = String(text.dropFirst(5))
            guard !file.isEmpty else { throw Problem(message: "file: needs a path") }
            let resolved = resolvePath(file)
            // DESIGN.md, "Files and defaults": a file holding a secret must be private; and it
            // must be there and readable, since every run reads it (one check, when read).
            if let problem = SecretFileRule.readProblem(path: resolved, what: "the file") { throw Problem(message: problem) }
            return .file(resolved)
        }
        if text.hasPrefix("vault:") {
            guard let name = SecretName(String(text.dropFirst(6))) else {
                throw Problem(message: "vault: needs an entry name: \(SecretName.ruleDescription)")
            }
            return .vault(name)
        }
        return nil
    }

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

import Foundation

/// Turns a ``CredentialReference`` into the credential's bytes.
public struct CredentialResolver: Sendable, CustomStringConvertible {
    /// Never the environment it holds.
    public var description: String { "CredentialResolver" }

    private let environment: [String: String]
    private let store: (any SecretStore)?
    private let shared: (any SharedSecretStore)?

    /// - Parameters:
    ///   - environment: the process environment (injected for tests).
    ///   - store: the vault, or `nil` when none is open (then `vault:` references fail with a
    ///     clear error).
    ///   - shared: the shared store, for `openbao:` references (`nil`: they fail with a clear error).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, store: (any SecretStore)?,
                shared: (any SharedSecretStore)? = nil) {
        self.environment = environment
        self.store = store
        self.shared = shared
    }

    /// The credential's bytes: an environment variable's value; a file's contents with one
    /// trailing newline dropped; the vault entry's current version.
    ///
    /// - Throws: ``KeywardError`` (usage) for an unset variable, an unreadable file or a missing
    ///   vault entry, naming the reference but never a value.
    public func resolve(_ reference: CredentialReference, context: OperationContext) async throws -> SecretValue {
        switch reference {
        case .environment(let name):
            guard let value = environment[name] else {
                throw KeywardError.usage("\(reference): the environment variable \(name) is not set")
            }
            return SecretValue(utf8: value)
        case .file(let path):
            guard var bytes = FileManager.default.contents(atPath: path).map(Array.init) else {
                // Checked at load too; this is the file changing since.
                throw KeywardError.usage("\(reference): " + (SecretFileRule.readProblem(path: path, what: "the file") ?? "the file cannot be read"))
            }
            if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            return SecretValue(bytes: bytes)
        case .vault(let name):
            guard let store else {
                throw KeywardError.usage("\(reference): no vault is open to resolve it")
            }
            guard let record = try await store.read(name, label: .current, context: context) else {
                throw KeywardError.usage("\(reference): the vault has no entry \(name) (for a provider password, run `keyward login`)")
            }
            return record.value
        case .shared(_, let mount, let path, let key):
            guard let shared else {
                throw KeywardError.usage("\(reference): no shared store is open to resolve it (it needs a `shared:` section)")
            }
            return try await shared.credential(mount: mount, path: path, key: key, context: context)
        }
    }
}

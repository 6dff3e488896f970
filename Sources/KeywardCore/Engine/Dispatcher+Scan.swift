import Foundation

extension Dispatcher {
    /// The values `keyward scan` looks for (DESIGN.md, "Leak scanning and masked output"):
    /// every vault entry's current, previous and pending versions (every retained version with
    /// `allVersions`), named by entry, version and the vault's fingerprint, and the credentials
    /// the configuration resolves locally (`env:`, `file:` and `vault:` references of providers,
    /// sinks and the shared store: passwords, OpenBao tokens, AppRole secret ids), named
    /// `providers/<NAME>/<OPTION>`, `sinks/<NAME>/<OPTION>` or `shared/<OPTION>`. A reference
    /// that cannot be resolved here (a variable not set, a `shared:` one) is left out and named,
    /// with the reason, in ``LeakPatternSet/unresolved``. Appends one
    /// audit row (`scan`): the command reads every secret.
    ///
    /// - Throws: ``KeywardError`` (`.vault`) when no vault is open; the vault's errors.
    public func leakPatternSet(allVersions: Bool, context: OperationContext) async throws -> LeakPatternSet {
        let vault = try requireVault()
        var values: [(source: LeakPatternSet.Source, value: SecretValue)] = []
        for name in try await vault.list(prefix: "", context: context) {
            let versions = try await vault.history(name, context: context)
            for info in versions.sorted(by: { $0.version > $1.version }) where allVersions || !info.labels.isEmpty {
                let record = try await vault.read(name, version: info.version, context: context)
                values.append((LeakPatternSet.Source(name: name.rawValue, version: "v\(info.version)", fingerprint: info.fingerprint), record.value))
            }
        }
        let resolver = CredentialResolver(environment: environment, store: vault)
        var unresolved: [String] = []
        for (name, reference) in configuredCredentials() {
            if case .shared = reference {
                unresolved.append("\(name): a shared-store reference is not read by scan")
                continue
            }
            do {
                let value = try await resolver.resolve(reference, context: context)
                if !value.isEmpty { values.append((LeakPatternSet.Source(name: name, fingerprint: vault.fingerprint(value)), value)) }
            } catch {
                unresolved.append("\(name): \(error)")
            }
        }
        try await vault.record(AuditEntry(time: context.clock.now, operation: "scan", outcome: .ok))
        var set = LeakPatternSet(values: values)
        set.unresolved = unresolved
        return set
    }

    /// Every credential reference in the configuration's provider, sink and shared-store
    /// options, named by where it sits. Option strings count when their key names a credential
    /// (`password`, `token`, `secretId`, …) and they parse as a local reference: plugin types
    /// that read their own options keep references as strings.
    func configuredCredentials() -> [(name: String, reference: CredentialReference)] {
        var result: [(String, CredentialReference)] = []
        let base = configuration.file.map { ($0 as NSString).deletingLastPathComponent } ?? FileManager.default.currentDirectoryPath
        func walk(_ value: ConfigurationValue, key: String, path: String) {
            switch value {
            case .credential(let reference):
                result.append((path, reference))
            case .string(let text):
                let lowered = key.lowercased()
                guard ["password", "token", "secret", "key", "credential"].contains(where: { lowered.contains($0) }),
                    let reference = try? CredentialReference.parseLocal(text, resolvePath: { $0.hasPrefix("/") ? $0 : base + "/" + $0 })
                else { return }
                result.append((path, reference))
            case .map(let entries):
                for (inner, value) in entries.sorted(by: { $0.key < $1.key }) { walk(value, key: inner, path: path + "/" + inner) }
            case .list(let items):
                for (index, item) in items.enumerated() { walk(item, key: key, path: path + "/\(index)") }
            case .integer, .boolean, .duration:
                return
            }
        }
        for (name, provider) in configuration.providers.sorted(by: { $0.key < $1.key }) {
            for (key, value) in provider.options.sorted(by: { $0.key < $1.key }) { walk(value, key: key, path: "providers/\(name)/\(key)") }
        }
        for (name, sink) in configuration.sinks.sorted(by: { $0.key < $1.key }) {
            for (key, value) in sink.options.sorted(by: { $0.key < $1.key }) { walk(value, key: key, path: "sinks/\(name)/\(key)") }
        }
        if let shared = configuration.shared {
            for (key, value) in shared.options.sorted(by: { $0.key < $1.key }) { walk(value, key: key, path: "shared/\(key)") }
        }
        return result
    }
}

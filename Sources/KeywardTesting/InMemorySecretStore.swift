import Foundation
import KeywardCore

/// A ``SecretStore`` in memory, with the same version and label rules as the vault: for tests
/// of the engine and of plugins that need a store.
public final class InMemorySecretStore: SecretStore, Fingerprinter, @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [SecretName: [SecretRecord]] = [:]

    public init() {}

    public func read(_ name: SecretName, label: VersionLabel, context: OperationContext) async throws -> SecretRecord? {
        lock.withLock { entries[name]?.last { $0.label == label } }
    }

    public func write(_ name: SecretName, record: SecretRecord, label: VersionLabel, context: OperationContext) async throws -> SecretRecord {
        lock.withLock {
            var versions = entries[name] ?? []
            if label == .current {
                for index in versions.indices where versions[index].label == .previous { versions[index].label = nil }
                for index in versions.indices where versions[index].label == .current { versions[index].label = .previous }
            } else {
                for index in versions.indices where versions[index].label == label { versions[index].label = nil }
            }
            var stored = record
            stored.version = (versions.last?.version ?? 0) + 1
            stored.label = label
            versions.append(stored)
            entries[name] = versions
            return stored
        }
    }

    public func list(prefix: String, context: OperationContext) async throws -> [SecretName] {
        lock.withLock { entries.keys.filter { $0.rawValue.hasPrefix(prefix) }.sorted() }
    }

    public func remove(_ name: SecretName, context: OperationContext) async throws {
        try lock.withLock {
            guard entries.removeValue(forKey: name) != nil else {
                throw KeywardError.usage("no entry \(name)")
            }
        }
    }

    /// Every version of `name`, oldest first.
    public func versions(of name: SecretName) -> [SecretRecord] {
        lock.withLock { entries[name] ?? [] }
    }

    /// Not keyed: tests only. The vault's fingerprint is a keyed HMAC.
    public func fingerprint(_ value: SecretValue) -> String {
        var hash: UInt32 = 2_166_136_261
        value.withRevealedBytes { for byte in $0 { hash = (hash ^ UInt32(byte)) &* 16_777_619 } }
        return String(format: "%08x", hash)
    }
}

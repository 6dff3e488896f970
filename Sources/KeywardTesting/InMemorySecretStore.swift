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

    public func read(_ name: SecretName, version: Int, context: OperationContext) async throws -> SecretRecord {
        try lock.withLock {
            guard let versions = entries[name] else { throw KeywardError.usage("no entry named \(name) in the store") }
            guard let record = versions.first(where: { $0.version == version }) else { throw KeywardError.usage("\(name) has no version \(version)") }
            return record
        }
    }

    public func history(_ name: SecretName, context: OperationContext) async throws -> [SecretVersionInfo] {
        let versions = try lock.withLock {
            guard let versions = entries[name] else { throw KeywardError.usage("no entry named \(name) in the store") }
            return versions
        }
        return versions.map {
            SecretVersionInfo(version: $0.version, labels: $0.label.map { [$0] } ?? [], createdAt: $0.createdAt, expiresAt: $0.expiresAt,
                              source: $0.source, txnId: $0.txnId, fingerprint: fingerprint($0.value), byteCount: $0.value.withRevealedBytes { $0.count })
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

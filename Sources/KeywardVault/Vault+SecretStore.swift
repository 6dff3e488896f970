import Dispatch
import Foundation
import KeywardCore

/// The vault through KeywardCore's seams. Each call runs on the vault's own serial queue: SQLite
/// and fsync block, and blocking one of Swift's cooperative threads (two on a two-core machine)
/// would stall the HTTP client and an in-process simulator while entities sync concurrently.
/// The vault serializes writes anyway, so the queue costs no throughput.
extension Vault: SecretStore, Fingerprinter, AuditLog {
    private static let queue = DispatchQueue(label: "keyward.vault.io")

    private func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Vault.queue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }

    public func read(_ name: SecretName, label: VersionLabel, context: OperationContext) async throws -> SecretRecord? {
        try await offload { try self.find(name, label: label) }
    }

    public func read(_ names: [SecretName], label: VersionLabel, context: OperationContext) async throws -> [SecretRecord?] {
        try await offload { try names.map { try self.find($0, label: label) } }
    }

    public func write(_ name: SecretName, record: SecretRecord, label: VersionLabel, context: OperationContext) async throws -> SecretRecord {
        try await offload {
            try self.put(
                name, record.value,
                metadata: VaultRecordMetadata(createdAt: record.createdAt, expiresAt: record.expiresAt, source: record.source, txnId: record.txnId),
                label: label)
        }
    }

    public func amend(_ name: SecretName, label: VersionLabel, expiresAt: Date?, txnId: String?, context: OperationContext) async throws -> SecretRecord {
        try await offload { try self.amend(name, label: label, expiresAt: expiresAt, txnId: txnId) }
    }

    public func list(prefix: String, context: OperationContext) async throws -> [SecretName] {
        try await offload { try self.list(prefix: prefix) }
    }

    public func remove(_ name: SecretName, context: OperationContext) async throws {
        try await offload { try self.remove(name) }
    }

    public func read(_ name: SecretName, version: Int, context: OperationContext) async throws -> SecretRecord {
        try await offload { try self.get(name, version: version) }
    }

    public func history(_ name: SecretName, context: OperationContext) async throws -> [SecretVersionInfo] {
        try await offload { try self.history(name) }
    }

    public func record(_ entry: AuditEntry) async throws {
        try await offload {
            try self.appendAudit(VaultAuditEvent(time: entry.time, operation: entry.operation, entity: entry.entity, outcome: entry.outcome, txnId: entry.txnId))
        }
    }

    public func record(_ entries: [AuditEntry]) async throws {
        try await offload {
            try self.appendAudit(entries.map {
                VaultAuditEvent(time: $0.time, operation: $0.operation, entity: $0.entity, outcome: $0.outcome, txnId: $0.txnId)
            })
        }
    }

    public func latestEntries(for entities: Set<String>, where matches: @escaping @Sendable (AuditEntry) -> Bool) async throws -> [String: AuditEntry] {
        try await offload {
            try self.latestAuditEvents(for: entities) { event in
                matches(AuditEntry(time: event.time, operation: event.operation, entity: event.entity, outcome: event.outcome, txnId: event.txnId))
            }.mapValues { AuditEntry(time: $0.time, operation: $0.operation, entity: $0.entity, outcome: $0.outcome, txnId: $0.txnId) }
        }
    }

    public func entries(since: Date?) async throws -> [AuditEntry] {
        try await offload {
            try self.auditEvents(since: since).map {
                AuditEntry(time: $0.time, operation: $0.operation, entity: $0.entity, outcome: $0.outcome, txnId: $0.txnId)
            }
        }
    }
}

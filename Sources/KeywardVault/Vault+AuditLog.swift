import Foundation
import KeywardCore

/// The vault's audit table through KeywardCore's ``AuditLog`` seam.
extension Vault: AuditLog {
    public func record(_ entry: AuditEntry) async throws {
        try appendAudit(VaultAuditEvent(time: entry.time, operation: entry.operation, entity: entry.entity, outcome: entry.outcome, txnId: entry.txnId))
    }

    public func entries(since: Date?) async throws -> [AuditEntry] {
        try auditEvents(since: since).map {
            AuditEntry(time: $0.time, operation: $0.operation, entity: $0.entity, outcome: $0.outcome, txnId: $0.txnId)
        }
    }
}

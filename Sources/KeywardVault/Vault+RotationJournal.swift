import Dispatch
import Foundation
import KeywardCore

/// The vault's rotation journal through KeywardCore's ``RotationJournal`` seam. Like the other
/// seam conformances, each call runs off Swift's cooperative pool: SQLite and fsync block.
extension Vault: RotationJournal {
    private static let journalQueue = DispatchQueue(label: "keyward.vault.journal")

    private func offloadJournal<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Vault.journalQueue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }

    public func beginRotation(entity: EntityID, context: OperationContext) async throws -> RotationJournalEntry {
        try await offloadJournal { Self.core(try self.openJournal(entity: entity)) }
    }

    public func advanceRotation(id: Int64, to state: RotationJournalState, txnId: String?, context: OperationContext) async throws
        -> RotationJournalEntry
    {
        try await offloadJournal { Self.core(try self.advanceJournal(id: id, to: Self.vault(state), txnId: txnId)) }
    }

    public func rotationEntries(context: OperationContext) async throws -> [RotationJournalEntry] {
        try await offloadJournal { try self.journalEntries().map(Self.core) }
    }

    public func storePendingSecret(_ name: SecretName, record: SecretRecord, journalID: Int64, state: RotationJournalState,
                                   context: OperationContext) async throws -> SecretRecord
    {
        try await offloadJournal {
            try self.put(
                name, record.value,
                metadata: VaultRecordMetadata(createdAt: record.createdAt, expiresAt: record.expiresAt, source: record.source, txnId: record.txnId),
                label: .pending, journal: (id: journalID, state: Self.vault(state)))
        }
    }

    public func promote(_ name: SecretName, version: Int, context: OperationContext) async throws {
        try await offloadJournal { try self.moveLabel(.current, of: name, toVersion: version) }
    }

    private static func core(_ entry: VaultJournalEntry) -> RotationJournalEntry {
        RotationJournalEntry(id: entry.id, entity: entry.entity, txnId: entry.txnId, state: core(entry.state),
                             createdAt: entry.createdAt, updatedAt: entry.updatedAt)
    }

    private static func core(_ state: VaultJournalState) -> RotationJournalState {
        switch state {
        case .pending: .pending
        case .sent: .sent
        case .stored: .stored
        case .done: .done
        case .aborted: .aborted
        }
    }

    private static func vault(_ state: RotationJournalState) -> VaultJournalState {
        switch state {
        case .pending: .pending
        case .sent: .sent
        case .stored: .stored
        case .done: .done
        case .aborted: .aborted
        }
    }
}

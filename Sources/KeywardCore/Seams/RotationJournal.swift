import Foundation

/// The rotation journal and the few store operations rotation needs to be crash-safe
/// (DESIGN.md, "Rotation", items 3 to 7). The vault implements it; every call is durable when
/// it returns.
public protocol RotationJournal: Sendable {
    /// Commits a `pending` entry for `entity`: the intent, written before reset is called.
    func beginRotation(entity: EntityID, context: OperationContext) async throws -> RotationJournalEntry

    /// Moves entry `id` to `state`, recording `txnId` when given.
    ///
    /// - Throws: the store's error for a transition the state machine forbids or an unknown id.
    func advanceRotation(id: Int64, to state: RotationJournalState, txnId: String?, context: OperationContext) async throws
        -> RotationJournalEntry

    /// Every entry, oldest first.
    func rotationEntries(context: OperationContext) async throws -> [RotationJournalEntry]

    /// Stores `record` as a new version of `name` labelled `pending` and advances entry
    /// `journalID` to `state`, in ONE transaction (item 4): a crash leaves both or neither.
    func storePendingSecret(_ name: SecretName, record: SecretRecord, journalID: Int64, state: RotationJournalState,
                            context: OperationContext) async throws -> SecretRecord

    /// Moves `current` to `version` of `name` (the old current becomes `previous`, the
    /// `pending` label is cleared from it).
    func promote(_ name: SecretName, version: Int, context: OperationContext) async throws
}

extension RotationJournal {
    /// Entries not `done` or `aborted`, oldest first.
    public func openRotations(context: OperationContext) async throws -> [RotationJournalEntry] {
        try await rotationEntries(context: context).filter { !$0.state.isClosed }
    }
}

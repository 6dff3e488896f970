import Foundation

/// One rotation journal entry. Times are UTC.
public struct RotationJournalEntry: Sendable, Equatable {
    public var id: Int64
    public var entity: EntityID
    /// The txnId of the reset (or of the read that recovered it), once known.
    public var txnId: String?
    public var state: RotationJournalState
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: Int64, entity: EntityID, txnId: String?, state: RotationJournalState, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.entity = entity
        self.txnId = txnId
        self.state = state
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

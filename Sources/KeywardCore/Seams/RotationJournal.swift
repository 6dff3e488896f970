import Foundation

/// The state of a rotation journal entry (DESIGN.md, "Rotation: a crash-safe state machine",
/// item 7): `pending` → `sent` → `stored` → `done`, or `aborted`.
public enum RotationJournalState: String, Sendable, Codable, CaseIterable {
    /// The intent is committed; reset not called yet.
    case pending
    /// The reset request is about to go, or went, out: its outcome may be unknown.
    case sent
    /// The new secret is in the vault as the `pending` version.
    case stored
    /// Finished: the vault follows the service.
    case done
    /// The service certainly did not act (400, 401, 429).
    case aborted

    /// `true` for `done` and `aborted`.
    public var isClosed: Bool { self == .done || self == .aborted }
}

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

/// An error that can say for certain that the service did not act on the request (400, 401,
/// 429): a reset failing so needs no recovery and its journal entry is `aborted`. Any other
/// failure of a reset leaves its outcome unknown, and rotation recovers by reading the secret,
/// never by a second reset (token-service-contract.md, "Reset semantics").
public protocol ServiceActionReporting: Error {
    var serviceDidNotAct: Bool { get }
}

/// An error that carries the service's own answer to "when may I try again" (HTTP
/// `Retry-After`, RFC 9110 section 10.2.3), in seconds. Schedulers wait at least that long.
public protocol RetryAfterReporting: Error {
    var retryAfterSeconds: Int? { get }
}

/// An error that carries the `txnId` of the service call that failed, so that the audit row of
/// a failed operation names it.
public protocol TransactionReporting: Error {
    var txnId: String? { get }
}

import Foundation

/// Who may rotate an entity now, and until when (DESIGN.md, "Architecture": the
/// `RotationCoordinator` seam; "Rotation", item 2). The local vault's file lock implements it
/// (KeywardVault); a shared store's lease wraps it. The engine asks this seam before it stores
/// or resets an entity's secret, and never opens a lock file itself.
///
/// Contract (checked by `KeywardTesting`'s coordinator conformance suite):
/// - while a lease on an entity is held, another ``acquire(_:context:)`` of that entity answers
///   ``RotationGrant/held(by:)`` at once (no waiting), naming the holder;
/// - after ``RotationLease/release()`` the next ``acquire(_:context:)`` is granted;
/// - what a holder recorded with ``RotationLease/advance(to:txnId:secretHash:)`` is the next
///   holder's ``RotationLease/inherited``, also when the holder died without releasing;
/// - fencing tokens of successive leases on one entity never decrease.
public protocol RotationCoordinator: Sendable {
    /// Asks for `entity`'s rotation lease without waiting.
    ///
    /// - Parameter context: `context.operation` says what the caller does (`sync`, `rotation`,
    ///   `recovery`, `schedule run`); a coordinator records it so a job that finds the lease
    ///   held can name the holder.
    /// - Returns: the lease, or ``RotationGrant/held(by:)`` when another holder has it.
    /// - Throws: ``KeywardError`` (operation failed) when the coordinator cannot answer (a lock
    ///   file that cannot be made, a server that cannot be reached).
    func acquire(_ entity: EntityID, context: OperationContext) async throws -> RotationGrant
}

/// The answer of ``RotationCoordinator/acquire(_:context:)``.
public enum RotationGrant: Sendable {
    /// Another job holds the entity: skip it, don't wait. `description` names the holder as it
    /// recorded itself (`a sync (pid 4242, since 2026-12-06T21:30:00Z)`), or `another job`.
    case held(by: String)
    /// This process may rotate the entity until the lease is released or lost.
    case granted(any RotationLease)
}

/// What a holder of an entity's lease recorded about its rotation: the next holder's
/// ``RotationLease/inherited``.
public struct RotationProgress: Sendable, Equatable, CustomStringConvertible {
    /// The journal state the holder reached.
    public var state: RotationJournalState
    /// The txnId of the reset (or of the read that recovered it), once known.
    public var txnId: String?
    /// A digest naming the secret the rotation started from, never the secret: the engine
    /// passes the vault's fingerprint of it (``Fingerprinter``). A taker compares it with the
    /// secret the service holds to tell whether the previous holder's reset happened.
    public var secretHash: String?

    public init(state: RotationJournalState, txnId: String? = nil, secretHash: String? = nil) {
        self.state = state
        self.txnId = txnId
        self.secretHash = secretHash
    }

    public var description: String {
        "\(state.rawValue)" + (txnId.map { " [txnId \($0)]" } ?? "")
    }
}

/// A held right to rotate one entity (DESIGN.md, "Architecture").
public protocol RotationLease: AnyObject, Sendable {
    /// Orders the holders of one entity: each lease's token is at least the previous one's.
    /// The local file lock has no such order and answers 0; a shared store's lease answers the
    /// version of its lease record.
    var fencingToken: UInt64 { get }
    /// What the previous holder recorded (``advance(to:txnId:secretHash:)``), or `nil` when no
    /// holder recorded anything.
    var inherited: RotationProgress? { get }
    /// Records that this holder's rotation reached `state`: durable when it returns, so a
    /// holder that dies leaves it to the next.
    ///
    /// - Throws: ``KeywardError`` (operation failed) when the lease was released or lost: the
    ///   caller must stop before acting on the entity (a reset above all).
    func advance(to state: RotationJournalState, txnId: String?, secretHash: String?) async throws
    /// Extends the lease (a shared store's lease expires; the local lock never does).
    ///
    /// - Throws: ``KeywardError`` (operation failed) when the lease was released or lost.
    func renew() async throws
    /// Gives the entity up. Idempotent; the lease is unusable afterwards.
    func release() async
}

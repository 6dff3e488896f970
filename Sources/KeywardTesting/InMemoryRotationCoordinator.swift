import Foundation
import KeywardCore

/// A ``RotationCoordinator`` in memory, for tests of the engine: leases per entity in this
/// process, fencing tokens counting up, progress kept for the next holder, and a log of every
/// call, so a test can see what the engine asked and in which order. It passes
/// ``RotationCoordinatorConformance``.
///
/// ``holdAsAnotherJob(_:by:)`` makes an entity look held by someone else, as a shared lease
/// held on another host would.
public final class InMemoryRotationCoordinator: RotationCoordinator, @unchecked Sendable {
    /// One call the engine made, in order.
    public enum Event: Sendable, Equatable {
        case acquired(EntityID, operation: String?, fencingToken: UInt64)
        case refused(EntityID, holder: String)
        case advanced(EntityID, RotationJournalState)
        case renewed(EntityID)
        case released(EntityID)
    }

    private struct Slot {
        var holder: String?
        var progress: RotationProgress?
        var token: UInt64 = 0
    }

    private let lock = NSLock()
    private var slots: [EntityID: Slot] = [:]
    private var log: [Event] = []

    public init() {}

    /// Every call so far, oldest first.
    public var events: [Event] { lock.withLock { log } }

    /// The states `entity`'s holders advanced to, in order.
    public func advances(of entity: EntityID) -> [RotationJournalState] {
        events.compactMap { if case .advanced(entity, let state) = $0 { state } else { nil } }
    }

    /// Makes `entity` held by another job described as `holder` until ``releaseOtherJob(_:)``.
    public func holdAsAnotherJob(_ entity: EntityID, by holder: String) {
        lock.withLock { slots[entity, default: Slot()].holder = holder }
    }

    /// Ends ``holdAsAnotherJob(_:by:)``.
    public func releaseOtherJob(_ entity: EntityID) {
        lock.withLock { slots[entity]?.holder = nil }
    }

    public func acquire(_ entity: EntityID, context: OperationContext) async throws -> RotationGrant {
        lock.withLock {
            var slot = slots[entity] ?? Slot()
            if let holder = slot.holder {
                log.append(.refused(entity, holder: holder))
                return .held(by: holder)
            }
            slot.token += 1
            slot.holder = "a \(context.operation ?? "rotation") (in memory, lease \(slot.token))"
            slots[entity] = slot
            log.append(.acquired(entity, operation: context.operation, fencingToken: slot.token))
            return .granted(Lease(coordinator: self, entity: entity, token: slot.token, inherited: slot.progress))
        }
    }

    fileprivate func advance(_ entity: EntityID, token: UInt64, to progress: RotationProgress) throws {
        try lock.withLock {
            guard slots[entity]?.token == token, slots[entity]?.holder != nil else {
                throw KeywardError.operationFailed("the rotation lease of \(entity) was released or lost")
            }
            slots[entity]?.progress = progress
            log.append(.advanced(entity, progress.state))
        }
    }

    fileprivate func renew(_ entity: EntityID, token: UInt64) throws {
        try lock.withLock {
            guard slots[entity]?.token == token, slots[entity]?.holder != nil else {
                throw KeywardError.operationFailed("the rotation lease of \(entity) was released or lost")
            }
            log.append(.renewed(entity))
        }
    }

    fileprivate func release(_ entity: EntityID, token: UInt64) {
        lock.withLock {
            guard slots[entity]?.token == token, slots[entity]?.holder != nil else { return }
            slots[entity]?.holder = nil
            log.append(.released(entity))
        }
    }

    private final class Lease: RotationLease, @unchecked Sendable {
        let coordinator: InMemoryRotationCoordinator
        let entity: EntityID
        let fencingToken: UInt64
        let inherited: RotationProgress?

        init(coordinator: InMemoryRotationCoordinator, entity: EntityID, token: UInt64, inherited: RotationProgress?) {
            self.coordinator = coordinator
            self.entity = entity
            self.fencingToken = token
            self.inherited = inherited
        }

        func advance(to state: RotationJournalState, txnId: String?, secretHash: String?) async throws {
            try coordinator.advance(entity, token: fencingToken, to: RotationProgress(state: state, txnId: txnId, secretHash: secretHash))
        }

        func renew() async throws { try coordinator.renew(entity, token: fencingToken) }

        func release() async { coordinator.release(entity, token: fencingToken) }
    }
}

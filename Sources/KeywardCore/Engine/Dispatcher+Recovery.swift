import Foundation
import Logging

extension Dispatcher {
    /// Finishes the rotations a crashed job left open for `ids` (DESIGN.md, "Rotation", item 7),
    /// each under its entity's lock, by `secret/read`, store and promote: never a second reset.
    /// Mutating commands (`sync`, `rotate`, `token`) call it first. An entity whose lock another
    /// job holds is left to that job. Does nothing in a dry run or without a journal.
    ///
    /// - Returns: the entities whose current secret changed.
    @discardableResult
    public func recoverOpenRotations(for ids: [EntityID], context: OperationContext) async -> [EntityID] {
        await recoverOpenRotationsReporting(for: ids, context: context).changed
    }

    /// What ``recoverOpenRotationsReporting(for:context:)`` did.
    public struct Recovery: Sendable {
        /// Entities whose current secret changed.
        public var changed: [EntityID] = []
        /// Entities with a rotation still open afterwards (its reset's outcome not known yet,
        /// the service unreachable, or another job holding the lock).
        public var open: [EntityID] = []
        /// Of ``open``: those whose reset's outcome is not known yet (see ``RotationSettling``).
        public var unresolved: [EntityID] = []
        /// Of ``open``: why each is still open, one sentence.
        public var reasons: [EntityID: String] = [:]
        /// Of ``open``: the txnId of the service call that failed, when one did (for the audit
        /// row of a command refused because of it).
        public var txnIds: [EntityID: String] = [:]
        /// Entities whose open rotation was closed `aborted` (nothing changed), with the change
        /// name saying why: ``SyncReport/Change/abortedUnsent`` or ``SyncReport/Change/abortedUnapplied``.
        public var aborted: [EntityID: SyncReport.Change] = [:]
    }

    /// ``recoverOpenRotations(for:context:)``, also naming the entities whose rotation is still
    /// open afterwards, so a long-running caller can look at them again soon.
    public func recoverOpenRotationsReporting(for ids: [EntityID], context: OperationContext) async -> Recovery {
        var recovery = Recovery()
        guard !context.dryRun, let vault, let coordinator else { return recovery }
        let journal: any RotationJournal = vault
        let open: [RotationJournalEntry]
        do {
            open = try await journal.openRotations(context: context)
        } catch {
            context.logger.warning("cannot read the rotation journal: \(SyncReport.ErrorInfo(error).message)")
            return recovery
        }
        for id in ids where open.contains(where: { $0.entity == id }) {
            let held = HeldLease()
            do {
                switch try await coordinator.acquire(id, context: context.doing("recovery")) {
                case .held(let holder):
                    context.logger.notice("\(id): another job holds the rotation lock (held by \(holder)) and will finish its open rotation")
                    recovery.open.append(id)
                    recovery.reasons[id] = "another job holds its rotation lock and will finish its open rotation"
                    continue
                case .granted(let lease):
                    held.lease = lease
                }
                let result = try await finishOpenRotations(id, provider: try provider(for: id), vault: vault, journal: journal, lease: held.lease!,
                                                           context: context)
                if result.changed { recovery.changed.append(id) }
                if let aborted = result.aborted { recovery.aborted[id] = aborted }
                if let unresolved = result.unresolved {
                    recovery.open.append(id)
                    recovery.unresolved.append(id)
                    recovery.reasons[id] = RotationSettling.unknownOutcome(unresolved, now: context.clock.now)
                    context.logger.warning("\(id): \(RotationSettling.unknownOutcome(unresolved, now: context.clock.now))")
                }
                await held.lease?.release()
            } catch {
                await held.lease?.release()
                recovery.open.append(id)
                recovery.txnIds[id] = Self.txnId(of: error)
                recovery.reasons[id] = "an interrupted rotation could not be finished yet: \(SyncReport.ErrorInfo(error).message)"
                context.logger.warning("\(id): an interrupted rotation could not be finished yet: \(SyncReport.ErrorInfo(error).message)")
            }
        }
        return recovery
    }

    /// What ``finishOpenRotations(_:provider:vault:journal:lease:context:)`` did for one entity.
    struct RecoveryResult {
        /// The vault's current secret changed (a reset's answer was found and stored).
        var changed = false
        /// An entry left open: its reset's outcome is not known yet (see ``RotationSettling``).
        var unresolved: RotationJournalEntry?
        /// An entry closed `aborted` without changing anything: ``SyncReport/Change/abortedUnsent``
        /// (its reset was never sent) or ``SyncReport/Change/abortedUnapplied`` (the service never
        /// applied it).
        var aborted: SyncReport.Change?
    }

    /// Finishes `id`'s open journal entries; the caller holds the entity's lock.
    ///
    /// - `pending`: the reset was never sent (the entry is committed, then the user token
    ///   fetched, then the entry advanced to `sent`, then the request made): closed `aborted`.
    /// - `sent`: `secret/read`. A secret other than the vault's current one is the reset's
    ///   answer: stored, tested, made current, `done`. The vault's own secret means the reset was
    ///   not applied, or not yet: the request may outlive the client's timeout. The entry stays
    ///   open until ``RotationSettling/settleSeconds`` after it was sent, then is closed `aborted`.
    /// - `stored`: the answer is in the vault as `pending`: tested, made current, `done`.
    func finishOpenRotations(_ id: EntityID, provider: any SecretProvider, vault: any VaultServices, journal: any RotationJournal,
                             lease: any RotationLease, context: OperationContext) async throws -> RecoveryResult
    {
        // Read again under the lock: the job that held it may have finished.
        let open = try await journal.openRotations(context: context).filter { $0.entity == id }
        var result = RecoveryResult()
        for entry in open {
            // One step per journal state, reading only (``RotationStateMachine``).
            let machine = RotationStateMachine(dispatcher: self, id: id, provider: provider, vault: vault, lease: lease, driver: .recovery,
                                               context: context)
            switch try await machine.run(from: entry) {
            case .aborted(let change):
                result.aborted = change == .abortedUnsent ? result.aborted ?? change : change
            case .unresolved(let left):
                result.unresolved = left
            case .settled(let settled, let answer, _):
                result.changed = result.changed || settled.changed
                // A `stored` entry may have been stopped during its fan-out, after making the new
                // secret current (so nothing looks changed now): its sinks are written too.
                if settled.changed || entry.state == .stored {
                    // The fan-out is part of the rotation (DESIGN.md, "Rotation", item 6): every sink
                    // naming the entity gets the new secret before the entry is closed, whichever
                    // command finishes it. A sink that fails is reported; the others still get it.
                    CrashHook.at(.duringSinks, environment: environment)
                    for name in try selectSinks([], entities: [id]) {
                        let (outcome, _) = await writeSink(name, vault: vault, context: context, fanOut: true)
                        if outcome.outcome == .failed {
                            context.logger.error("\(id): sink \(name) could not take the recovered secret: \(outcome.error?.message ?? "failed")")
                        }
                    }
                }
                try await machine.close(entry, as: .done, txnId: answer.txnId)
                // Every command that finishes it says so, once.
                let txn = answer.txnId.map { ", txnId \($0)" } ?? ""
                context.logger.warning("\(id): recovered an interrupted rotation (rotation \(entry.id)\(txn))")
                if let tokenError = settled.tokenError {
                    context.logger.warning("\(id): the recovered secret failed its test: \(SyncReport.ErrorInfo(tokenError).message)")
                }
                await recordAudit(AuditEntry(time: context.clock.now, operation: "rotate recover", entity: id.rawValue,
                                             outcome: settled.tokenError == nil ? .ok : .failed, txnId: answer.txnId),
                                  to: vault, context: context)
            }
        }
        return result
    }

    /// A sentence for `status` and `export` about each of `ids` that has an unfinished rotation,
    /// in the order of `ids`, from one read of the journal.
    func openRotationSummaries(_ ids: [EntityID], context: OperationContext) async throws -> [(id: EntityID, summary: String, state: RotationJournalState)] {
        guard let journal: any RotationJournal = vault else { return [] }
        let open = try await journal.openRotations(context: context)
        guard !open.isEmpty else { return [] }
        var latest: [EntityID: RotationJournalEntry] = [:]
        for entry in open { latest[entry.entity] = entry }
        return ids.compactMap { id in
            guard let entry = latest[id] else { return nil }
            let summary = "rotation \(entry.id) \(entry.state.rawValue) since \(Timestamps.format(entry.updatedAt))" + (entry.txnId.map { " [txnId \($0)]" } ?? "")
                + (entry.state == .pending ? ": its reset was never sent; \(Self.openRotationCloseHint)" : ": \(Self.openRotationHint)")
                + (entry.state == .sent ? " (if the service still shows the previous secret, not before \(Timestamps.format(RotationSettling.settlesAt(entry))))" : "")
            return (id, summary, entry.state)
        }
    }

    /// Which commands finish an open rotation (DESIGN.md, "Rotation", item 7).
    public static let openRotationHint = "the next sync, rotate, token, export or exec finishes it"
    /// … for an entry whose reset was never sent (`pending`): it is closed `aborted`.
    public static let openRotationCloseHint = "the next sync, rotate, token, export or exec closes it"
}

/// How long a reset whose answer was lost may still be applied by the service: the request can
/// outlive the client's timeout (a queue, a slow back end). Until then a `secret/read` that
/// still returns the previous secret proves nothing, so rotation neither resets again nor
/// closes the journal entry (token-service-contract.md, "Reset semantics": never a second reset).
public enum RotationSettling {
    /// Seconds after an entry went `sent` before "the service still shows the previous secret"
    /// is taken to mean that the reset was never applied: 300.
    public static let settleSeconds: TimeInterval = 300

    /// When `entry` (state `sent`) can be settled by a read that shows the previous secret.
    public static func settlesAt(_ entry: RotationJournalEntry) -> Date {
        entry.updatedAt.addingTimeInterval(settleSeconds)
    }

    /// The error text for a reset whose outcome is not known yet.
    static func unknownOutcome(_ entry: RotationJournalEntry, now: Date) -> String {
        "the reset of rotation \(entry.id) has no known outcome yet: the service still shows the previous secret, and the request may still be applied; "
            + "the rotation stays open and the next sync, rotate, token, export, exec or schedule cycle settles it (as not applied from \(Timestamps.format(settlesAt(entry))))"
    }
}

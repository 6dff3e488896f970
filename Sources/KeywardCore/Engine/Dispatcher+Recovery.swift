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
        guard !context.dryRun, let vault, let journal = vault as? any RotationJournal else { return [] }
        let open: [RotationJournalEntry]
        do {
            open = try await journal.openRotations(context: context)
        } catch {
            context.logger.warning("cannot read the rotation journal: \(SyncReport.ErrorInfo(error).message)")
            return []
        }
        var changed: [EntityID] = []
        for id in ids where open.contains(where: { $0.entity == id }) {
            do {
                guard let lock = try RotationLock.acquire(directory: journal.rotationLockDirectory, entity: id) else {
                    context.logger.notice("\(id): another job holds the rotation lock and will finish its open rotation")
                    continue
                }
                if try await finishOpenRotations(id, provider: try provider(for: id), vault: vault, journal: journal, context: context) {
                    changed.append(id)
                }
                withExtendedLifetime(lock) {}
            } catch {
                context.logger.warning("\(id): an interrupted rotation could not be finished yet: \(SyncReport.ErrorInfo(error).message)")
            }
        }
        return changed
    }

    /// Finishes `id`'s open journal entries; the caller holds the entity's lock.
    ///
    /// - Returns: `true` when the vault's current secret changed.
    func finishOpenRotations(_ id: EntityID, provider: any SecretProvider, vault: any VaultServices, journal: any RotationJournal,
                             context: OperationContext) async throws -> Bool
    {
        // Read again under the lock: the job that held it may have finished.
        let open = try await journal.openRotations(context: context).filter { $0.entity == id }
        var changed = false
        for entry in open {
            let read = try await provider.readSecret(for: id, context: context)
            let settled = try await settle(entry, answer: read.record, id: id, provider: provider, vault: vault, journal: journal, context: context)
            changed = changed || settled.changed
            _ = try await journal.advanceRotation(id: entry.id, to: .done, txnId: read.record.txnId, context: context)
            if let tokenError = settled.tokenError {
                context.logger.warning("\(id): the recovered secret failed its test: \(SyncReport.ErrorInfo(tokenError).message)")
            }
            try? await vault.record(AuditEntry(time: context.clock.now, operation: "rotate recover", entity: id.rawValue,
                                               outcome: settled.tokenError == nil ? "ok" : "failed", txnId: read.record.txnId))
        }
        return changed
    }

    /// A sentence for `status` about `id`'s unfinished rotation, if any; `nil` without one.
    func openRotationSummary(_ id: EntityID, context: OperationContext) async throws -> String? {
        try await openRotationSummaries([id], context: context).first?.summary
    }

    /// ``openRotationSummary(_:context:)`` for each of `ids` that has an unfinished rotation, in
    /// the order of `ids`, from one read of the journal.
    func openRotationSummaries(_ ids: [EntityID], context: OperationContext) async throws -> [(id: EntityID, summary: String)] {
        guard let journal = vault as? any RotationJournal else { return [] }
        let open = try await journal.openRotations(context: context)
        guard !open.isEmpty else { return [] }
        var latest: [EntityID: RotationJournalEntry] = [:]
        for entry in open { latest[entry.entity] = entry }
        return ids.compactMap { id in
            guard let entry = latest[id] else { return nil }
            let summary = "rotation \(entry.id) \(entry.state.rawValue) since \(Timestamps.format(entry.updatedAt))" + (entry.txnId.map { " [txnId \($0)]" } ?? "")
                + ": the next sync, rotate or token finishes it"
            return (id, summary)
        }
    }
}

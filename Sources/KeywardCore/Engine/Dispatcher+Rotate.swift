import Foundation
import Logging

/// Whether a secret is due for rotation, and why (DESIGN.md, "Rotation", item 1).
public struct RotationDecision: Sendable, Equatable {
    public var due: Bool
    /// A sentence for plans and reports.
    public var reason: String

    /// A secret is due when `expiresAt - now <= rotateBefore`, where `rotateBefore` is capped at
    /// a third of the secret's lifetime (see ``window(expiresAt:createdAt:secretExpiryDays:rotateBefore:createdByReset:)``),
    /// so a short-lived secret cannot cause a rotation loop. A secret without expiry is never due
    /// unless forced; an expired one always is.
    ///
    /// - Parameter secretExpiryDays: the validity a reset grants, in days
    ///   (``EntityConfiguration/grantedValidityDays``); `nil` when the provider does not say.
    /// - Parameter rotateBefore: the entity's `rotateBefore` (``EntityConfiguration/rotateBefore``), a `Duration`.
    public static func decide(expiresAt: Date?, createdAt: Date, secretExpiryDays: Int?, rotateBefore: Duration,
                              now: Date, force: Bool, createdByReset: Bool = true) -> RotationDecision
    {
        if force { return RotationDecision(due: true, reason: "--force") }
        guard let expiresAt else { return RotationDecision(due: false, reason: "the secret has no expiry: rotated only with --force") }
        let window = window(expiresAt: expiresAt, createdAt: createdAt, secretExpiryDays: secretExpiryDays, rotateBefore: rotateBefore,
                            createdByReset: createdByReset)
        let left = expiresAt.timeIntervalSince(now)
        let windowText = DurationParser.format(seconds: Int64(window))
        if left <= 0 {
            return RotationDecision(due: true, reason: "the secret expired at \(Timestamps.format(expiresAt))")
        }
        if left <= window {
            return RotationDecision(due: true, reason: "the secret expires \(Timestamps.format(expiresAt)), within the rotation window of \(windowText)")
        }
        return RotationDecision(
            due: false,
            reason: "the secret expires \(Timestamps.format(expiresAt)); due from \(Timestamps.format(expiresAt.addingTimeInterval(-window))) (window \(windowText))")
    }

    /// The rotation window as a `TimeInterval` (seconds, for `Date` arithmetic): `rotateBefore`
    /// (a `Duration`), capped at a third of the secret's lifetime.
    /// A secret is due from `expiresAt - window` on.
    ///
    /// The lifetime of a secret Keyward's own reset created is exact: `expiresAt - createdAt`
    /// (what the service granted, perhaps less than asked, so the cap prevents a loop). A secret
    /// first seen by a sync (adopted mid-life, or reset elsewhere) is older than its record, so
    /// its lifetime is taken as the validity the provider grants (`secretExpiryDays`: the entity's
    /// ``EntityConfiguration/grantedValidityDays``), or the record's span when that is longer: a secret
    /// adopted with 10 days left and a 15-day `rotateBefore` is due at once, not 3 days before
    /// expiry. At worst that rotates an adopted secret once early; the reset's own record is then
    /// exact. With neither a lifetime nor a granted validity, the window is `rotateBefore`.
    public static func window(expiresAt: Date, createdAt: Date, secretExpiryDays: Int?, rotateBefore: Duration,
                              createdByReset: Bool = true) -> TimeInterval
    {
        let granted = secretExpiryDays.map { Double($0) * 86_400 }
        var lifetime = expiresAt.timeIntervalSince(createdAt)
        if lifetime <= 0 {
            guard let granted else { return rotateBefore.timeInterval }
            lifetime = granted
        }
        if !createdByReset, let granted { lifetime = max(lifetime, granted) }
        return min(rotateBefore.timeInterval, lifetime / 3)
    }
}

extension Dispatcher {
    /// One entity's part of a rotation run.
    private struct EntityRotation {
        var outcome: SyncReport.EntityOutcome
        var plan: [SyncReport.PlanAction] = []
        /// Held until the sinks are written and the journal closed.
        var lease: (any RotationLease)?
        /// The journal entry to close `done` after the sinks.
        var journalID: Int64?
        var txnId: String?
        /// A new secret became current: the entity's sinks are written.
        var changed = false
    }

    /// Resets the secrets that are due (or every named one with `force`), tests them by minting
    /// an entity token, makes them current and writes every sink that names them, following
    /// DESIGN.md's crash-safe state machine ("Rotation: a crash-safe state machine").
    ///
    /// Each entity is rotated under its rotation lock; an entity whose lock another job holds is
    /// reported `skipped`. Reset is called at most once per entity; a reset whose outcome is
    /// unknown is recovered by `secret/read`. With `context.dryRun` it resets and writes nothing
    /// and returns the plan (what is due and why).
    ///
    /// - Throws: ``KeywardError`` (usage) for an unknown entity or a provider that cannot reset
    ///   secrets, before anything is reset; every other failure is reported per entity or sink.
    /// - Parameter operation: who rotates, recorded in each entity's rotation lock for the
    ///   message of a job that finds it held: `rotation` by default, `schedule run` for the scheduler.
    public func rotate(entities names: [String], force: Bool, operation: String = "rotation", context: OperationContext) async throws -> SyncReport {
        let vault = try requireVault()
        let journal: any RotationJournal = vault
        // With a shared store its lease (which wraps this host's lock) guards the reset.
        let coordinator: any RotationCoordinator = shared ?? self.coordinator ?? vault
        var ids = try selectEntities(names)
        // Followers never reset (DESIGN.md, "Followers"): naming one is a usage error; `--all`
        // and the scheduler leave them out and say so.
        let followers = ids.filter(followsShared)
        if !names.isEmpty, let follower = followers.first {
            throw KeywardError.usage("entity '\(follower)' follows the shared store (secretSource: shared): "
                                     + "the host that reads it from the service rotates it; `keyward sync` picks up what it publishes")
        }
        ids.removeAll(where: followsShared)
        for id in ids {
            let provider = try provider(for: id)
            guard provider is any SecretRotator else {
                throw KeywardError.usage("entity '\(id)': provider '\(provider.name)' cannot reset secrets")
            }
        }
        try await checkDestinationsReady(sinks: try selectSinks([], entities: ids), context: context)
        // Rotations finished by other jobs after this process started count as this run's (16
        // `rotate --force` started together reset once). No slack added: a rotation finished just
        // before this process started (a recovery by the previous command, say) is not this run's.
        let runStart = context.processStartedAt ?? context.clock.now
        // `--force` on many hosts makes one reset: a publication made after this process
        // started satisfies it (DESIGN.md, "Due, across hosts"). Noted before any lease.
        var startGenerations: [EntityID: UInt64] = [:]
        if force, let shared, !context.dryRun {
            for id in ids { startGenerations[id] = try await shared.publication(of: id, context: context)?.generation ?? 0 }
        }

        // Finish what a crashed job left first, for every entity named, due or not (item 7).
        let recovery = await recoverOpenRotationsReporting(for: ids, context: context)
        let recovered = recovery.changed
        var rotations: [EntityRotation] = []
        for id in ids {
            if recovered.contains(id) {
                // The interrupted rotation's reset was this entity's rotation: finished, not repeated.
                // Said on stderr by the recovery itself (one line, with the rotation and txnId).
                var rotation = EntityRotation(outcome: SyncReport.EntityOutcome(
                    id: id.rawValue, outcome: .ok, error: nil, warnings: [],
                    secretVersion: nil, secretFingerprint: nil, secretExpiresAt: nil, tokenExpiresAt: nil, changes: [.recovered]))
                rotation.changed = true
                fill(&rotation.outcome, with: try? await vault.read(.entitySecret(id), label: .current, context: context), vault: vault)
                rotation.outcome.tokenExpiresAt = try? await vault.read(.entityToken(id), label: .current, context: context)?.expiresAt
                rotations.append(rotation)
                continue
            }
            rotations.append(await rotateEntity(id, force: force, runStart: runStart, startGeneration: startGenerations[id], vault: vault,
                                                journal: journal, coordinator: coordinator, operation: operation, context: context))
        }
        for id in followers {
            var rotation = EntityRotation(outcome: SyncReport.EntityOutcome(
                id: id.rawValue, outcome: .skipped, error: nil, warnings: ["follows the shared store (secretSource: shared): never reset here"],
                secretVersion: nil, secretFingerprint: nil, secretExpiresAt: nil, tokenExpiresAt: nil, changes: []))
            fill(&rotation.outcome, with: try? await vault.read(.entitySecret(id), label: .current, context: context), vault: vault)
            rotations.append(rotation)
        }

        // A rotation closed `aborted` on the way (its reset never sent) is said, as the dry run
        // plans it, never `unchanged`.
        for index in rotations.indices {
            guard let id = EntityID(rotations[index].outcome.id), let change = recovery.aborted[id], !recovered.contains(id) else { continue }
            rotations[index].outcome.changes.insert(change, at: 0)
            if rotations[index].outcome.outcome == .unchanged { rotations[index].outcome.outcome = .ok }
        }
        let changed = rotations.filter(\.changed).compactMap { EntityID($0.outcome.id) }
        var sinkOutcomes: [SyncReport.SinkOutcome] = []
        var plan = rotations.flatMap(\.plan)
        let due = rotations.filter { $0.plan.contains { $0.action == .reset } }.compactMap { EntityID($0.outcome.id) }
        if context.dryRun {
            for name in try selectSinks([], entities: due) {
                let sink = configuration.sinks[name]
                let resets = (sink?.entities ?? []).filter(due.contains).map(\.rawValue).joined(separator: ", ")
                plan.append(.init(action: .writeSink, target: name, oldFingerprint: nil, newFingerprint: nil,
                                  detail: (sink?.path.map { "\($0): " } ?? "") + "the plan resets \(resets)"))
            }
        } else {
            for (index, name) in try selectSinks([], entities: changed).enumerated() {
                if index == 1 { CrashHook.at(.duringSinks, environment: environment) }
                sinkOutcomes.append(await writeSink(name, vault: vault, context: context, fanOut: true).0)
            }
            if sinkOutcomes.count == 1 { CrashHook.at(.duringSinks, environment: environment) }
        }

        for index in rotations.indices {
            if let id = rotations[index].journalID {
                do {
                    let closed = try await journal.advanceRotation(id: id, to: .done, txnId: nil, context: context)
                    do {
                        try await rotations[index].lease?.advance(to: .done, txnId: closed.txnId, secretHash: nil)
                    } catch {
                        rotations[index].outcome.warnings.append(
                            "the rotation lease could not record 'done' (\(SyncReport.ErrorInfo(error).message)); the next holder finds the rotation by reading the service")
                    }
                } catch {
                    rotations[index].outcome.warnings.append("the rotation journal entry \(id) could not be closed; the next run finishes it")
                }
            }
            let rotation = rotations[index]
            for warning in rotation.outcome.warnings { context.logger.warning("\(rotation.outcome.id): \(warning)") }
            await recordAudit(AuditEntry(time: context.clock.now, operation: context.dryRun ? "rotate --dry-run" : "rotate",
                                         entity: rotation.outcome.id, outcome: rotation.outcome.outcome, txnId: rotation.txnId),
                              to: vault, context: context)
        }
        // The leases are released here, once every sink holds the new secrets.
        let outcomes = rotations.map(\.outcome)
        for rotation in rotations { await rotation.lease?.release() }
        let report = SyncReport(dryRun: context.dryRun, entities: outcomes, sinks: sinkOutcomes, plan: context.dryRun ? plan : nil)
        EngineMetrics.countRotations(report)
        return report
    }

    private func rotateEntity(_ id: EntityID, force: Bool, runStart: Date, startGeneration: UInt64?, vault: any VaultServices, journal: any RotationJournal,
                              coordinator: any RotationCoordinator, operation lockOperation: String, context: OperationContext) async -> EntityRotation
    {
        var rotation = EntityRotation(outcome: SyncReport.EntityOutcome(
            id: id.rawValue, outcome: .unchanged, error: nil, warnings: [], secretVersion: nil, secretFingerprint: nil,
            secretExpiresAt: nil, tokenExpiresAt: nil, changes: []))
        let name = SecretName.entitySecret(id)
        do {
            let entityConfiguration = configuration.entities[id]!
            let provider = try provider(for: id)
            if context.dryRun, let open = try await journal.openRotations(context: context).last(where: { $0.entity == id }) {
                if open.state == .pending {
                    rotation.plan.append(.init(action: .closeAborted, target: name.rawValue, oldFingerprint: nil, newFingerprint: nil,
                                               detail: "rotation \(open.id) is pending: its reset was never sent; a real run closes it first"))
                    rotation.outcome.changes.append(SyncReport.Change.abortedUnsent)
                } else {
                    rotation.plan.append(.init(action: .recover, target: name.rawValue, oldFingerprint: nil, newFingerprint: nil,
                                               detail: "rotation \(open.id) is \(open.state.rawValue): a real run finishes it by secret/read first, never by a second reset"))
                    rotation.outcome.changes.append(.recovered)
                }
                rotation.outcome.outcome = .ok
            }
            var current = try await vault.read(name, label: .current, context: context)
            let known: SecretRecord
            if let current {
                known = current
            } else {
                // Never synced: the service says when its secret expires.
                let read = try await provider.readSecret(for: id, context: context)
                known = read.record
                rotation.txnId = read.record.txnId
            }
            rotation.outcome.secretVersion = current?.version
            rotation.outcome.secretFingerprint = current.map { vault.fingerprint($0.value) }
            rotation.outcome.secretExpiresAt = known.expiresAt
            let decision = RotationDecision.decide(
                expiresAt: known.expiresAt, createdAt: known.createdAt, secretExpiryDays: entityConfiguration.grantedValidityDays,
                rotateBefore: entityConfiguration.rotateBefore, now: context.clock.now, force: force,
                createdByReset: known.createdByReset)
            guard decision.due else {
                rotation.plan.append(.init(action: .keep, target: name.rawValue, oldFingerprint: rotation.outcome.secretFingerprint,
                                           newFingerprint: nil, detail: "not due: \(decision.reason)"))
                return rotation
            }
            if context.dryRun {
                if let shared {
                    rotation.plan.append(.init(action: .takeLease, target: name.rawValue, oldFingerprint: nil, newFingerprint: nil,
                                               detail: "\(shared.location): the entity's rotation lease, with check-and-set; then the "
                                                   + "publication is read and a newer secret adopted before the due check"))
                }
                rotation.plan.append(.init(action: .reset, target: name.rawValue, oldFingerprint: rotation.outcome.secretFingerprint,
                                           newFingerprint: nil, detail: "due: \(decision.reason)"))
                if let shared {
                    rotation.plan.append(.init(action: .publish, target: name.rawValue, oldFingerprint: nil, newFingerprint: nil,
                                               detail: "\(shared.location): the new secret, as the service returns it then"))
                }
                // What a real run would do: never `unchanged` beneath a plan that changes it.
                rotation.outcome.outcome = .ok
                rotation.outcome.changes.append(.secret)
                return rotation
            }

            let lease: any RotationLease
            switch try await coordinator.acquire(id, context: context.doing(lockOperation)) {
            case .held(let holder):
                rotation.outcome.outcome = .skipped
                rotation.outcome.warnings.append("another job holds the rotation lock (held by \(holder)); skipped")
                return rotation
            case .granted(let granted):
                lease = granted
                rotation.lease = granted
            }

            // Under the lock: finish what a crashed job left, then look again (item 2).
            let recovery = try await finishOpenRotations(id, provider: provider, vault: vault, journal: journal, lease: lease, context: context)
            if recovery.changed {
                rotation.changed = true
                rotation.outcome.outcome = .ok
                rotation.outcome.changes.append(.recovered)
                current = try await vault.read(name, label: .current, context: context)
                fill(&rotation.outcome, with: current, vault: vault)
                return rotation
            }
            if let unresolved = recovery.unresolved {
                throw KeywardError.operationFailed(RotationSettling.unknownOutcome(unresolved, now: context.clock.now) + "; not reset again")
            }
            // A shared store: what another host's rotation left, or published, comes first.
            var adopted = false
            switch try await settleFromShared(id, provider: provider, lease: lease, vault: vault, startGeneration: startGeneration, context: context) {
            case .proceed:
                break
            case .adopted(let note):
                adopted = true
                rotation.changed = true
                rotation.outcome.outcome = .ok
                rotation.outcome.changes.append(.secret)
                rotation.outcome.warnings.append(note)
            case .settled(let changed, let reason):
                rotation.changed = changed
                if changed {
                    rotation.outcome.outcome = .ok
                    rotation.outcome.changes.append(.secret)
                }
                rotation.outcome.warnings.append(reason)
                fill(&rotation.outcome, with: try await vault.read(name, label: .current, context: context), vault: vault)
                return rotation
            }
            let again = try await vault.read(name, label: .current, context: context)
            if let again, again.version != current?.version, !adopted {
                fill(&rotation.outcome, with: again, vault: vault)
                rotation.outcome.warnings.append("another job rotated it just now; not reset again")
                return rotation
            }
            let finishedMeanwhile = try await journal.rotationEntries(context: context).contains {
                $0.entity == id && $0.state == .done && $0.updatedAt >= runStart
            }
            if finishedMeanwhile {
                rotation.outcome.warnings.append("another job rotated it during this run; not reset again")
                return rotation
            }
            if let again, !force {
                let recheck = RotationDecision.decide(
                    expiresAt: again.expiresAt, createdAt: again.createdAt, secretExpiryDays: entityConfiguration.grantedValidityDays,
                    rotateBefore: entityConfiguration.rotateBefore, now: context.clock.now, force: false,
                    createdByReset: again.createdByReset)
                guard recheck.due else {
                    fill(&rotation.outcome, with: again, vault: vault)
                    return rotation
                }
            }

            CrashHook.at(.beforeJournal, environment: environment)
            let entry = try await journal.beginRotation(entity: id, context: context)
            try await lease.advance(to: .pending, txnId: nil, secretHash: leaseDigest(known.value, vault: vault))
            CrashHook.at(.afterJournal, environment: environment)

            // pending → sent → stored, one step per state (``RotationStateMachine``); the entry
            // is closed `done` once the sinks are written. A failure before that point leaves
            // it open for the next mutating command to finish by secret/read.
            let machine = RotationStateMachine(
                dispatcher: self, id: id, provider: provider, vault: vault, lease: lease,
                driver: .rotation(provider as! any SecretRotator, known: known, validityDays: entityConfiguration.secretExpiryDays),
                context: context)
            let stop: RotationStateMachine.Stop
            do {
                stop = try await machine.run(from: entry)
            } catch {
                rotation.outcome.warnings += machine.warnings
                if let answer = machine.resetAnswer { rotation.txnId = answer.txnId }
                throw error
            }
            rotation.outcome.warnings += machine.warnings
            guard case .settled(let settled, let answer, let answerLost) = stop else {
                throw KeywardError.operationFailed("rotation \(entry.id) of \(id) stopped before it was stored")
            }
            rotation.txnId = answer.txnId
            rotation.journalID = entry.id
            fill(&rotation.outcome, with: settled.current, vault: vault)
            if settled.changed {
                rotation.changed = true
                rotation.outcome.changes.append(.secret)
                // Said on stdout too, not only in a warning.
                if answerLost { rotation.outcome.changes.append(.readBack) }
            }
            if settled.tokenMinted { rotation.outcome.changes.append(.token) }
            if shared != nil, settled.changed, let newSecret = settled.current {
                // Published only what the service holds now (a fresh read).
                do {
                    // The record differs from the new secret, so this reads the service again
                    // and publishes what it holds now.
                    try await publishIfBehind(id, serviceSecret: newSecret, provider: provider, vault: vault, context: context)
                    CrashHook.at(.afterPublish, environment: environment)
                } catch {
                    rotation.outcome.warnings.append("rotated, but not published (\(SyncReport.ErrorInfo(error).message)); the next sync or rotation publishes it")
                    throw error
                }
            }
            rotation.outcome.tokenExpiresAt = try await vault.read(.entityToken(id), label: .current, context: context)?.expiresAt
            if let tokenError = settled.tokenError {
                rotation.outcome.outcome = .failed
                // A failed test is an operation failure (exit 1), whatever the service's answer was.
                rotation.outcome.error = SyncReport.ErrorInfo(KeywardError.operationFailed(
                    "the new secret failed its test: \(SyncReport.ErrorInfo(tokenError).message)"))
                rotation.outcome.warnings.append("the new secret failed its test (minting an entity token); it is current anyway, since the service reset it")
            } else {
                rotation.outcome.outcome = .ok
            }
        } catch {
            rotation.outcome.outcome = .failed
            rotation.outcome.error = SyncReport.ErrorInfo(error)
        }
        return rotation
    }

    private func fill(_ outcome: inout SyncReport.EntityOutcome, with record: SecretRecord?, vault: any VaultServices) {
        guard let record else { return }
        outcome.secretVersion = record.version
        outcome.secretFingerprint = vault.fingerprint(record.value)
        outcome.secretExpiresAt = record.expiresAt
    }

    /// What a ``RotationStateMachine`` did once the vault follows the service.
    struct Settled {
        var current: SecretRecord?
        var changed: Bool
        var tokenMinted: Bool
        var tokenError: (any Error)?
    }
}

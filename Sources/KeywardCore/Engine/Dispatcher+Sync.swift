import Foundation
import Logging

/// What `keyward sync` is asked to do.
public struct SyncRequest: Sendable {
    /// Entity ids; empty for every configured entity.
    public var entities: [String]
    /// Sink names; empty for every sink that names one of the entities.
    public var sinks: [String]
    /// Entities handled at once (default 8).
    public var concurrency: Int
    /// Called after each entity with (done, total), for a progress line.
    public var progress: (@Sendable (Int, Int) -> Void)?

    public init(entities: [String] = [], sinks: [String] = [], concurrency: Int = 8, progress: (@Sendable (Int, Int) -> Void)? = nil) {
        self.entities = entities
        self.sinks = sinks
        self.concurrency = concurrency
        self.progress = progress
    }
}

extension Dispatcher {
    /// Brings each entity's current secret into the vault, mints an entity access token when
    /// none is valid for longer than `tokenRefreshBefore`, then writes the sinks that name the
    /// entities (DESIGN.md, "Commands", `sync`).
    ///
    /// Entities run concurrently, `request.concurrency` at a time; a failing entity or sink
    /// never stops the others. A secret equal to the vault's current version stores nothing.
    /// With `context.dryRun` it calls only the read-only endpoints (user token, secret read),
    /// writes no vault entry and no file, and returns the plan; the audit row is its only write.
    ///
    /// - Throws: ``KeywardError`` (usage) for unknown entities or sinks, or when no vault is
    ///   open; every other failure is reported per entity or sink in the ``SyncReport``.
    public func sync(_ request: SyncRequest, context: OperationContext) async throws -> SyncReport {
        let vault = try requireVault()
        let ids = try selectEntities(request.entities)
        let sinkNames = try selectSinks(request.sinks, entities: ids)
        let limit = max(1, request.concurrency)
        // A rotation a crashed job left open is finished first (DESIGN.md, "Rotation", item 7).
        let recovery = await recoverOpenRotationsReporting(for: ids, context: context)
        let openRotations = Set(recovery.open)

        var outcomes: [EntityID: SyncReport.EntityOutcome] = [:]
        var plans: [EntityID: [SyncReport.PlanAction]] = [:]
        await withTaskGroup(of: (EntityID, SyncReport.EntityOutcome, [SyncReport.PlanAction]).self) { group in
            var pending = ids.makeIterator()
            for _ in 0..<min(limit, ids.count) {
                if let id = pending.next() {
                    group.addTask { await self.syncEntity(id, rotationOpen: openRotations.contains(id), vault: vault, context: context) }
                }
            }
            var done = 0
            while let (id, outcome, plan) = await group.next() {
                outcomes[id] = outcome
                plans[id] = plan
                done += 1
                request.progress?(done, ids.count)
                if let id = pending.next() {
                    group.addTask { await self.syncEntity(id, rotationOpen: openRotations.contains(id), vault: vault, context: context) }
                }
            }
        }

        for id in recovery.changed {
            guard var outcome = outcomes[id] else { continue }
            outcome.changes.insert("recovered", at: 0)
            outcome.warnings.append("finished an interrupted rotation first")
            context.logger.warning("\(id): finished an interrupted rotation first")
            if outcome.outcome == "unchanged" { outcome.outcome = "ok" }
            outcomes[id] = outcome
        }

        var sinkOutcomes: [SyncReport.SinkOutcome] = []
        var sinkPlan: [SyncReport.PlanAction] = []
        for name in sinkNames {
            let (outcome, plan) = await writeSink(name, vault: vault, context: context)
            sinkOutcomes.append(outcome)
            sinkPlan += plan
        }
        return SyncReport(
            dryRun: context.dryRun, entities: ids.compactMap { outcomes[$0] }, sinks: sinkOutcomes,
            plan: context.dryRun ? ids.flatMap { plans[$0] ?? [] } + sinkPlan : nil)
    }

    /// The sinks a run writes: those named (checked), or every sink naming one of `entities`.
    func selectSinks(_ names: [String], entities: [EntityID]) throws -> [String] {
        if names.isEmpty {
            return configuration.sinks.values.filter { !Set($0.entities).isDisjoint(with: entities) }.map(\.name).sorted()
        }
        for name in names where configuration.sinks[name] == nil {
            let known = configuration.sinks.keys.sorted().joined(separator: ", ")
            throw KeywardError.usage("sink '\(name)' is not in the configuration" + (known.isEmpty ? "" : " (configured: \(known))"))
        }
        return Array(Set(names)).sorted()
    }

    /// - Parameter rotationOpen: the entity has a rotation still open after recovery: its secret
    ///   is left to that rotation (a new one seen now may be its reset's answer, which recovery
    ///   stores as such), and only a token is minted when due.
    private func syncEntity(_ id: EntityID, rotationOpen: Bool, vault: any VaultServices, context: OperationContext) async
        -> (EntityID, SyncReport.EntityOutcome, [SyncReport.PlanAction])
    {
        var outcome = SyncReport.EntityOutcome(id: id.rawValue, outcome: "unchanged", error: nil, warnings: [], secretVersion: nil,
                                               secretFingerprint: nil, secretExpiresAt: nil, tokenExpiresAt: nil, changes: [])
        var plan: [SyncReport.PlanAction] = []
        var txnId: String?
        // The entity's rotation lock, held while its secret may be stored: a rotation running in
        // another process owns the entity until it has made its new secret current.
        var lock: RotationLock?
        defer { withExtendedLifetime(lock) {} }
        do {
            let entityConfiguration = configuration.entities[id]!
            let provider = try provider(for: id)
            if !context.dryRun, let journal = vault as? any RotationJournal {
                lock = try RotationLock.acquire(directory: journal.rotationLockDirectory, entity: id, operation: "sync")
                if lock == nil {
                    outcome.outcome = "skipped"
                    let holder = RotationLock.holder(directory: journal.rotationLockDirectory, entity: id)
                    outcome.warnings.append("its rotation lock is \(holder); skipped (that job writes its sinks)")
                    for warning in outcome.warnings { context.logger.warning("\(id): \(warning)") }
                    return (id, outcome, plan)
                }
            }
            let read = try await provider.readSecret(for: id, context: context)
            txnId = read.record.txnId
            outcome.warnings += read.warnings
            let secretName = SecretName.entitySecret(id)
            let existing = try await vault.read(secretName, label: .current, context: context)
            let newFingerprint = vault.fingerprint(read.record.value)
            let current: SecretRecord
            if let existing, rotationOpen, existing.value != read.record.value {
                current = existing
                outcome.warnings.append("a rotation is still open: the service's secret is left to it, the vault keeps version \(existing.version)")
            } else if let existing, existing.value == read.record.value {
                current = existing
                plan.append(.init(action: "keep", target: secretName.rawValue, oldFingerprint: newFingerprint, newFingerprint: newFingerprint,
                                  detail: "the service's secret equals the vault's version \(existing.version)"))
            } else if context.dryRun {
                current = read.record
                plan.append(.init(action: "store new version", target: secretName.rawValue, oldFingerprint: existing.map { vault.fingerprint($0.value) },
                                  newFingerprint: newFingerprint, detail: nil))
            } else {
                current = try await vault.write(secretName, record: read.record, label: .current, context: context)
                outcome.changes.append("secret")
            }
            outcome.secretVersion = current.version == 0 ? nil : current.version
            outcome.secretFingerprint = newFingerprint
            outcome.secretExpiresAt = current.expiresAt
            outcome.warnings += Self.expiryWarnings(current.expiresAt, now: context.clock.now)

            let tokenName = SecretName.entityToken(id)
            let token = try await vault.read(tokenName, label: .current, context: context)
            outcome.tokenExpiresAt = token?.expiresAt
            let now = context.clock.now
            let due = token?.expiresAt.map { $0.timeIntervalSince(now) <= Double(entityConfiguration.tokenRefreshBeforeSeconds) } ?? true
            if due, let issuer = provider as? any AccessTokenIssuer {
                if context.dryRun {
                    plan.append(.init(action: "mint token", target: tokenName.rawValue, oldFingerprint: token.map { vault.fingerprint($0.value) },
                                      newFingerprint: nil, detail: token?.expiresAt.map { "the held token expires \(Timestamps.format($0))" } ?? "no token held"))
                } else {
                    // Under the token lock: a token another process minted meanwhile is used.
                    let result = try await mintTokenIfDue(id, secret: current, issuer: issuer, vault: vault, operation: "sync", context: context)
                    outcome.warnings += result.warnings
                    outcome.tokenExpiresAt = result.record.expiresAt
                    if result.minted { outcome.changes.append("token") }
                }
            }
            outcome.outcome = outcome.changes.isEmpty ? "unchanged" : "ok"
        } catch {
            outcome.outcome = "failed"
            outcome.error = SyncReport.ErrorInfo(error)
        }
        for warning in outcome.warnings {
            context.logger.warning("\(id): \(warning)")
        }
        await recordAudit(AuditEntry(time: context.clock.now, operation: context.dryRun ? "sync --dry-run" : "sync",
                                           entity: id.rawValue, outcome: outcome.outcome, txnId: txnId), to: vault, context: context)
        return (id, outcome, plan)
    }

    /// Warnings for a secret's expiry: expired (inside or past the 5-day grace period of
    /// token-service-contract.md, "POST /entity/token/generate").
    static func expiryWarnings(_ expiresAt: Date?, now: Date) -> [String] {
        guard let expiresAt, expiresAt <= now else { return [] }
        let graceEnd = expiresAt.addingTimeInterval(5 * 86_400)
        if graceEnd > now {
            return ["the secret EXPIRED at \(Timestamps.format(expiresAt)); tokens are issued only during the grace period, until \(Timestamps.format(graceEnd)): rotate now"]
        }
        return ["the secret EXPIRED at \(Timestamps.format(expiresAt)) and its grace period ended \(Timestamps.format(graceEnd)): reset it"]
    }

    /// The credentials of `ids` as the vault holds them now.
    ///
    /// - Throws: ``KeywardError`` (operation failed) naming an entity with no secret in the vault.
    public func material(for ids: [EntityID], vault: any VaultServices, context: OperationContext) async throws -> [EntityMaterial] {
        let records = try await vault.read(ids.flatMap { [SecretName.entitySecret($0), .entityToken($0)] }, label: .current, context: context)
        return try ids.enumerated().map { index, id in
            guard let secret = records[2 * index] else {
                throw KeywardError.operationFailed("\(id): the vault holds no secret yet; run `keyward sync \(id)`")
            }
            return EntityMaterial(id: id, secret: secret, token: records[2 * index + 1])
        }
    }

    func writeSink(_ name: String, vault: any VaultServices, context: OperationContext) async -> (SyncReport.SinkOutcome, [SyncReport.PlanAction]) {
        let configuration = self.configuration.sinks[name]!
        var outcome = SyncReport.SinkOutcome(name: name, outcome: "failed", path: configuration.path, error: nil)
        var plan: [SyncReport.PlanAction] = []
        do {
            let sink = try registry.makeSink(configuration, environment: pluginEnvironment)
            outcome.path = sink.destination ?? configuration.path
            let material = try await material(for: configuration.entities, vault: vault, context: context)
            if context.dryRun {
                let planned = try await sink.plan(material, context: context)
                plan.append(.init(action: planned == .unchanged ? "keep sink" : "write sink", target: name, oldFingerprint: nil, newFingerprint: nil,
                                  detail: outcome.path))
                outcome.outcome = planned == .unchanged ? "unchanged" : "skipped"
            } else {
                let result = try await sink.write(material, context: context)
                outcome.outcome = result.rawValue
                try await runOnChange(of: configuration, written: result == .written, context: context)
            }
        } catch {
            outcome.outcome = "failed"
            outcome.error = SyncReport.ErrorInfo(error)
        }
        if !context.dryRun {
            await recordAudit(AuditEntry(time: context.clock.now, operation: "write sink \(name)", outcome: outcome.outcome), to: vault, context: context)
        }
        return (outcome, plan)
    }
}

extension Dispatcher {
    /// Runs `sink`'s `onChange` when its output changed (`written`) or an earlier run of the
    /// hook did not succeed (issue 12, item 5): the hook is marked pending before it runs and
    /// cleared when it succeeds, so one that failed, timed out or was interrupted by a kill
    /// runs again at the next write of the sink, changed or not.
    ///
    /// - Throws: ``KeywardError`` (operation failed) from ``HookRunner``, reported as the
    ///   sink's failure.
    func runOnChange(of sink: SinkConfiguration, written: Bool, context: OperationContext) async throws {
        let ledger = vault as? any HookLedger
        guard let command = sink.onChange else {
            ledger?.clearPendingHook(sink: sink.name)
            return
        }
        let pending = ledger?.pendingHooks().contains(sink.name) ?? false
        guard written || pending else { return }
        if pending && !written { context.logger.notice("sink \(sink.name): running its onChange again (it did not succeed last time)") }
        try ledger?.markHookPending(sink: sink.name, reason: written ? "output changed" : "retry")
        do {
            try await HookRunner.run(command, directory: configuration.file.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path },
                                     timeoutSeconds: sink.onChangeTimeoutSeconds, environment: environment)
        } catch {
            try? ledger?.markHookPending(sink: sink.name, reason: SyncReport.ErrorInfo(error).message)
            throw error
        }
        ledger?.clearPendingHook(sink: sink.name)
    }

    /// Sinks whose `onChange` is pending (a failed or interrupted hook), for a scheduler cycle
    /// that would not write them otherwise.
    func sinksWithPendingHooks() -> [String] {
        ((vault as? any HookLedger)?.pendingHooks() ?? []).filter { configuration.sinks[$0]?.onChange != nil }
    }
}

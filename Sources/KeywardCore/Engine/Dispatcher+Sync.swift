import Foundation
import Logging

/// What `keyward sync` is asked to do.
public struct SyncRequest: Sendable {
    /// Entity ids; empty for every configured entity.
    public var entities: [String]
    /// Sink names; empty for every sink that names one of the entities. Named alone (no
    /// entities), they also choose the entities: those the sinks name.
    public var sinks: [String]
    /// Entities handled at once (default 8).
    public var concurrency: Int
    /// Called after each entity with (done, total), for a progress line.
    public var progress: (@Sendable (Int, Int) -> Void)?
    /// Who runs the sync, as recorded in each entity's rotation lock for the message of a job
    /// that finds it held ("held by a schedule run (pid N, since …)"): `sync` by default.
    public var operation: String

    public init(entities: [String] = [], sinks: [String] = [], concurrency: Int = 8, progress: (@Sendable (Int, Int) -> Void)? = nil,
                operation: String = "sync") {
        self.entities = entities
        self.sinks = sinks
        self.concurrency = concurrency
        self.progress = progress
        self.operation = operation
    }
}

/// The entities whose token mint failed in one run, with the error's message: one failing mint
/// per entity per run is enough (the client already retried it), so the sinks that need the
/// entity's token fail naming that error instead of minting again, each with its own retries.
final class MintFailures: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [EntityID: String] = [:]

    init() {}

    func record(_ id: EntityID, _ error: any Error) {
        let message = SyncReport.ErrorInfo(error).message
        lock.withLock { messages[id] = message }
    }

    func message(for id: EntityID) -> String? {
        lock.withLock { messages[id] }
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
        let (ids, sinkNames) = try selection(for: request)
        let limit = max(1, request.concurrency)
        let mintFailures = MintFailures()
        try await checkDestinationsReady(sinks: sinkNames, stopWhenAway: false, context: context)
        // A rotation a crashed job left open is finished first (DESIGN.md, "Rotation", item 7).
        let recovery = await recoverOpenRotationsReporting(for: ids, context: context)
        let openRotations = Set(recovery.open)

        var outcomes: [EntityID: SyncReport.EntityOutcome] = [:]
        var plans: [EntityID: [SyncReport.PlanAction]] = [:]
        await withTaskGroup(of: (EntityID, SyncReport.EntityOutcome, [SyncReport.PlanAction]).self) { group in
            var pending = ids.makeIterator()
            for _ in 0..<min(limit, ids.count) {
                if let id = pending.next() {
                    group.addTask { await self.syncEntity(id, rotationOpen: openRotations.contains(id) ? recovery.reasons[id] ?? "its rotation is still open" : nil,
                                                         vault: vault, mintFailures: mintFailures, operation: request.operation, context: context) }
                }
            }
            var done = 0
            while let (id, outcome, plan) = await group.next() {
                outcomes[id] = outcome
                plans[id] = plan
                done += 1
                request.progress?(done, ids.count)
                if let id = pending.next() {
                    group.addTask { await self.syncEntity(id, rotationOpen: openRotations.contains(id) ? recovery.reasons[id] ?? "its rotation is still open" : nil,
                                                         vault: vault, mintFailures: mintFailures, operation: request.operation, context: context) }
                }
            }
        }

        if context.dryRun, let open = try? await openRotationSummaries(ids, context: context) {
            // A real run finishes these first (recovery runs only in real runs).
            for (id, summary, state) in open {
                guard var outcome = outcomes[id], outcome.outcome != .failed else { continue }
                // A reset never sent is closed `aborted` by the real run, which changes and
                // writes nothing else; any other open entry is finished.
                let unsent = state == .pending
                plans[id, default: []].insert(.init(action: unsent ? .closeAborted : .recover, target: SecretName.entitySecret(id).rawValue,
                                                    oldFingerprint: nil, newFingerprint: nil, detail: summary), at: 0)
                outcome.changes.insert(unsent ? SyncReport.Change.abortedUnsent : .recovered, at: 0)
                outcome.outcome = .ok
                outcomes[id] = outcome
            }
        }
        for id in recovery.changed {
            guard var outcome = outcomes[id] else { continue }
            // Said on stderr by the recovery itself (one line, with the rotation and txnId).
            outcome.changes.insert(.recovered, at: 0)
            outcome.warnings.append("finished an interrupted rotation first")
            if outcome.outcome == .unchanged { outcome.outcome = .ok }
            outcomes[id] = outcome
        }
        for (id, change) in recovery.aborted where !recovery.changed.contains(id) {
            // The journal entry was closed: said, never reported as "unchanged".
            guard var outcome = outcomes[id] else { continue }
            outcome.changes.insert(change, at: 0)
            if outcome.outcome == .unchanged { outcome.outcome = .ok }
            outcomes[id] = outcome
        }

        var sinkOutcomes: [SyncReport.SinkOutcome] = []
        var sinkPlan: [SyncReport.PlanAction] = []
        // In a dry run, a sink naming an entity the plan changes would be written: the vault
        // cannot show it yet (a fresh vault holds no secret at all).
        let closingOnly: Set<SyncReport.Change> = [SyncReport.Change.abortedUnsent, SyncReport.Change.abortedUnapplied]
        let changing = Set(outcomes.filter { !Set($0.value.changes).isSubset(of: closingOnly) }.map(\.key))
        // One sink after another: their hooks run in the configuration's order and the audit
        // log records them so (writing them concurrently, measured faster with one `openbao-kv`
        // sink per entity, would make both depend on timing).
        for name in sinkNames {
            let (outcome, plan) = await writeSink(name, vault: vault, context: context, planned: changing, mintFailures: mintFailures)
            sinkOutcomes.append(outcome)
            sinkPlan += plan
        }
        let report = SyncReport(
            dryRun: context.dryRun, entities: ids.compactMap { outcomes[$0] }, sinks: sinkOutcomes,
            plan: context.dryRun ? ids.flatMap { plans[$0] ?? [] } + sinkPlan : nil)
        EngineMetrics.countSyncs(report)
        return report
    }

    /// Checks, once per run and before any entity is synced, that the shared store and the
    /// named sinks that can be checked (``ReadinessChecking``: an `openbao-kv` mount) are usable
    /// (DESIGN.md, "Beyond one machine": a missing or KV v1 mount stops the run, exit 2).
    ///
    /// - Parameter stopWhenAway: whether a server that does not answer stops the run too (a
    ///   rotation: nothing may be reset without the lease). A `sync` goes on without it: this
    ///   host's vault and file sinks still follow the service, and what needs the server fails
    ///   per entity or sink (DESIGN.md, "When the server is away").
    /// - Throws: the store's or the sink's error: a missing or KV v1 mount (usage), a refused
    ///   token (authentication), and with `stopWhenAway` a server that does not answer.
    public func checkDestinationsReady(sinks names: [String], stopWhenAway: Bool = true, context: OperationContext) async throws {
        /// `nil` when the failure may be gone on from (a server away, in a sync).
        func stopping(_ error: any Error, sink: String?) -> (any Error)? {
            guard let error = error as? any CategorizedError else { return error }
            if error.category == .operationFailed, !stopWhenAway {
                context.logger.warning("\(sink.map { "sink \($0): " } ?? "")\(error.description); going on without it")
                return nil
            }
            return sink.map { KeywardError(error.category, "sink \($0): \(error.description)") } ?? error
        }
        if let shared {
            do {
                try await shared.checkReady(context: context)
            } catch {
                if let stop = stopping(error, sink: nil) { throw stop }
            }
        }
        var checks: [(name: String, sink: any ReadinessChecking)] = []
        for name in names {
            guard let configuration = configuration.sinks[name],
                let sink = try registry.makeSink(configuration, environment: pluginEnvironment) as? any ReadinessChecking
            else { continue }
            checks.append((name, sink))
        }
        // Checked 8 at a time (each is a round trip; a run with one `openbao-kv` sink per
        // entity has hundreds); the first failure in the sinks' order is the one thrown.
        var failures: [Int: any Error] = [:]
        await withTaskGroup(of: (Int, (any Error)?).self) { group in
            var pending = checks.enumerated().makeIterator()
            func start(_ next: (offset: Int, element: (name: String, sink: any ReadinessChecking))?) {
                guard let (index, check) = next else { return }
                group.addTask {
                    do {
                        try await check.sink.checkReady(context: context)
                        return (index, nil)
                    } catch {
                        return (index, error)
                    }
                }
            }
            for _ in 0..<min(8, checks.count) { start(pending.next()) }
            while let (index, error) = await group.next() {
                if let error { failures[index] = error }
                start(pending.next())
            }
        }
        for index in failures.keys.sorted() {
            if let stop = stopping(failures[index]!, sink: checks[index].name) { throw stop }
        }
    }

    /// The entities and sinks `request` names, checked against the configuration without
    /// touching the vault or the service: the CLI calls it before unlocking, so a typo exits 2
    /// naming it, never 4 for a locked vault.
    ///
    /// `--sink NAME` alone chooses the entities those sinks name. Named
    /// together with entities, each sink must name at least one of them: a sink that names none
    /// would be written from entities this run did not sync.
    ///
    /// - Throws: ``KeywardError`` (usage) naming an unknown entity or sink, or a sink that names
    ///   none of the entities.
    public func selection(for request: SyncRequest) throws -> (entities: [EntityID], sinks: [String]) {
        if request.entities.isEmpty, !request.sinks.isEmpty {
            let sinkNames = try selectSinks(request.sinks, entities: [])
            let named = Set(sinkNames.flatMap { configuration.sinks[$0]!.entities })
            return (configuration.entities.keys.sorted().filter(named.contains), sinkNames)
        }
        let ids = try selectEntities(request.entities)
        let sinkNames = try selectSinks(request.sinks, entities: ids)
        if !request.entities.isEmpty, !request.sinks.isEmpty {
            for name in sinkNames where Set(configuration.sinks[name]!.entities).isDisjoint(with: ids) {
                let names = configuration.sinks[name]!.entities.map(\.rawValue).joined(separator: ", ")
                throw KeywardError.usage("sink '\(name)' does not name \(ids.map(\.rawValue).joined(separator: " or ")) (it names \(names)): "
                                         + "name one of its entities, or leave out the entities to sync the ones it names")
            }
        }
        return (ids, sinkNames)
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

    /// - Parameter rotationOpen: why the entity's rotation is still open after recovery, if it
    ///   is: its secret is left to that rotation (a new one seen now may be its reset's answer,
    ///   which recovery stores as such), only a token is minted when due, and the entity fails
    ///   (the vault's secret, and every sink's, may be dead by now, e.g. a
    ///   reset whose outcome is unknown may still be applied). Another job holding the lock is
    ///   no failure: the entity is `skipped`, and that job finishes the rotation.
    /// - Parameter mintFailures: where a failed token mint is recorded, for the run's sinks.
    private func syncEntity(_ id: EntityID, rotationOpen openReason: String?, vault: any VaultServices, mintFailures: MintFailures,
                            operation lockOperation: String, context: OperationContext) async
        -> (EntityID, SyncReport.EntityOutcome, [SyncReport.PlanAction])
    {
        let held = HeldLease()
        let result = await syncEntity(id, rotationOpen: openReason, vault: vault, mintFailures: mintFailures, operation: lockOperation,
                                      held: held, context: context)
        await held.lease?.release()
        return result
    }

    /// ``syncEntity(_:rotationOpen:vault:mintFailures:operation:context:)``'s work; the lease it
    /// takes is left in `held`, released by the caller once the entity is done.
    private func syncEntity(_ id: EntityID, rotationOpen openReason: String?, vault: any VaultServices, mintFailures: MintFailures,
                            operation lockOperation: String, held: HeldLease, context: OperationContext) async
        -> (EntityID, SyncReport.EntityOutcome, [SyncReport.PlanAction])
    {
        var outcome = SyncReport.EntityOutcome(id: id.rawValue, outcome: .unchanged, error: nil, warnings: [], secretVersion: nil,
                                               secretFingerprint: nil, secretExpiresAt: nil, tokenExpiresAt: nil, changes: [])
        var plan: [SyncReport.PlanAction] = []
        var txnId: String?
        // The entity's rotation lease, held while its secret may be stored: a rotation running in
        // another process owns the entity until it has made its new secret current.
        do {
            let entityConfiguration = configuration.entities[id]!
            let provider = try provider(for: id)
            if !context.dryRun, let coordinator {
                switch try await coordinator.acquire(id, context: context.doing(lockOperation)) {
                case .granted(let granted):
                    held.lease = granted
                case .held(let holder):
                    outcome.outcome = .skipped
                    outcome.warnings.append("its rotation lock is held by \(holder); skipped (that job writes its sinks)")
                    for warning in outcome.warnings { context.logger.warning("\(id): \(warning)") }
                    return (id, outcome, plan)
                }
            }
            let read = try await readSourceSecret(id, provider: provider, context: context)
            txnId = read.record.txnId
            outcome.warnings += read.warnings
            let secretName = SecretName.entitySecret(id)
            let existing = try await vault.read(secretName, label: .current, context: context)
            let newFingerprint = vault.fingerprint(read.record.value)
            let current: SecretRecord
            let rotationOpen = openReason != nil
            if let existing, rotationOpen, existing.value != read.record.value {
                current = existing
                outcome.warnings.append("a rotation is still open: the service's secret is left to it, the vault keeps version \(existing.version)")
            } else if let existing, existing.value == read.record.value {
                if Self.sameInstant(existing.expiresAt, read.record.expiresAt) {
                    current = existing
                    plan.append(.init(action: .keep, target: secretName.rawValue, oldFingerprint: newFingerprint, newFingerprint: newFingerprint,
                                      detail: "the service's secret equals the vault's version \(existing.version)"))
                } else {
                    // The same bytes with another expiry (extended by the service, or a legacy
                    // secret that gained one): the vault follows the service, in place.
                    let change = "expiry \(existing.expiresAt.map(Timestamps.format) ?? "none") → \(read.record.expiresAt.map(Timestamps.format) ?? "none")"
                    if context.dryRun {
                        var amended = existing
                        amended.expiresAt = read.record.expiresAt
                        current = amended
                        plan.append(.init(action: .storeExpiry, target: secretName.rawValue, oldFingerprint: newFingerprint,
                                          newFingerprint: newFingerprint, detail: "same secret as version \(existing.version); \(change)"))
                    } else {
                        current = try await vault.amend(secretName, label: .current, expiresAt: read.record.expiresAt, txnId: read.record.txnId,
                                                        context: context)
                        context.logger.notice("\(id): the service reports a new expiry for the same secret: \(change)")
                    }
                    outcome.changes.append(.expiry)
                }
            } else if context.dryRun {
                current = read.record
                plan.append(.init(action: .storeNewVersion, target: secretName.rawValue, oldFingerprint: existing.map { vault.fingerprint($0.value) },
                                  newFingerprint: newFingerprint,
                                  detail: existing.map { "the service's secret differs from the vault's version \($0.version)" } ?? "the vault holds no secret yet"))
                // A dry run's outcome is what a real run would do: never `unchanged` beneath a
                // plan that changes the entity.
                outcome.changes.append(.secret)
            } else {
                current = try await vault.write(secretName, record: read.record, label: .current, context: context)
                outcome.changes.append(.secret)
            }
            outcome.secretVersion = current.version == 0 ? nil : current.version
            outcome.secretFingerprint = newFingerprint
            outcome.secretExpiresAt = current.expiresAt
            outcome.warnings += expiryWarnings(id, current.expiresAt, now: context.clock.now)

            let tokenName = SecretName.entityToken(id)
            let token = try await vault.read(tokenName, label: .current, context: context)
            outcome.tokenExpiresAt = token?.expiresAt
            let now = context.clock.now
            let due = token?.expiresAt.map { $0.timeIntervalSince(now) <= entityConfiguration.tokenRefreshBefore.timeInterval } ?? true
            if due, let issuer = provider as? any AccessTokenIssuer {
                if context.dryRun {
                    plan.append(.init(action: .mintToken, target: tokenName.rawValue, oldFingerprint: token.map { vault.fingerprint($0.value) },
                                      newFingerprint: nil, detail: token?.expiresAt.map { "the held token expires \(Timestamps.format($0))" } ?? "no token held"))
                    outcome.changes.append(.token)
                } else {
                    // Under the token lock: a token another process minted meanwhile is used.
                    let result: (record: SecretRecord, minted: Bool, warnings: [String])
                    do {
                        result = try await mintTokenIfDue(id, secret: current, issuer: issuer, vault: vault, operation: "sync", context: context)
                    } catch {
                        mintFailures.record(id, error)
                        throw error
                    }
                    outcome.warnings += result.warnings
                    outcome.tokenExpiresAt = result.record.expiresAt
                    if result.minted { outcome.changes.append(.token) }
                }
            }
            outcome.outcome = outcome.changes.isEmpty ? .unchanged : .ok
            if context.dryRun, openReason == nil, let shared, !followsShared(id) {
                // Reading is harmless: the plan says whether a real run would publish.
                let record = try await shared.publication(of: id, context: context)
                if record?.secret != read.record.value {
                    plan.append(.init(action: .publish, target: secretName.rawValue, oldFingerprint: nil, newFingerprint: newFingerprint,
                                      detail: "\(shared.location): " + (record.map { "generation \($0.generation) holds another secret" } ?? "nothing published yet")))
                }
            }
            if openReason == nil, shared != nil, !followsShared(id), !context.dryRun {
                // DESIGN.md, "Publication": what the service returned just now, unless the
                // record holds it already (one consistent read when it does).
                try await publishIfBehind(id, serviceSecret: read.record, provider: provider, vault: vault, context: context)
            }
            if let openReason, !context.dryRun {
                throw KeywardError.operationFailed(
                    "\(openReason); the service may already have replaced the vault's secret, "
                        + "so every sink written from it may hold a dead secret: run `keyward sync` again")
            }
        } catch {
            outcome.outcome = .failed
            outcome.error = SyncReport.ErrorInfo(error)
        }
        for warning in outcome.warnings {
            context.logger.warning("\(id): \(warning)")
        }
        await recordAudit(AuditEntry(time: context.clock.now, operation: context.dryRun ? "sync --dry-run" : "sync",
                                           entity: id.rawValue, outcome: outcome.outcome, txnId: txnId), to: vault, context: context)
        return (id, outcome, plan)
    }

    /// Refuses material that would hand out an expired entity access token (a dead credential
    /// is never delivered with exit 0).
    ///
    /// - Parameter keys: the output's key templates (`nil`: the defaults, which include the
    ///   token); material whose templates never use `{entity.token}` passes.
    /// - Throws: ``KeywardError`` (operation failed) naming the entity, the expiry and `what`.
    /// - Parameter why: per entity, why no new token could be minted.
    static func refuseExpiredTokens(_ material: [EntityMaterial], keys: [(key: String, template: KeyTemplate)]?, now: Date, what: String?,
                                    why: [EntityID: String] = [:]) throws {
        if let keys, !keys.contains(where: { $0.template.parts.contains(.placeholder(.token)) }) { return }
        for entity in material {
            guard let expiresAt = entity.token?.expiresAt, expiresAt <= now else { continue }
            throw KeywardError.operationFailed(
                (what.map { "\($0): " } ?? "") + "the entity access token of \(entity.id) expired at \(Timestamps.format(expiresAt)) and no new one could be minted"
                    + (why[entity.id].map { " (\($0))" } ?? "") + "; nothing written")
        }
    }

    /// Mints a new token for each entity of `material` whose token has expired (and whose
    /// provider mints tokens), stores it, audits it (`token`), and puts it in `material`.
    ///
    /// - Returns: per entity whose token could not be renewed, why.
    /// An entity whose mint already failed in this run (`mintFailures`) is not minted again.
    func renewExpiredTokens(_ material: inout [EntityMaterial], vault: any VaultServices, mintFailures: MintFailures,
                            context: OperationContext) async -> [EntityID: String] {
        var why: [EntityID: String] = [:]
        for index in material.indices {
            let id = material[index].id
            guard let expiresAt = material[index].token?.expiresAt, expiresAt <= context.clock.now,
                let provider = try? provider(for: id), provider is any AccessTokenIssuer
            else { continue }
            if let failed = mintFailures.message(for: id) {
                why[id] = "its mint failed in this run: \(failed)"
                continue
            }
            var txnId: String?
            do {
                material[index].token = try await validToken(for: id, vault: vault, context: context, txnId: &txnId)
                await recordAudit(AuditEntry(time: context.clock.now, operation: "token", entity: id.rawValue, outcome: .ok, txnId: txnId),
                                  to: vault, context: context)
            } catch {
                why[id] = SyncReport.ErrorInfo(error).message
                mintFailures.record(id, error)
                await recordAudit(AuditEntry(time: context.clock.now, operation: "token", entity: id.rawValue, outcome: .failed,
                                             txnId: Self.txnId(of: error) ?? txnId), to: vault, context: context)
            }
        }
        return why
    }

    /// Whether two expiries are the same instant at the vault's resolution (milliseconds);
    /// `nil` (no expiry) equals only `nil`.
    static func sameInstant(_ a: Date?, _ b: Date?) -> Bool {
        switch (a, b) {
        case (nil, nil): return true
        case let (a?, b?): return abs(a.timeIntervalSince(b)) < 0.001
        default: return false
        }
    }

    /// Warnings for `id`'s secret once it expired, in its provider type's words (what the
    /// service still allows: ``ProviderTypeDescriptor/expiryNotices``).
    func expiryWarnings(_ id: EntityID, _ expiresAt: Date?, now: Date) -> [String] {
        guard let expiresAt, expiresAt <= now else { return [] }
        let type = configuration.entities[id].flatMap { configuration.providers[$0.provider] }?.type
        let notices = type.flatMap { registry.providerDescriptor(type: $0) }?.expiryNotices ?? ProviderTypeDescriptor.plainExpiryNotice
        return notices(expiresAt, now)
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
            // An external provider without `token` mints none (DESIGN.md, "Plugins").
            let provider = configuration.entities[id].flatMap { configuration.providers[$0.provider] }
            let mintsTokens = provider?.external.map { $0.description.has("token") } ?? true
            return EntityMaterial(id: id, secret: secret, token: records[2 * index + 1], mintsTokens: mintsTokens)
        }
    }

    /// Writes one sink from the vault (in a dry run: plans it).
    ///
    /// - Parameters:
    ///   - planned: in a dry run, the entities whose plan changes their credentials: a sink
    ///     naming one of them is planned `write sink` without reading the vault.
    ///   - fanOut: a rotation's fan-out: the new secret reaches the sink even beside an expired
    ///     token (DESIGN.md, "Rotation", items 5 and 6; the failed test that left the token
    ///     expired fails the command). Otherwise an expired token is never written.
    ///   - mintFailures: the run's failed mints (an entity in it is not minted again); a new,
    ///     empty one when the caller keeps none.
    func writeSink(_ name: String, vault: any VaultServices, context: OperationContext,
                   planned: Set<EntityID> = [], fanOut: Bool = false, mintFailures: MintFailures = MintFailures())
        async -> (SyncReport.SinkOutcome, [SyncReport.PlanAction])
    {
        let configuration = self.configuration.sinks[name]!
        var outcome = SyncReport.SinkOutcome(name: name, outcome: .failed, path: configuration.path, error: nil)
        var plan: [SyncReport.PlanAction] = []
        // keyward_sink_writes_total (DESIGN.md, "Operability"): every real write, however it ended.
        defer { if !context.dryRun { EngineMetrics.countSinkWrite(sink: name, outcome: outcome.outcome) } }
        do {
            let sink = try registry.makeSink(configuration, environment: pluginEnvironment)
            outcome.path = sink.destination ?? configuration.path
            let changed = configuration.entities.filter(planned.contains)
            if context.dryRun, !changed.isEmpty {
                plan.append(.init(action: .writeSink, target: name, oldFingerprint: nil, newFingerprint: nil,
                                  detail: (outcome.path.map { "\($0): " } ?? "") + "the plan changes \(changed.map(\.rawValue).joined(separator: ", "))"))
                outcome.outcome = .skipped
                return (outcome, plan)
            }
            var material = try await material(for: configuration.entities, vault: vault, context: context)
            if !context.dryRun, !fanOut {
                // Never hand a dead credential to a sink: an expired token of
                // an entity this run did not sync (the sink names others too) is minted now, or
                // the sink is refused.
                let why = await renewExpiredTokens(&material, vault: vault, mintFailures: mintFailures, context: context)
                // No "sink NAME:" prefix: the report names the sink, and the command prefixes it.
                try Self.refuseExpiredTokens(material, keys: configuration.keys, now: context.clock.now, what: nil, why: why)
            }
            if context.dryRun {
                let planned = try await sink.plan(material, context: context)
                plan.append(.init(action: planned == .unchanged ? .keepSink : .writeSink, target: name, oldFingerprint: nil, newFingerprint: nil,
                                  detail: (outcome.path.map { "\($0): " } ?? "")
                                      + (planned == .unchanged ? "it already holds the vault's credentials" : "its content would change")))
                outcome.outcome = planned == .unchanged ? .unchanged : .skipped
            } else {
                // One process at a time writes this sink and runs its hook (waiting up to the
                // hook's timeout and kill grace, plus a minute for the write): a concurrent sync
                // then finds the file unchanged and the hook's marker cleared, so the hook runs
                // once per change however many syncs overlap.
                let write = { (_: Bool) async throws -> SinkWriteOutcome in
                    let result = try await sink.write(material, context: context)
                    try await self.runOnChange(of: configuration, written: result == .written, context: context)
                    return result
                }
                let result: SinkWriteOutcome
                if let ledger = self.vault {
                    let wait = (configuration.onChange == nil ? .zero : configuration.onChangeTimeout + .seconds(HookRunner.killGraceSeconds)) + .seconds(60)
                    result = try await ledger.withSinkLock(sink: name, timeout: wait, write)
                } else {
                    result = try await write(false)
                }
                outcome.outcome = SyncReport.SinkResult(result)
            }
        } catch {
            outcome.outcome = .failed
            outcome.error = SyncReport.ErrorInfo(error)
        }
        if !context.dryRun {
            await recordAudit(AuditEntry(time: context.clock.now, operation: "write sink \(name)", outcome: outcome.outcome.rawValue), to: vault, context: context)
        }
        return (outcome, plan)
    }
}

extension Dispatcher {
    /// Runs `sink`'s `onChange` when its output changed (`written`) or an earlier run of the
    /// hook did not succeed: the hook is marked pending before it runs and
    /// cleared when it succeeds, so one that failed, timed out or was interrupted by a kill
    /// runs again at the next write of the sink, changed or not.
    ///
    /// - Throws: ``KeywardError`` (operation failed) from ``HookRunner``, reported as the
    ///   sink's failure.
    func runOnChange(of sink: SinkConfiguration, written: Bool, context: OperationContext) async throws {
        let ledger: (any HookLedger)? = vault
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
                                     timeout: sink.onChangeTimeout, environment: environment)
        } catch {
            try? ledger?.markHookPending(sink: sink.name, reason: SyncReport.ErrorInfo(error).message)
            throw error
        }
        ledger?.clearPendingHook(sink: sink.name)
    }

    /// Sinks whose `onChange` is pending (a failed or interrupted hook), for a scheduler cycle
    /// that would not write them otherwise.
    func sinksWithPendingHooks() -> [String] {
        (vault?.pendingHooks() ?? []).filter { configuration.sinks[$0]?.onChange != nil }
    }
}

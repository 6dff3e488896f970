import Foundation
import Logging

/// How `keyward schedule run` paces itself. Every span is a `Duration`.
public struct ScheduleOptions: Sendable, Equatable {
    /// The entities scheduled; empty for every configured entity.
    public var entities: [String]
    /// The largest delay added to an entity's due time, so that entities (or hosts) that fall
    /// due together do not all call the token service in the same second. Each entity draws its
    /// own fraction of it once per process. Never more than a tenth of the window it delays
    /// into (`rotateBefore` or `tokenRefreshBefore`), so the work still happens well before the
    /// expiry. Default 300 s.
    public var maxJitter: Duration
    /// The longest sleep between two cycles. The loop looks at the vault at least this often,
    /// so it notices what other jobs rotated or synced. Default 3,600 s.
    public var maxSleep: Duration
    /// The delay before retrying an entity that failed, doubled after each consecutive failure
    /// up to ``maxRetry``. Default 30 s.
    public var retryBase: Duration
    /// The longest delay between retries of a failing entity. Default 900 s.
    public var maxRetry: Duration

    public init(entities: [String] = [], maxJitter: Duration = .seconds(300), maxSleep: Duration = .seconds(3_600),
                retryBase: Duration = .seconds(30), maxRetry: Duration = .seconds(900)) {
        self.entities = entities
        self.maxJitter = maxJitter
        self.maxSleep = maxSleep
        self.retryBase = retryBase
        self.maxRetry = maxRetry
    }
}

/// When one entity needs work next, computed from what the vault holds (its own expiries).
public struct EntitySchedule: Sendable, Equatable {
    /// When the secret falls due for rotation (UTC, jitter included): `expiresAt - window` plus
    /// the entity's jitter; `nil` for a secret without expiry or a provider that cannot reset.
    public var rotationDueAt: Date?
    /// When the entity access token should be minted again (UTC, jitter included):
    /// `expiresAt - tokenRefreshBefore` plus the entity's jitter; `nil` when the provider mints none.
    public var tokenRefreshAt: Date?
    /// The earliest of the two, or the retry time after a failure, or now when the vault holds
    /// no secret or no token yet.
    public var nextRunAt: Date?
    /// Why ``nextRunAt`` is what it is: `sync`, `rotate`, `refresh token`, `retry`.
    public var nextAction: Action?

    /// What an entity's next run does; the raw values are the words of the status file.
    public enum Action: String, Sendable, Codable, Equatable, CustomStringConvertible, ExpressibleByStringLiteral {
        case sync
        case rotate
        case refreshToken = "refresh token"
        case retry

        public var description: String { rawValue }

        /// For literals in code and tests; traps on a word that is not an action.
        public init(stringLiteral value: String) {
            guard let action = Action(rawValue: value) else { preconditionFailure("'\(value)' is not a scheduled action") }
            self = action
        }
    }

    /// The schedule of one entity.
    ///
    /// - Parameters:
    ///   - secret: the vault's current secret, `nil` when it holds none (then a sync is due now).
    ///   - tokenExpiresAt: the held entity token's expiry, `nil` when none is held.
    ///   - rotates: whether the entity's provider can reset secrets.
    ///   - issuesTokens: whether the entity's provider mints entity access tokens.
    ///   - jitterFraction: the entity's draw in `0..<1`, scaled by `maxJitter` (a `Duration`) and capped
    ///     at a tenth of each window.
    ///   - retryAt: after a failure, the earliest time to try again.
    public static func compute(secret: SecretRecord?, tokenExpiresAt: Date?, configuration: EntityConfiguration, rotates: Bool,
                               issuesTokens: Bool, now: Date, maxJitter: Duration, jitterFraction: Double,
                               retryAt: Date?) -> EntitySchedule
    {
        var schedule = EntitySchedule()
        func jitter(_ window: Double) -> Double { max(0, min(maxJitter.timeInterval, window / 10)) * jitterFraction }
        guard let secret else {
            schedule.nextRunAt = max(now, retryAt ?? now)
            schedule.nextAction = retryAt.map { $0 > now } == true ? .retry : .sync
            return schedule
        }
        if rotates, let expiresAt = secret.expiresAt {
            let window = RotationDecision.window(expiresAt: expiresAt, createdAt: secret.createdAt,
                                                 secretExpiryDays: configuration.grantedValidityDays,
                                                 rotateBefore: configuration.rotateBefore,
                                                 createdByReset: secret.createdByReset)
            // Never before the secret was first seen, as `status` shows it.
            schedule.rotationDueAt = max(secret.createdAt, expiresAt.addingTimeInterval(-window + jitter(window)))
        }
        if issuesTokens {
            if let tokenExpiresAt {
                let window = configuration.tokenRefreshBefore.timeInterval
                schedule.tokenRefreshAt = tokenExpiresAt.addingTimeInterval(-window + jitter(window))
            } else {
                schedule.tokenRefreshAt = now
            }
        }
        let candidates: [(Date, Action)] = [
            schedule.rotationDueAt.map { ($0, .rotate) }, schedule.tokenRefreshAt.map { ($0, .refreshToken) },
        ].compactMap { $0 }
        guard let earliest = candidates.min(by: { $0.0 < $1.0 }) else { return schedule }
        if let retryAt, retryAt > earliest.0 {
            schedule.nextRunAt = retryAt
            schedule.nextAction = .retry
        } else {
            schedule.nextRunAt = earliest.0
            schedule.nextAction = earliest.1
        }
        return schedule
    }
}

/// What `keyward schedule run --status-file` holds after each cycle: enough for a health check
/// (`lastCycle.finishedAt` fresh, `lastCycle.outcome` not `failed`) and for a person asking
/// "when does it act next, and on what". Times are RFC 3339 UTC. Never a secret value.
public struct ScheduleStatus: Sendable, Codable, Equatable {
    public var version = 1
    /// `starting` (written before the first cycle), `running`, or `stopped` once a shutdown was
    /// asked for and the last cycle finished.
    public var state: State

    /// The scheduler's state; the raw values are the words of the status file.
    public enum State: String, Sendable, Codable, Equatable, CustomStringConvertible {
        case starting
        case running
        case stopped

        public var description: String { rawValue }
    }
    /// The scheduler's process id.
    public var pid: Int32
    public var startedAt: Date
    /// When this document was written.
    public var updatedAt: Date
    /// Cycles run so far.
    public var cycles: Int
    public var lastCycle: Cycle?
    /// When the next cycle starts (`nil` once stopped).
    public var nextWakeAt: Date?
    public var entities: [Entity]
    /// The sinks written by the last cycle that wrote any.
    public var sinks: [SyncReport.SinkOutcome]

    public init(state: State, pid: Int32, startedAt: Date, updatedAt: Date, cycles: Int, lastCycle: Cycle?, nextWakeAt: Date?,
                entities: [Entity], sinks: [SyncReport.SinkOutcome]) {
        self.state = state
        self.pid = pid
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.cycles = cycles
        self.lastCycle = lastCycle
        self.nextWakeAt = nextWakeAt
        self.entities = entities
        self.sinks = sinks
    }

    /// One cycle: what it rotated and synced, and how that went.
    public struct Cycle: Sendable, Codable, Equatable {
        public var number: Int
        public var startedAt: Date
        public var finishedAt: Date
        /// `idle` (nothing was due), `ok` (nothing failed), `partial` (something failed and
        /// something worked) or `failed` (something failed and nothing worked).
        public var outcome: Outcome

        /// How a cycle went; the raw values are the words of the status file.
        public enum Outcome: String, Sendable, Codable, Equatable, CustomStringConvertible {
            case idle
            case ok
            case partial
            case failed

            public var description: String { rawValue }
        }
        /// Entities whose secret was reset and the new one made current.
        public var rotated: [String]
        /// Entities synced (a first sync, a token refresh, or a retry).
        public var synced: [String]
        /// Entities whose rotation or sync failed (each entity's `error` says why).
        public var failed: [String]
        /// Entities left alone because another job holds their rotation lock (not a failure).
        public var skipped: [String]
        /// Entities whose interrupted rotation was finished first.
        public var recovered: [String]
    }

    /// One entity: its last outcome and its schedule.
    public struct Entity: Sendable, Codable, Equatable {
        public var id: String
        /// The last outcome (`ok`, `unchanged`, `failed`, `skipped`), `nil` before the first run.
        public var outcome: SyncReport.Outcome?
        public var error: SyncReport.ErrorInfo?
        public var warnings: [String]
        public var lastRunAt: Date?
        public var lastSuccessAt: Date?
        public var consecutiveFailures: Int
        public var secretVersion: Int?
        public var secretExpiresAt: Date?
        public var tokenExpiresAt: Date?
        public var rotationDueAt: Date?
        public var tokenRefreshAt: Date?
        public var nextRunAt: Date?
        /// `sync`, `rotate`, `refresh token` or `retry`.
        public var nextAction: EntitySchedule.Action?
    }

    enum CodingKeys: String, CodingKey {
        case version, state, pid, startedAt, updatedAt, cycles, lastCycle, nextWakeAt, entities, sinks
    }

    // Absent values are written as explicit nulls, as `status --output json` does, so a
    // health check can tell "never" from a missing field.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(state, forKey: .state)
        try container.encode(pid, forKey: .pid)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(cycles, forKey: .cycles)
        try container.encode(lastCycle, forKey: .lastCycle)
        try container.encode(nextWakeAt, forKey: .nextWakeAt)
        try container.encode(entities, forKey: .entities)
        try container.encode(sinks, forKey: .sinks)
    }
}

extension ScheduleStatus.Entity {
    enum CodingKeys: String, CodingKey {
        case id, outcome, error, warnings, lastRunAt, lastSuccessAt, consecutiveFailures, secretVersion, secretExpiresAt,
             tokenExpiresAt, rotationDueAt, tokenRefreshAt, nextRunAt, nextAction
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(error, forKey: .error)
        try container.encode(warnings, forKey: .warnings)
        try container.encode(lastRunAt, forKey: .lastRunAt)
        try container.encode(lastSuccessAt, forKey: .lastSuccessAt)
        try container.encode(consecutiveFailures, forKey: .consecutiveFailures)
        try container.encode(secretVersion, forKey: .secretVersion)
        try container.encode(secretExpiresAt, forKey: .secretExpiresAt)
        try container.encode(tokenExpiresAt, forKey: .tokenExpiresAt)
        try container.encode(rotationDueAt, forKey: .rotationDueAt)
        try container.encode(tokenRefreshAt, forKey: .tokenRefreshAt)
        try container.encode(nextRunAt, forKey: .nextRunAt)
        try container.encode(nextAction, forKey: .nextAction)
    }
}

/// The loop behind `keyward schedule run` (DESIGN.md, "Commands", and "Rotation"): each cycle
/// finishes interrupted rotations, rotates the entities whose secret fell due, syncs those whose
/// entity token is due for refresh (or that the vault does not hold yet), rewrites their sinks,
/// then sleeps until the earliest entity's next due time.
///
/// A cycle is never interrupted: a shutdown asked for while it runs takes effect after it, so
/// no rotation journal entry is left open by a stop. The caller supplies how to sleep and how
/// to tell that a shutdown was asked for (the CLI uses swift-service-lifecycle's graceful
/// shutdown), and receives the status after every cycle.
public struct RotationScheduler: Sendable, CustomStringConvertible {
    /// The entities scheduled only: never the dispatcher's environment.
    public var description: String { "RotationScheduler(entities: \(entities.map(\.rawValue).joined(separator: ", ")))" }

    public let dispatcher: Dispatcher
    public let options: ScheduleOptions
    /// The entities scheduled, checked against the configuration.
    public let entities: [EntityID]
    /// Entities whose provider cannot reset secrets: synced and refreshed, never rotated.
    public let unrotatable: Set<EntityID>

    /// - Throws: ``KeywardError`` (usage) for an unknown entity or negative durations;
    ///   provider factory errors.
    public init(dispatcher: Dispatcher, options: ScheduleOptions) throws {
        guard options.maxJitter >= .zero, options.maxSleep > .zero, options.retryBase > .zero,
            options.maxRetry >= options.retryBase
        else { throw KeywardError.usage("schedule: jitter must be 0 or more, the longest sleep and the retry delays more than 0") }
        self.dispatcher = dispatcher
        self.options = options
        let ids = try dispatcher.selectEntities(options.entities)
        entities = ids
        unrotatable = Set(try ids.filter { !(try dispatcher.provider(for: $0) is any SecretRotator) })
        followers = Set(ids.filter(dispatcher.followsShared))
    }

    /// Entities that follow the shared store (`secretSource: shared`): never rotated here, and
    /// synced every cycle, so a secret another host publishes reaches this host within a cycle.
    public let followers: Set<EntityID>

    /// Runs cycles until `isStopping()` says so (checked before each cycle and after each
    /// sleep). `sleep(seconds)` must return early when a shutdown is asked for.
    ///
    /// - Throws: a ``CategorizedError`` of category `vault` or `usage` that no retry can mend
    ///   (the vault became unreadable, say); per-entity failures are retried with backoff and
    ///   reported in the status, never thrown.
    public func run(context: OperationContext, pid: Int32 = getpid(), isStopping: @Sendable () -> Bool,
                    sleep: @Sendable (Double) async -> Void, report: @Sendable (ScheduleStatus) async -> Void) async throws
    {
        let started = context.clock.now
        var state = LoopState(entities: entities, now: started)
        var status = ScheduleStatus(state: .running, pid: pid, startedAt: started, updatedAt: started, cycles: 0, lastCycle: nil,
                                    nextWakeAt: nil, entities: [], sinks: [])
        if !unrotatable.isEmpty {
            context.logger.warning("not rotated (their provider cannot reset secrets): \(unrotatable.sorted().map(\.rawValue).joined(separator: ", "))")
        }
        if !followers.isEmpty {
            context.logger.notice("following the shared store, never rotated here: \(followers.sorted().map(\.rawValue).joined(separator: ", "))")
        }
        context.logger.info("schedule: \(entities.count) \(entities.count == 1 ? "entity" : "entities"); jitter up to \(DurationParser.format(seconds: Int64(options.maxJitter.timeInterval)))")
        while !isStopping() {
            let before = try await computeSchedules(state: state, context: context)
            let cycleStart = ContinuousClock.now
            let cycle = try await runCycle(number: status.cycles + 1, schedules: before.schedules, state: &state, context: context)
            EngineMetrics.recordCycle(ContinuousClock.now - cycleStart)
            status.cycles += 1
            if let sinks = cycle.sinks { status.sinks = sinks }
            status.lastCycle = cycle.summary

            var after = try await computeSchedules(state: state, context: context)
            let now = context.clock.now
            // An entity acted on that is still due (the service keeps answering with a secret
            // inside its window, say) waits like a failure would, instead of spinning.
            // Every entity acted on counts, `unchanged` ones too (a rotation that found nothing to
            // do while the schedule still says it is due would otherwise wake the loop at once,
            // again and again).
            let stuck = cycle.attempted.sorted().filter {
                state.retryAt[$0] == nil && (after.schedules[$0]?.nextRunAt.map { $0 <= now } ?? false)
            }
            if !stuck.isEmpty {
                for id in stuck {
                    state.retryAt[id] = now.addingTimeInterval(options.retryBase.timeInterval)
                    context.logger.warning("\(id): still due after this cycle (\(after.schedules[id]?.nextAction ?? "run")); next try in \(DurationParser.format(seconds: Int64(options.retryBase.timeInterval)))")
                }
                after = try await computeSchedules(state: state, context: context)
            }
            let earliest = after.schedules.values.compactMap(\.nextRunAt).min()
            let wake = min(earliest ?? now.addingTimeInterval(options.maxSleep.timeInterval), now.addingTimeInterval(options.maxSleep.timeInterval))
            status.entities = entities.map { state.statusEntity($0, snapshot: after) }
            status.updatedAt = now
            status.nextWakeAt = max(wake, now)
            let stopping = isStopping()
            if stopping {
                status.state = .stopped
                status.nextWakeAt = nil
            }
            await report(status)
            log(cycle: cycle.summary, wake: stopping ? nil : (max(wake, now), nextEntity(after.schedules, at: wake)), context: context)
            if stopping { break }
            let seconds = wake.timeIntervalSince(now)
            if seconds > 0 { await sleep(seconds) }
        }
        if status.state != .stopped {
            status.state = .stopped
            status.nextWakeAt = nil
            status.updatedAt = context.clock.now
            await report(status)
        }
        context.logger.info("schedule: stopped after \(status.cycles) cycle\(status.cycles == 1 ? "" : "s")")
    }

    /// What the vault holds for an entity, for the status.
    struct Held {
        var secretVersion: Int?
        var secretExpiresAt: Date?
        var tokenExpiresAt: Date?
    }

    /// Every entity's schedule, and what the vault holds, at one moment.
    struct Snapshot {
        var schedules: [EntityID: EntitySchedule] = [:]
        var held: [EntityID: Held] = [:]
    }

    /// What the loop remembers between cycles.
    struct LoopState {
        var jitter: [EntityID: Double]
        var skips: [EntityID: Int] = [:]
        var last: [EntityID: SyncReport.EntityOutcome] = [:]
        var lastRunAt: [EntityID: Date] = [:]
        var lastSuccessAt: [EntityID: Date] = [:]
        var failures: [EntityID: Int] = [:]
        var retryAt: [EntityID: Date] = [:]

        init(entities: [EntityID], now: Date) {
            // One draw per entity for the process's life: stable, so a due time does not move
            // at every cycle, and different from another host's draw.
            jitter = Dictionary(uniqueKeysWithValues: entities.map { ($0, Double.random(in: 0..<1)) })
        }

        func statusEntity(_ id: EntityID, snapshot: Snapshot) -> ScheduleStatus.Entity {
            let last = last[id]
            let schedule = snapshot.schedules[id] ?? EntitySchedule()
            let held = snapshot.held[id]
            var warnings = last?.warnings ?? []
            if let skips = skips[id], skips >= 3 {
                warnings.append("another job has held its rotation lock for \(skips) cycles in a row")
            }
            return ScheduleStatus.Entity(
                id: id.rawValue, outcome: last?.outcome, error: last?.error, warnings: warnings, lastRunAt: lastRunAt[id],
                lastSuccessAt: lastSuccessAt[id], consecutiveFailures: failures[id] ?? 0, secretVersion: held?.secretVersion,
                secretExpiresAt: held?.secretExpiresAt, tokenExpiresAt: held?.tokenExpiresAt, rotationDueAt: schedule.rotationDueAt,
                tokenRefreshAt: schedule.tokenRefreshAt, nextRunAt: schedule.nextRunAt, nextAction: schedule.nextAction)
        }
    }

    /// Every entity's schedule from what the vault holds now.
    func computeSchedules(state: LoopState, context: OperationContext) async throws -> Snapshot {
        let vault = try dispatcher.requireVault()
        let records = try await vault.read(entities.flatMap { [SecretName.entitySecret($0), .entityToken($0)] }, label: .current, context: context)
        let now = context.clock.now
        var snapshot = Snapshot()
        for (index, id) in entities.enumerated() {
            guard let configuration = dispatcher.configuration.entities[id] else { continue }
            let provider = try dispatcher.provider(for: id)
            let secret = records[2 * index], token = records[2 * index + 1]
            snapshot.held[id] = Held(secretVersion: secret?.version, secretExpiresAt: secret?.expiresAt, tokenExpiresAt: token?.expiresAt)
            snapshot.schedules[id] = EntitySchedule.compute(
                secret: secret, tokenExpiresAt: token?.expiresAt, configuration: configuration,
                rotates: !unrotatable.contains(id) && !followers.contains(id), issuesTokens: provider is any AccessTokenIssuer, now: now,
                maxJitter: options.maxJitter, jitterFraction: state.jitter[id] ?? 0, retryAt: state.retryAt[id])
        }
        return snapshot
    }

    /// The entities (not followers, not about to rotate) whose vault holds another secret than
    /// the shared store's newer publication: another host rotated them, and this cycle syncs
    /// them (DESIGN.md, "Followers": within the next cycle). One consistent read per entity; a
    /// store that cannot be read leaves the cycle as it was.
    func behindPublication(excluding: Set<EntityID>, context: OperationContext) async -> Set<EntityID> {
        guard let shared = dispatcher.shared, let vault = dispatcher.vault else { return [] }
        var behind: Set<EntityID> = []
        for id in entities where !followers.contains(id) && !excluding.contains(id) {
            guard let publication = try? await shared.publication(of: id, context: context) else { continue }
            let held = try? await vault.read(.entitySecret(id), label: .current, context: context)
            if held?.value != publication.secret, (publication.secretExpiresAt ?? .distantPast) > (held?.expiresAt ?? .distantPast) {
                behind.insert(id)
            }
        }
        return behind
    }

    struct CycleResult {
        var summary: ScheduleStatus.Cycle
        var sinks: [SyncReport.SinkOutcome]?
        /// Every entity handed to rotate or sync this cycle, whatever it reported.
        var attempted: Set<EntityID> = []
    }

    /// One cycle: recover, rotate what is due, sync what needs a token or a first secret.
    func runCycle(number: Int, schedules: [EntityID: EntitySchedule], state: inout LoopState,
                  context: OperationContext) async throws -> CycleResult
    {
        let started = context.clock.now
        // Each cycle is a run of its own (DESIGN.md, "Rotation", item 2): a rotation another job
        // finished after the cycle started counts as this cycle's, one this loop made in an
        // earlier cycle does not. (With the process's start, every rotation after the loop's
        // first was taken for another job's, and a long-running loop never rotated again.)
        var context = context
        context.processStartedAt = started
        let recovery = await dispatcher.recoverOpenRotationsReporting(for: entities, context: context)
        let due = { (date: Date?) in date.map { $0 <= started } ?? false }
        let retryAt = state.retryAt
        let waiting = { (id: EntityID) in retryAt[id].map { $0 > started } ?? false }
        // An entity whose interrupted rotation was just finished has a new secret (and its sinks
        // were written): it is synced, not rotated again on the old secret's due date.
        // One whose reset's outcome is not known yet is not handed to rotate, which would only
        // read the service twice more to refuse it: it is reported failed here.
        let unresolved = Set(recovery.unresolved)
        let rotate = entities.filter {
            !waiting($0) && due(schedules[$0]?.rotationDueAt) && !recovery.changed.contains($0) && !unresolved.contains($0)
        }
        let behind = await behindPublication(excluding: Set(rotate), context: context)
        let sync = entities.filter { id in
            guard !rotate.contains(id) else { return false }
            if recovery.changed.contains(id) || followers.contains(id) || behind.contains(id) { return true }
            guard !waiting(id), let schedule = schedules[id] else { return false }
            return schedule.nextAction == .sync || due(schedule.tokenRefreshAt) || (retryAt[id] != nil && due(schedule.nextRunAt))
        }

        var outcomes: [SyncReport.EntityOutcome] = []
        var sinks: [SyncReport.SinkOutcome] = []
        var summary = ScheduleStatus.Cycle(number: number, startedAt: started, finishedAt: started, outcome: .idle, rotated: [], synced: [],
                                           failed: [], skipped: [], recovered: recovery.changed.map(\.rawValue))
        if !rotate.isEmpty {
            let report = try await dispatcher.rotate(entities: rotate.map(\.rawValue), force: false, operation: "schedule run", context: context)
            outcomes += report.entities
            sinks += report.sinks
            // `unchanged`: rotate's own due check found it not due after all; nothing done.
            summary.rotated += report.entities.filter {
                $0.outcome == .ok && ($0.changes.contains(.secret) || $0.changes.contains(.recovered))
            }.map(\.id)
        }
        if !sync.isEmpty {
            let report = try await dispatcher.sync(SyncRequest(entities: sync.map(\.rawValue), operation: "schedule run"), context: context)
            outcomes += report.entities
            sinks += report.sinks
            summary.synced += report.entities.filter { $0.outcome == .ok || $0.outcome == .unchanged }.map(\.id)
        }
        // The first cycle writes every sink of the scheduled entities, so a file deleted while
        // nothing ran comes back; every cycle writes the sinks whose onChange is still pending
        //. Sinks this cycle wrote already are not written twice.
        let scheduledSinks = (try? dispatcher.selectSinks([], entities: entities)) ?? []
        let extraSinks = Set((number == 1 ? scheduledSinks : []) + dispatcher.sinksWithPendingHooks().filter(scheduledSinks.contains))
            .subtracting(sinks.map(\.name)).sorted()
        if !extraSinks.isEmpty, let vault = dispatcher.vault {
            for name in extraSinks {
                sinks.append(await dispatcher.writeSink(name, vault: vault, context: context).0)
            }
        }
        // An open rotation is this entity's outcome, even when a token refresh worked beside it:
        // it is retried with the doubling delay until the reset is settled.
        let unknown = SyncReport.ErrorInfo(KeywardError.operationFailed("a reset has no known outcome yet: the rotation stays open; not reset again"))
        for id in recovery.unresolved where !waiting(id) {
            if let index = outcomes.firstIndex(where: { $0.id == id.rawValue }) {
                outcomes[index].outcome = .failed
                outcomes[index].error = unknown
                summary.synced.removeAll { $0 == id.rawValue }
            } else {
                outcomes.append(SyncReport.EntityOutcome(
                    id: id.rawValue, outcome: .failed, error: unknown, warnings: [], secretVersion: nil, secretFingerprint: nil,
                    secretExpiresAt: nil, tokenExpiresAt: nil, changes: []))
            }
        }
        for index in outcomes.indices where recovery.changed.contains(where: { $0.rawValue == outcomes[index].id }) {
            if !outcomes[index].changes.contains(.recovered) { outcomes[index].changes.insert(.recovered, at: 0) }
            if outcomes[index].outcome == .unchanged { outcomes[index].outcome = .ok }
        }

        let finished = context.clock.now
        for outcome in outcomes {
            guard let id = EntityID(outcome.id) else { continue }
            state.last[id] = outcome
            state.lastRunAt[id] = finished
            switch outcome.outcome {
            case .skipped:
                // Another job holds the entity's rotation lock: not a failure (DESIGN.md, "Exit
                // codes"); look again after the first retry delay.
                summary.skipped.append(outcome.id)
                state.skips[id, default: 0] += 1
                state.retryAt[id] = finished.addingTimeInterval(options.retryBase.timeInterval)
                context.logger.notice("\(id): another job holds its rotation lock; looking again in \(DurationParser.format(seconds: Int64(options.retryBase.timeInterval)))")
            case .failed:
                summary.failed.append(outcome.id)
                state.skips[id] = nil
                let failures = (state.failures[id] ?? 0) + 1
                state.failures[id] = failures
                let backoff = min(options.maxRetry.timeInterval, options.retryBase.timeInterval * pow(2, Double(min(failures - 1, 30))))
                // The service's own Retry-After (a 429) is never cut short.
                let delay = max(backoff, Double(outcome.error?.retryAfterSeconds ?? 0))
                state.retryAt[id] = finished.addingTimeInterval(delay)
                context.logger.error("\(id): \(outcome.error?.message ?? "failed"); retrying in \(DurationParser.format(seconds: Int64(delay)))")
            default:
                state.skips[id] = nil
                state.failures[id] = nil
                state.retryAt[id] = nil
                state.lastSuccessAt[id] = finished
            }
        }
        // A rotation still open (its reset's outcome not known yet) is looked at again after
        // the retry delay, unless a failure already set a (doubling) delay.
        for id in recovery.open where state.retryAt[id] == nil {
            state.retryAt[id] = finished.addingTimeInterval(options.retryBase.timeInterval)
        }
        for sink in sinks where sink.outcome == .failed {
            context.logger.error("sink \(sink.name): \(sink.error?.message ?? "failed")")
        }

        let failedSinks = sinks.filter { $0.outcome == .failed }.count
        let worked = outcomes.contains { $0.outcome == .ok || $0.outcome == .unchanged } || sinks.contains { $0.outcome == .written }
            || !recovery.changed.isEmpty
        if summary.failed.isEmpty && failedSinks == 0 {
            summary.outcome = outcomes.isEmpty && sinks.isEmpty && recovery.changed.isEmpty ? .idle : .ok
        } else {
            summary.outcome = worked ? .partial : .failed
        }
        summary.finishedAt = finished
        return CycleResult(summary: summary, sinks: sinks.isEmpty ? nil : sinks, attempted: Set(rotate + sync))
    }

    private func nextEntity(_ schedules: [EntityID: EntitySchedule], at wake: Date) -> String? {
        guard let (id, schedule) = schedules.filter({ $0.value.nextRunAt != nil }).min(by: { $0.value.nextRunAt! < $1.value.nextRunAt! }),
            let next = schedule.nextRunAt, next <= wake
        else { return nil }
        return "\(schedule.nextAction ?? "run") \(id)"
    }

    private func log(cycle: ScheduleStatus.Cycle, wake: (Date, String?)?, context: OperationContext) {
        var parts: [String] = []
        if !cycle.recovered.isEmpty { parts.append("recovered \(cycle.recovered.joined(separator: ", "))") }
        if !cycle.rotated.isEmpty { parts.append("rotated \(cycle.rotated.joined(separator: ", "))") }
        if !cycle.synced.isEmpty { parts.append("synced \(cycle.synced.joined(separator: ", "))") }
        if !cycle.failed.isEmpty { parts.append("failed \(cycle.failed.joined(separator: ", "))") }
        if !cycle.skipped.isEmpty { parts.append("skipped \(cycle.skipped.joined(separator: ", "))") }
        var line = "cycle \(cycle.number) \(cycle.outcome)" + (parts.isEmpty ? "" : ": " + parts.joined(separator: "; "))
        if let (date, what) = wake {
            line += "; next wake-up \(Timestamps.format(date))" + (what.map { " (\($0))" } ?? "")
        }
        if cycle.outcome == .failed || cycle.outcome == .partial {
            context.logger.warning("\(line)")
        } else {
            context.logger.info("\(line)")
        }
    }
}

import Foundation
@testable import KeywardCore
import Testing

/// `schedule run`'s `/healthz` rule (DESIGN.md, "Operability") at its edges: one cycle plus the
/// backoff inside the rotation window, expiry at the exact second, a stalled loop.
@Suite("operability: the health rule and the gauges from status")
struct OperabilityTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static let maxSleep: TimeInterval = 3_600
    static let retry: TimeInterval = 30

    static func entity(due: Date? = nil, secretExpires: Date? = nil, tokenExpires: Date? = nil) -> ScheduleStatus.Entity {
        ScheduleStatus.Entity(id: "FIU-ALPHA", outcome: .ok, error: nil, warnings: [], lastRunAt: nil, lastSuccessAt: nil,
                              consecutiveFailures: 0, secretVersion: 1, secretExpiresAt: secretExpires, tokenExpiresAt: tokenExpires,
                              rotationDueAt: due, tokenRefreshAt: nil, nextRunAt: nil, nextAction: nil)
    }

    /// A status whose last cycle finished `finishedAgo` seconds before `now`.
    static func status(_ entities: [ScheduleStatus.Entity], finished: Date?) -> ScheduleStatus {
        ScheduleStatus(state: .running, pid: 1, startedAt: start, updatedAt: finished ?? start, cycles: finished == nil ? 0 : 1,
                       lastCycle: finished.map { .init(number: 1, startedAt: $0, finishedAt: $0, outcome: .ok, rotated: [], synced: [],
                                                       failed: [], skipped: [], recovered: []) },
                       nextWakeAt: nil, entities: entities, sinks: [])
    }

    static func health(_ status: ScheduleStatus, at now: Date) -> ScheduleHealth {
        ScheduleHealth.evaluate(status, maxSleep: maxSleep, retryDelay: retry, now: now)
    }

    @Test("inside the window: healthy up to one cycle plus the retry delay, unhealthy one second later")
    func rotationOverdueEdge() {
        let due = Self.start.addingTimeInterval(10_000)
        let limit = due.addingTimeInterval(Self.maxSleep + Self.retry)
        let entities = [Self.entity(due: due, secretExpires: due.addingTimeInterval(15 * 86_400))]
        #expect(Self.health(Self.status(entities, finished: limit.addingTimeInterval(-60)), at: due).healthy, "at the window's start")
        #expect(Self.health(Self.status(entities, finished: limit.addingTimeInterval(-60)), at: limit).healthy, "exactly one cycle plus the backoff")
        let late = Self.health(Self.status(entities, finished: limit.addingTimeInterval(-60)), at: limit.addingTimeInterval(1))
        #expect(late.reasons.count == 1)
        #expect(late.reasons.first?.hasPrefix("FIU-ALPHA: inside its rotation window since ") == true, "\(late.reasons)")
    }

    @Test("a job started inside the window is judged from its start, not from the due date it never saw")
    func startedInsideTheWindow() {
        let due = Self.start.addingTimeInterval(-5 * 86_400)
        let entities = [Self.entity(due: due, secretExpires: Self.start.addingTimeInterval(10 * 86_400))]
        let justStarted = Self.start.addingTimeInterval(Self.maxSleep + Self.retry)
        #expect(Self.health(Self.status(entities, finished: justStarted), at: justStarted).healthy)
        #expect(!Self.health(Self.status(entities, finished: justStarted), at: justStarted.addingTimeInterval(1)).healthy)
    }

    @Test("a secret or token that expires at `now` is unhealthy; one second before, healthy")
    func expiryEdges() {
        let now = Self.start.addingTimeInterval(100)
        let secret = [Self.entity(secretExpires: now)]
        #expect(Self.health(Self.status(secret, finished: now), at: now).reasons == ["FIU-ALPHA: the secret expired at \(Timestamps.format(now))"])
        #expect(Self.health(Self.status(secret, finished: now), at: now.addingTimeInterval(-1)).healthy)
        let token = [Self.entity(tokenExpires: now)]
        #expect(Self.health(Self.status(token, finished: now), at: now).reasons
            == ["FIU-ALPHA: the entity access token expired at \(Timestamps.format(now))"])
        #expect(Self.health(Self.status(token, finished: now), at: now.addingTimeInterval(-1)).healthy)
    }

    @Test("an expired secret inside its window is one reason, not two")
    func expiredNotAlsoOverdue() {
        let now = Self.start.addingTimeInterval(30 * 86_400)
        let entities = [Self.entity(due: Self.start, secretExpires: now.addingTimeInterval(-1))]
        #expect(Self.health(Self.status(entities, finished: now), at: now).reasons.count == 1)
    }

    @Test("the last cycle older than twice the longest sleep is unhealthy; exactly twice is not")
    func stalledLoop() {
        let finished = Self.start.addingTimeInterval(50)
        let status = Self.status([Self.entity()], finished: finished)
        #expect(Self.health(status, at: finished.addingTimeInterval(2 * Self.maxSleep)).healthy)
        let stalled = Self.health(status, at: finished.addingTimeInterval(2 * Self.maxSleep + 1))
        #expect(stalled.reasons == ["the last cycle finished 7201 s ago, more than twice the longest sleep (2 × 3600 s)"])
        let never = Self.status([], finished: nil)
        #expect(Self.health(never, at: Self.start.addingTimeInterval(2 * Self.maxSleep)).healthy)
        #expect(!Self.health(never, at: Self.start.addingTimeInterval(2 * Self.maxSleep + 1)).healthy)
    }

    @Test("gauges from a status report: Unix seconds, no sample for what is unknown, lag only when behind")
    func gauges() {
        let now = Self.start
        let expires = now.addingTimeInterval(1_000.5)
        var alpha = StatusReport.Entity(id: "FIU-ALPHA", secret: .init(version: 2, label: "current", expiresAt: expires, expiresInSeconds: 1_000,
                                                                       fingerprint: "x", rotationDueAt: now.addingTimeInterval(-10)),
                                        token: .init(expiresAt: now.addingTimeInterval(60)), lastSync: nil, lastRotation: now.addingTimeInterval(-99),
                                        warnings: [], openJournal: nil)
        alpha.shared = StatusReport.Shared(secretSource: "service", leaseHolder: "h (pid 1, rotate)", publishedGeneration: 3,
                                           publishedAt: now.addingTimeInterval(-42), behind: true)
        var gamma = StatusReport.Entity(id: "FIU-GAMMA", secret: .init(version: 1, label: "current", expiresAt: nil, expiresInSeconds: nil,
                                                                       fingerprint: "y", rotationDueAt: nil),
                                        token: nil, lastSync: nil, lastRotation: nil, warnings: [], openJournal: nil)
        gamma.shared = StatusReport.Shared(secretSource: "service", publishedGeneration: 1, publishedAt: now.addingTimeInterval(-5), behind: false)
        var beta = StatusReport.Entity(id: "FIU-BETA", secret: nil, token: nil, lastSync: nil, lastRotation: nil, warnings: [], openJournal: nil)
        beta.shared = StatusReport.Shared(secretSource: "service", behind: nil, error: "the store did not answer")
        let samples = StatusGauges.samples(StatusReport(generatedAt: now, entities: [alpha, beta, gamma]))
        let expected: [StatusGauges.Sample] = [
            .init(name: StatusGauges.secretExpiry, entity: "FIU-ALPHA", value: 1_800_001_000.5),
            .init(name: StatusGauges.tokenExpiry, entity: "FIU-ALPHA", value: 1_800_000_060),
            .init(name: StatusGauges.rotationDue, entity: "FIU-ALPHA", value: 1_799_999_990),
            .init(name: StatusGauges.lastRotationSuccess, entity: "FIU-ALPHA", value: 1_799_999_901),
            .init(name: StatusGauges.sharedLeaseHeld, entity: "FIU-ALPHA", value: 1),
            .init(name: StatusGauges.sharedLeaseHeld, entity: "FIU-GAMMA", value: 0),
            .init(name: StatusGauges.sharedPublicationLag, entity: "FIU-ALPHA", value: 42),
            .init(name: StatusGauges.sharedPublicationLag, entity: "FIU-GAMMA", value: 0),
        ]
        #expect(samples == expected)
    }
}

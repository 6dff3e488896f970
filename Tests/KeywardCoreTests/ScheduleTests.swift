import Foundation
import KeywardCore
import Testing

/// `keyward schedule run`'s per-entity schedule: from each entity's own expiries, jitter only
/// ever delays and stays inside a tenth of the window, failures wait for their retry.
@Suite("schedule: when each entity needs work next")
struct ScheduleTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let day: TimeInterval = 86_400
    static let entity = EntityConfiguration(id: "FIU-ALPHA", provider: "sim", secretExpiryDays: 90,
                                            rotateBefore: .seconds(15 * 86_400), tokenRefreshBefore: .seconds(600))

    static func secret(expiresIn: TimeInterval?, age: TimeInterval) -> SecretRecord {
        SecretRecord(value: SecretValue(utf8: "unused"), version: 1, createdAt: now.addingTimeInterval(-age),
                     expiresAt: expiresIn.map { now.addingTimeInterval($0) }, source: "test" + SecretRecord.resetSourceSuffix)
    }

    static func compute(secret: SecretRecord?, tokenExpiresIn: TimeInterval?, jitter: Double = 300, fraction: Double = 0,
                        retryIn: TimeInterval? = nil, rotates: Bool = true, issuesTokens: Bool = true) -> EntitySchedule {
        EntitySchedule.compute(secret: secret, tokenExpiresAt: tokenExpiresIn.map { now.addingTimeInterval($0) }, configuration: entity,
                               rotates: rotates, issuesTokens: issuesTokens, now: now, maxJitter: .seconds(jitter), jitterFraction: fraction,
                               retryAt: retryIn.map { now.addingTimeInterval($0) })
    }

    @Test("no secret in the vault yet: a sync now")
    func firstSync() {
        let schedule = Self.compute(secret: nil, tokenExpiresIn: nil)
        #expect(schedule.nextRunAt == Self.now)
        #expect(schedule.nextAction == "sync")
    }

    @Test("the earlier of rotation (expiry - window) and token refresh (expiry - tokenRefreshBefore)")
    func earliest() {
        let secret = Self.secret(expiresIn: 20 * Self.day, age: 70 * Self.day)
        let token = Self.compute(secret: secret, tokenExpiresIn: 3_600)
        #expect(token.rotationDueAt == Self.now.addingTimeInterval(5 * Self.day))
        #expect(token.tokenRefreshAt == Self.now.addingTimeInterval(3_000))
        #expect(token.nextAction == "refresh token")
        #expect(token.nextRunAt == token.tokenRefreshAt)

        let dueSoon = Self.compute(secret: Self.secret(expiresIn: 15 * Self.day + 60, age: 75 * Self.day), tokenExpiresIn: 3_600)
        #expect(dueSoon.nextAction == "rotate")
        #expect(dueSoon.nextRunAt == Self.now.addingTimeInterval(60))

        let noToken = Self.compute(secret: secret, tokenExpiresIn: nil)
        #expect(noToken.nextRunAt == Self.now, "no token held: mint one now")
    }

    @Test("the window is capped at a third of the lifetime, as rotate decides")
    func cappedWindow() {
        // A 3-day secret from a reset, with 15 days of rotateBefore: due one day before expiry, not at once.
        let schedule = Self.compute(secret: Self.secret(expiresIn: 3 * Self.day, age: 0), tokenExpiresIn: nil, issuesTokens: false)
        #expect(schedule.rotationDueAt == Self.now.addingTimeInterval(2 * Self.day))
        #expect(schedule.tokenRefreshAt == nil)
    }

    @Test("jitter delays, by the entity's fraction of min(maxJitter, window / 10)", arguments: [0.0, 0.5, 0.999])
    func jitter(fraction: Double) {
        let secret = Self.secret(expiresIn: 20 * Self.day, age: 70 * Self.day)
        let schedule = Self.compute(secret: secret, tokenExpiresIn: 3_600, jitter: 300, fraction: fraction)
        // Rotation window 15 d: the full 300 s applies. Token window 600 s: at most 60 s.
        #expect(schedule.rotationDueAt == Self.now.addingTimeInterval(5 * Self.day + 300 * fraction))
        #expect(schedule.tokenRefreshAt == Self.now.addingTimeInterval(3_000 + 60 * fraction))
        #expect(schedule.tokenRefreshAt! < Self.now.addingTimeInterval(3_600), "still before the token expires")
    }

    @Test("a secret without expiry, or a provider that cannot reset, is never scheduled for rotation")
    func noRotation() {
        #expect(Self.compute(secret: Self.secret(expiresIn: nil, age: 0), tokenExpiresIn: 3_600).rotationDueAt == nil)
        #expect(Self.compute(secret: Self.secret(expiresIn: Self.day, age: 89 * Self.day), tokenExpiresIn: 3_600, rotates: false).rotationDueAt == nil)
        let nothing = Self.compute(secret: Self.secret(expiresIn: nil, age: 0), tokenExpiresIn: nil, issuesTokens: false)
        #expect(nothing.nextRunAt == nil, "nothing to do: the loop sleeps its longest")
    }

    @Test("after a failure the entity waits for its retry time, even when overdue")
    func retry() {
        let overdue = Self.secret(expiresIn: Self.day, age: 89 * Self.day)
        let schedule = Self.compute(secret: overdue, tokenExpiresIn: 3_600, retryIn: 30)
        #expect(schedule.nextAction == "retry")
        #expect(schedule.nextRunAt == Self.now.addingTimeInterval(30))
        let first = Self.compute(secret: nil, tokenExpiresIn: nil, retryIn: 30)
        #expect(first.nextAction == "retry")
        #expect(first.nextRunAt == Self.now.addingTimeInterval(30))
    }
}

import Foundation
import KeywardCore
import Testing

@Suite("rotation: when a secret is due, and the entity lock")
struct RotationTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let day: TimeInterval = 86_400

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var expiresIn: TimeInterval?
        var age: TimeInterval
        var rotateBeforeDays: Int64
        var force = false
        var due: Bool
        var testDescription: String { name }
    }

    @Test("due when expiresAt - now <= rotateBefore, capped at a third of the lifetime", arguments: [
        Case(name: "90-day secret, 20 days left, 15-day window: not due", expiresIn: 20 * day, age: 70 * day, rotateBeforeDays: 15, due: false),
        Case(name: "90-day secret, 15 days left: due at the edge", expiresIn: 15 * day, age: 75 * day, rotateBeforeDays: 15, due: true),
        Case(name: "just rotated 90-day secret: not due", expiresIn: 90 * day, age: 0, rotateBeforeDays: 15, due: false),
        Case(name: "3-day secret, 15-day window capped at 1 day: 2 days left is not due", expiresIn: 2 * day, age: 1 * day, rotateBeforeDays: 15, due: false),
        Case(name: "3-day secret, 1 day left: due", expiresIn: 1 * day, age: 2 * day, rotateBeforeDays: 15, due: true),
        Case(name: "expired, inside the grace period: due", expiresIn: -2 * day, age: 92 * day, rotateBeforeDays: 15, due: true),
        Case(name: "expired past the grace period: due", expiresIn: -20 * day, age: 110 * day, rotateBeforeDays: 15, due: true),
        Case(name: "no expiry: never due", expiresIn: nil, age: 400 * day, rotateBeforeDays: 15, due: false),
        Case(name: "no expiry with --force: due", expiresIn: nil, age: 0, rotateBeforeDays: 15, force: true, due: true),
        Case(name: "fresh secret with --force: due", expiresIn: 90 * day, age: 0, rotateBeforeDays: 15, force: true, due: true),
    ])
    func due(_ example: Case) {
        let decision = RotationDecision.decide(
            expiresAt: example.expiresIn.map { Self.now.addingTimeInterval($0) }, createdAt: Self.now.addingTimeInterval(-example.age),
            secretExpiryDays: 90, rotateBefore: .seconds(example.rotateBeforeDays * 86_400), now: Self.now, force: example.force)
        #expect(decision.due == example.due, "\(decision.reason)")
        #expect(!decision.reason.isEmpty)
    }

    @Test("an adopted secret (first seen by a sync) is judged by the validity the service grants, not by how long Keyward has known it")
    func adopted() {
        // Adopted with 10 days left: its record spans 10 days, its real lifetime is 90.
        let expiresAt = Self.now.addingTimeInterval(10 * Self.day)
        let adopted = RotationDecision.decide(expiresAt: expiresAt, createdAt: Self.now, secretExpiryDays: 90, rotateBefore: .seconds(15 * 86_400),
                                              now: Self.now, force: false, createdByReset: false)
        #expect(adopted.due, "inside the 15-day window: \(adopted.reason)")
        // The same span from Keyward's own reset is exact (the service granted 10 days): a third.
        let reset = RotationDecision.decide(expiresAt: expiresAt, createdAt: Self.now, secretExpiryDays: 90, rotateBefore: .seconds(15 * 86_400),
                                            now: Self.now, force: false, createdByReset: true)
        #expect(!reset.due, "window capped at 10 d / 3, no loop: \(reset.reason)")
        var record = SecretRecord(value: SecretValue(utf8: "x"), createdAt: Self.now, source: "uat")
        #expect(!record.createdByReset)
        record.markCreatedByReset()
        record.markCreatedByReset()
        #expect(record.createdByReset && record.source == "uat (reset)")
    }

    @Test("a lifetime the record cannot tell (created at or after expiry) falls back to secretExpiryDays")
    func lifetimeFallback() {
        let expiresAt = Self.now.addingTimeInterval(5 * Self.day)
        let decision = RotationDecision.decide(expiresAt: expiresAt, createdAt: expiresAt, secretExpiryDays: 30, rotateBefore: .seconds(15 * 86_400),
                                               now: Self.now, force: false)
        #expect(decision.due, "window min(15 d, 30 d / 3) = 10 d: \(decision.reason)")
    }
}

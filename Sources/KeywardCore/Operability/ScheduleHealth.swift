import Foundation

/// `schedule run`'s `/healthz` verdict (DESIGN.md, "Operability"), from the scheduler's status
/// after its last cycle and the time of the request. A pure function: no clock, no I/O.
///
/// Unhealthy when any of these holds (each gives one reason sentence naming the entity; never a
/// secret):
/// 1. **Rotation overdue**: a secret has been inside its rotation window for longer than one
///    cycle (`maxSleep`, the longest sleep) plus its retry backoff (`retryDelay`), without a
///    successful rotation. "Inside its window since" is the later of the entity's
///    `rotationDueAt` (the scheduler's, jitter included) and the process's start: a scheduler
///    only answers for the time it has been running, so a job started inside a window (after
///    an outage, say) is not unhealthy before it has had a cycle and a backoff to act. The
///    backoff is the first retry delay (`--retry-delay`): the wait a failure just before the
///    window opened can add before the next try. The doubling of later retries does not extend
///    it: with each retry doubling, the time spent in the window never catches up with "one
///    cycle plus the current (doubled) backoff" until the 15-minute cap, so a rule using it
///    would stay green for hours of refused resets. A successful rotation moves
///    `rotationDueAt` into the new secret's window, which ends the condition.
/// 2. **Expired**: a secret's or an entity access token's `expiresAt` is at or before `now`.
/// 3. **Stalled**: the last finished cycle ended more than twice ``maxSleep`` ago (or no cycle
///    has finished and the process started more than that ago).
///
/// All times are UTC `Date`s; all spans are seconds.
public struct ScheduleHealth: Sendable, Equatable {
    /// Whether none of the conditions holds.
    public var healthy: Bool { reasons.isEmpty }
    /// One sentence per condition that holds, in entity order; empty when healthy.
    public var reasons: [String]

    /// Evaluates the rule.
    ///
    /// - Parameters:
    ///   - status: the scheduler's latest status (`ScheduleStatus`, as written to `--status-file`).
    ///   - maxSleep: the longest sleep between cycles (`--max-sleep`), in seconds.
    ///   - retryDelay: the first delay before retrying a failed entity (`--retry-delay`), in seconds.
    ///   - now: the time of the request (the process's clock, which honours the debug
    ///     `KEYWARD_CLOCK_OFFSET_SECONDS`).
    public static func evaluate(_ status: ScheduleStatus, maxSleep: TimeInterval, retryDelay: TimeInterval, now: Date) -> ScheduleHealth {
        var reasons: [String] = []
        if let finished = status.lastCycle?.finishedAt {
            let age = now.timeIntervalSince(finished)
            if age > 2 * maxSleep {
                reasons.append("the last cycle finished \(seconds(age)) s ago, more than twice the longest sleep (2 × \(seconds(maxSleep)) s)")
            }
        } else if now.timeIntervalSince(status.startedAt) > 2 * maxSleep {
            reasons.append("no cycle has finished in the \(seconds(now.timeIntervalSince(status.startedAt))) s since the start, more than twice the longest sleep (2 × \(seconds(maxSleep)) s)")
        }
        for entity in status.entities {
            if let expiresAt = entity.secretExpiresAt, expiresAt <= now {
                reasons.append("\(entity.id): the secret expired at \(Timestamps.format(expiresAt))")
            } else if let due = entity.rotationDueAt, due <= now {
                let inside = now.timeIntervalSince(max(due, status.startedAt))
                let allowed = maxSleep + retryDelay
                if inside > allowed {
                    reasons.append("\(entity.id): inside its rotation window since \(Timestamps.format(due)) without a successful rotation (\(seconds(inside)) s, more than one cycle plus its backoff: \(seconds(allowed)) s)")
                }
            }
            if let expiresAt = entity.tokenExpiresAt, expiresAt <= now {
                reasons.append("\(entity.id): the entity access token expired at \(Timestamps.format(expiresAt))")
            }
        }
        return ScheduleHealth(reasons: reasons)
    }

    private static func seconds(_ interval: TimeInterval) -> Int64 {
        interval.isFinite ? Int64(max(min(interval.rounded(), 9.2e18), -9.2e18)) : 0
    }
}

import KeywardCore

/// How idempotent calls (user token, secret read, entity token) are retried after 429, 5xx,
/// timeouts, dropped connections and cut-off bodies: capped exponential backoff with full
/// jitter, honouring `Retry-After`. Reset is never retried, whatever the policy; nor is a
/// failure that the next attempt would meet at once (``TokenServiceError/permanent``: a refused
/// connection, a failed DNS lookup, an answer over 1 MiB).
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included. Default 3.
    public var maxAttempts: Int
    /// The first backoff (a `Duration`), before jitter. Default 250 ms.
    public var baseDelay: Duration
    /// The largest backoff (a `Duration`). Default 4 s.
    public var maxDelay: Duration
    /// The longest `Retry-After` waited for (a `Duration`; the header itself counts whole
    /// seconds, RFC 9110 §10.2.3); a longer one fails at once. Default 30 s.
    public var maxRetryAfter: Duration

    public init(maxAttempts: Int = 3, baseDelay: Duration = .milliseconds(250), maxDelay: Duration = .seconds(4),
                maxRetryAfter: Duration = .seconds(30)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    /// No retries at all.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// The wait before attempt `attempt + 1` (attempt counts from 1), in seconds, or `nil` when
    /// no further attempt should be made.
    func delay(afterAttempt attempt: Int, retryAfter: Int?) -> Double? {
        guard attempt < maxAttempts else { return nil }
        if let retryAfter {
            return .seconds(retryAfter) <= maxRetryAfter ? Double(max(0, retryAfter)) : nil
        }
        let ceiling = min(maxDelay.timeInterval, baseDelay.timeInterval * Double(1 << min(attempt - 1, 16)))
        return Double.random(in: 0...max(ceiling, 0))
    }
}

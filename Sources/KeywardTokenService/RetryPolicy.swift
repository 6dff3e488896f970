/// How idempotent calls (user token, secret read, entity token) are retried after 429, 5xx,
/// timeouts, dropped connections and cut-off bodies: capped exponential backoff with full
/// jitter, honouring `Retry-After`. Reset is never retried, whatever the policy; nor is a
/// failure that the next attempt would meet at once (``TokenServiceError/permanent``: a refused
/// connection, a failed DNS lookup, an answer over 1 MiB).
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included. Default 3.
    public var maxAttempts: Int
    /// The first backoff, in seconds, before jitter. Default 0.25.
    public var baseDelaySeconds: Double
    /// The largest backoff, in seconds. Default 4.
    public var maxDelaySeconds: Double
    /// The longest `Retry-After` waited for, in seconds; a longer one fails at once. Default 30.
    public var maxRetryAfterSeconds: Int

    public init(maxAttempts: Int = 3, baseDelaySeconds: Double = 0.25, maxDelaySeconds: Double = 4, maxRetryAfterSeconds: Int = 30) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelaySeconds = baseDelaySeconds
        self.maxDelaySeconds = maxDelaySeconds
        self.maxRetryAfterSeconds = maxRetryAfterSeconds
    }

    /// No retries at all.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// The wait before attempt `attempt + 1` (attempt counts from 1), in seconds, or `nil` when
    /// no further attempt should be made.
    func delay(afterAttempt attempt: Int, retryAfter: Int?) -> Double? {
        guard attempt < maxAttempts else { return nil }
        if let retryAfter {
            return retryAfter <= maxRetryAfterSeconds ? Double(max(0, retryAfter)) : nil
        }
        let ceiling = min(maxDelaySeconds, baseDelaySeconds * Double(1 << min(attempt - 1, 16)))
        return Double.random(in: 0...max(ceiling, 0))
    }
}

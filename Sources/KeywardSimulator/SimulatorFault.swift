/// A failure the simulator plays instead of (or on top of) a normal answer, as the gateways in
/// front of the real service do (token-service-contract.md, "Errors").
///
/// Inject with ``TokenServiceSimulator/inject(_:endpoint:count:)``; each injected fault applies
/// to the next `count` calls of its endpoint. Whether the server *acts* (changes a secret) is
/// part of each case's meaning, because a reset that acted but whose answer was lost is the case
/// a client must recover from with `secret/read`.
public enum SimulatorFault: Sendable, Equatable {
    /// Wait this many milliseconds, then answer normally.
    case latency(milliseconds: Int)
    /// Answer 500 with a short plain-text body; the server does not act.
    case status500
    /// Answer 502 with an HTML page (`Content-Type: text/html`), as a proxy does; the server does not act.
    case html502
    /// Answer 429 with `Retry-After: retryAfterSeconds`; the server does not act.
    case rateLimit429(retryAfterSeconds: Int)
    /// Close the TCP connection without writing any response; the server does not act.
    case drop
    /// The server acts, sends the response head with the full `Content-Length`, then only the
    /// first half of the body, then closes the connection.
    case truncate
    /// The server acts (a reset happens), then closes the connection without any response.
    /// Meant for `secretReset`; on other endpoints the call is served and its answer dropped.
    case dropAfterApplying
    /// The server acts, then answers 200 with its normal JSON body padded with whitespace to
    /// 2 MiB (still valid JSON), as a misbehaving gateway might: a client must refuse to read it.
    case oversized

    /// The name the admin API uses for this kind (`POST /_sim/faults`, field `kind`).
    public var kind: String {
        switch self {
        case .latency: "latency"
        case .status500: "status500"
        case .html502: "html502"
        case .rateLimit429: "rateLimit429"
        case .drop: "drop"
        case .truncate: "truncate"
        case .dropAfterApplying: "dropAfterApplying"
        case .oversized: "oversized"
        }
    }
}

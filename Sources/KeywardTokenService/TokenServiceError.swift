import KeywardCore

/// The public error of the token service client.
///
/// Tells apart every failure that token-service-contract.md ("Errors") asks a client to tell
/// apart. `description` is safe to print: it carries the endpoint, the HTTP status, the
/// `txnId` and the service's `errorCode`/`errorMsg` (with any credential sent in the request
/// scrubbed from them), never a secret, a password, a token or a response body.
public struct TokenServiceError: CategorizedError, Sendable, Equatable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        public var description: String { name }

        /// 400: the request was malformed; the service did not act.
        public static let badRequest = Code(name: "bad request")
        /// 401: bad credentials, bad or expired token, unknown entity, or a secret past its
        /// grace period (the contract gives them one text); the service did not act.
        public static let unauthorized = Code(name: "unauthorized")
        /// 429: a gateway asked to slow down (see ``TokenServiceError/retryAfterSeconds``).
        public static let rateLimited = Code(name: "rate limited")
        /// 5xx from the service or a gateway.
        public static let serverError = Code(name: "server error")
        /// Any other unexpected HTTP status.
        public static let unexpectedStatus = Code(name: "unexpected status")
        /// A 2xx answer whose body is not JSON (an HTML page from a proxy, say).
        public static let nonJSONBody = Code(name: "non-JSON body")
        /// JSON without the fields the contract promises.
        public static let invalidResponse = Code(name: "invalid response")
        /// The answer's head arrived but its body was cut short.
        public static let truncatedBody = Code(name: "cut-off body")
        /// The answer's body is larger than ``TokenServiceClient/maximumBodyBytes`` (1 MiB): no
        /// answer of the contract comes near it, so it is not read, and not asked for again.
        public static let bodyTooLarge = Code(name: "answer too large")
        /// No answer within the configured timeout.
        public static let timeout = Code(name: "timeout")
        /// The connection could not be made, or closed before an answer.
        /// ``TokenServiceError/detail`` names the host and port and why (refused, DNS lookup).
        public static let connectionFailed = Code(name: "connection failed")
        /// A reset was sent but no usable answer came back (timeout, dropped connection, 5xx,
        /// cut-off body): the secret may or may not have changed. Never reset again; recover
        /// with `secret/read` (contract, "Reset semantics"). ``TokenServiceError/cause`` says
        /// what happened.
        public static let outcomeUnknown = Code(name: "outcome unknown")
        /// The client was configured wrongly (e.g. `http://` to a non-loopback host).
        public static let invalidConfiguration = Code(name: "invalid configuration")
    }

    public var code: Code
    /// The call that failed.
    public var endpoint: TokenServiceEndpoint
    /// The HTTP status, when an answer's head arrived.
    public var httpStatus: Int?
    /// The `txnId` of the request (or the answer's, when it echoed one).
    public var txnId: String?
    /// For ``Code/rateLimited``: the `Retry-After` the gateway sent, in seconds.
    public var retryAfterSeconds: Int?
    /// The service's `errorCode: errorMsg`, scrubbed of every credential sent, at most 200 characters.
    public var serviceMessage: String?
    /// For ``Code/outcomeUnknown``: the failure that left the outcome unknown.
    public var cause: Code?
    /// How many attempts were made (retries included).
    public var attempts: Int
    /// For transport failures and oversized answers: where and what happened, e.g.
    /// `127.0.0.1:8443: connection refused` or `iam.example.com:443: DNS lookup failed (…)`.
    /// Host and port only, never a path, a query or a header.
    public var detail: String?
    /// `true` for failures that another attempt would meet again at once: a refused
    /// connection, a failed DNS lookup, an oversized answer. Such calls are not retried.
    public var permanent: Bool

    public init(code: Code, endpoint: TokenServiceEndpoint, httpStatus: Int? = nil, txnId: String? = nil,
                retryAfterSeconds: Int? = nil, serviceMessage: String? = nil, cause: Code? = nil, attempts: Int = 1,
                detail: String? = nil, permanent: Bool = false) {
        self.code = code
        self.endpoint = endpoint
        self.httpStatus = httpStatus
        self.txnId = txnId
        self.retryAfterSeconds = retryAfterSeconds
        self.serviceMessage = serviceMessage
        self.cause = cause
        self.attempts = attempts
        self.detail = detail
        self.permanent = permanent
    }

    /// 401 is the token service refusing authentication (exit 3); a bad configuration is a
    /// usage error (exit 2); everything else is an operation failure (exit 1).
    public var category: FailureCategory {
        switch code {
        case .unauthorized: .authentication
        case .invalidConfiguration: .usage
        default: .operationFailed
        }
    }

    /// `true` when the service certainly did not act on the request (400, 401, 429): a reset
    /// answered so needs no recovery.
    public var serviceDidNotAct: Bool {
        code == .badRequest || code == .unauthorized || code == .rateLimited
    }

    public var description: String {
        var text = "token service \(endpoint.rawValue): \(code)"
        if let cause { text += " after \(cause)" }
        if let detail, !detail.isEmpty { text += " (\(detail))" }
        if let httpStatus { text += " (HTTP \(httpStatus))" }
        if let serviceMessage, !serviceMessage.isEmpty { text += ": \(serviceMessage)" }
        if let retryAfterSeconds { text += "; retry after \(retryAfterSeconds)s" }
        if attempts > 1 { text += "; \(attempts) attempts" }
        if let txnId { text += " [txnId \(txnId)]" }
        if code == .outcomeUnknown { text += "; the secret may have changed: recover with secret/read, never a second reset" }
        return text
    }
}

/// The four calls of the contract.
public enum TokenServiceEndpoint: String, Sendable, CaseIterable {
    case userToken = "user/token/generate"
    case secretRead = "entity/secret/read"
    case secretReset = "entity/secret/reset"
    case entityToken = "entity/token/generate"

    /// Calls that change nothing on the server, and so may be retried. Reset is never retried.
    public var isIdempotent: Bool { self != .secretReset }

    /// The `endpoint` label of `keyward_token_service_requests_total` (DESIGN.md,
    /// "Operability"): the simulator's counter names (`GET /_sim/counters`).
    public var metricName: String {
        switch self {
        case .userToken: "userToken"
        case .secretRead: "secretRead"
        case .secretReset: "secretReset"
        case .entityToken: "entityToken"
        }
    }
}

/// Rotation asks whether a failed reset certainly changed nothing (400, 401, 429) or left the
/// outcome unknown (token-service-contract.md, "Reset semantics").
extension TokenServiceError: ServiceActionReporting {}

extension TokenServiceError: RetryAfterReporting {}

/// A failed operation's audit row names the call's `txnId`.
extension TokenServiceError: TransactionReporting {}

import AsyncHTTPClient
import Foundation
import JWTKit
import KeywardCore
import KeywardTokenServiceWire
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix

/// A client for the four calls of the IAM token service (token-service-contract.md).
///
/// - Form bodies are percent-encoded field by field; JSON bodies carry `ver`, a fresh `txnId`
///   (UUID) and a `timestamp` (RFC 3339, milliseconds, UTC) on every request.
/// - Idempotent calls are retried per ``RetryPolicy``; ``resetSecret(entity:validityDays:userToken:context:)``
///   is sent exactly once and reports a lost answer as ``TokenServiceError/Code/outcomeUnknown``.
/// - User tokens are cached in memory until ``Configuration/userTokenRenewBefore`` before
///   they expire.
///
/// Thread-safe; share one per base URL.
public final class TokenServiceClient: Sendable {
    /// Settings of one client.
    public struct Configuration: Sendable {
        /// The base URL, ending in `/iam/v1`. `http://` only for loopback hosts.
        public var baseURL: URL
        /// Time allowed for one HTTP call (connect, send, receive), a `Duration`. Default 10 s.
        public var timeout: Duration
        public var retry: RetryPolicy
        /// A cached user token is renewed once it has less than this left (a `Duration`). Default 300 s.
        public var userTokenRenewBefore: Duration

        public init(baseURL: URL, timeout: Duration = .seconds(10), retry: RetryPolicy = RetryPolicy(),
                    userTokenRenewBefore: Duration = .seconds(300)) {
            self.baseURL = baseURL
            self.timeout = timeout
            self.retry = retry
            self.userTokenRenewBefore = userTokenRenewBefore
        }
    }

    /// The HTTP client every token service client shares unless given another: up to 64
    /// connections per host (AsyncHTTPClient's default of 8 would cap `sync --concurrency`), and
    /// redirects refused, so a form body holding a password or secret is never re-sent to
    /// another URL. A connection that cannot be made fails the request at once, with its cause
    /// (AsyncHTTPClient's default retries a refused connection until the request's deadline, so
    /// a stopped service or a wrong port cost three whole timeouts and reported only "connection
    /// failed"); ``RetryPolicy`` decides what is tried again. Process-wide and never shut down,
    /// like AsyncHTTPClient's own `shared`.
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// The largest answer body read, in bytes (1 MiB). The contract's answers are a few hundred
    /// bytes; a larger one is refused as ``TokenServiceError/Code/bodyTooLarge`` without retry.
    public static let maximumBodyBytes = 1 << 20

    public let configuration: Configuration
    private let httpClient: HTTPClient
    private let userTokens = UserTokenCache()
    private let endpointURLs: [TokenServiceEndpoint: String]

    /// - Parameter httpClient: the HTTP client to use; defaults to ``sharedHTTPClient``.
    /// - Throws: ``TokenServiceError`` (``TokenServiceError/Code/invalidConfiguration``) for a
    ///   base URL that is not `https://`, or `http://` on a non-loopback host.
    public init(configuration: Configuration, httpClient: HTTPClient = TokenServiceClient.sharedHTTPClient) throws {
        let url = configuration.baseURL
        guard let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty,
            scheme == "https" || (scheme == "http" && NetworkRules.isLoopback(host: host))
        else {
            throw TokenServiceError(code: .invalidConfiguration, endpoint: .userToken,
                                    serviceMessage: "base URL must be https:// (http:// only on loopback hosts)")
        }
        self.configuration = configuration
        self.httpClient = httpClient
        let base = url.absoluteString.hasSuffix("/") ? String(url.absoluteString.dropLast()) : url.absoluteString
        self.endpointURLs = Dictionary(uniqueKeysWithValues: TokenServiceEndpoint.allCases.map { ($0, "\(base)/\($0.rawValue)") })
    }

    // MARK: - The four calls

    /// A user access token for the admin user, from the in-memory cache when one is still valid
    /// for longer than ``Configuration/userTokenRenewBefore``.
    ///
    /// Contract: `POST /user/token/generate`. Retried on 429, 5xx, timeouts and connection failures.
    /// - Throws: ``TokenServiceError``; ``TokenServiceError/Code/unauthorized`` for a wrong password.
    public func userToken(username: String, password: SecretValue, context: OperationContext) async throws -> AccessToken {
        let now = context.clock.now
        if let cached = userTokens.valid(for: username, password: password, at: now, renewBefore: configuration.userTokenRenewBefore.timeInterval) {
            return cached
        }
        let token = try await tokenCall(.userToken, fields: [("username", SecretValue(utf8: username)), ("password", password)], context: context)
        userTokens.store(token, username: username, password: password)
        return token
    }

    /// The cached user token when it is still valid for longer than
    /// ``Configuration/userTokenRenewBefore`` (no request is made); `nil` otherwise.
    public func cachedUserToken(username: String, password: SecretValue, at now: Date) -> AccessToken? {
        userTokens.valid(for: username, password: password, at: now, renewBefore: configuration.userTokenRenewBefore.timeInterval)
    }

    /// Puts a user token obtained earlier (persisted by the caller) into the in-memory cache,
    /// bound to `password`, unless the cache holds a later one.
    public func adoptUserToken(_ token: AccessToken, username: String, password: SecretValue) {
        userTokens.adopt(token, username: username, password: password)
    }

    /// Forgets the cached user token (after the service rejected it, say).
    public func invalidateUserToken(username: String) {
        userTokens.remove(username: username)
    }

    /// Reads the entity's current secret.
    ///
    /// Contract: `POST /entity/secret/read`. Retried on 429, 5xx, timeouts and connection failures.
    /// - Throws: ``TokenServiceError``.
    public func readSecret(entity: EntityID, userToken: AccessToken, context: OperationContext) async throws -> EntitySecret {
        try await secretCall(.secretRead, entity: entity, validityDays: nil, userToken: userToken, context: context)
    }

    /// Resets the entity's secret: the service issues a new one and the old one stops working at
    /// once. Sent exactly once, never retried.
    ///
    /// Contract: `POST /entity/secret/reset`.
    /// - Parameter validityDays: `secretExpiryDays`, the validity asked for, in days; `nil` for
    ///   the service's default (180). The service caps it at 180 and at the user token's
    ///   remaining life, and says so in `message`.
    /// - Throws: ``TokenServiceError``: 400/401/429 mean the service did not act
    ///   (``TokenServiceError/serviceDidNotAct``); a timeout, dropped connection, 5xx, cut-off or
    ///   unreadable body gives ``TokenServiceError/Code/outcomeUnknown``.
    public func resetSecret(entity: EntityID, validityDays: Int?, userToken: AccessToken, context: OperationContext) async throws -> EntitySecret {
        do {
            return try await secretCall(.secretReset, entity: entity, validityDays: validityDays, userToken: userToken, context: context)
        } catch let error as TokenServiceError where !error.serviceDidNotAct && error.code != .invalidConfiguration {
            var unknown = error
            unknown.cause = error.code
            unknown.code = .outcomeUnknown
            throw unknown
        }
    }

    /// Mints an entity access token (a JWT, normally 24 h) from the entity id and secret.
    ///
    /// Contract: `POST /entity/token/generate`. A `message` in the answer means the secret has
    /// expired and is inside its 5-day grace period: surface it. Retried on 429, 5xx, timeouts
    /// and connection failures.
    /// - Throws: ``TokenServiceError``; ``TokenServiceError/Code/unauthorized`` for a wrong secret
    ///   or one past its grace period.
    public func generateEntityToken(entity: EntityID, secret: SecretValue, context: OperationContext) async throws -> AccessToken {
        try await tokenCall(.entityToken, fields: [("id", SecretValue(utf8: entity.rawValue)), ("secret", secret)], context: context)
    }

    // MARK: - Calls by body kind

    private func tokenCall(_ endpoint: TokenServiceEndpoint, fields: [(String, SecretValue)], context: OperationContext) async throws -> AccessToken {
        let body = FormEncoding.encode(fields)
        // The credentials, not the names: an entity id (or a username) in the service's message
        // stays readable (an entity id is never shown as `<redacted>`).
        let sensitive = fields.filter { $0.0 != "id" && $0.0 != "username" }.map(\.1)
        let txnId = UUID().uuidString.lowercased()
        let answer = try await send(endpoint, contentType: "application/x-www-form-urlencoded", body: body, bearer: nil,
                                    txnId: txnId, sensitive: sensitive, context: context)
        let decoded = try Self.decoded(answer, endpoint: endpoint, txnId: txnId) { body throws(TokenServiceAnswers.Failure) in
            try TokenServiceAnswers.token(body, sensitive: sensitive)
        }
        let now = context.clock.now
        let expiresAt = Self.tokenExpiry(token: decoded.accessToken, expiresIn: decoded.expiresIn, receivedAt: now)
        return AccessToken(value: SecretValue(utf8: decoded.accessToken), expiresAt: expiresAt, issuedAt: now, txnId: decoded.txnId ?? txnId,
                           message: decoded.message)
    }

    private func secretCall(_ endpoint: TokenServiceEndpoint, entity: EntityID, validityDays: Int?, userToken: AccessToken,
                            context: OperationContext) async throws -> EntitySecret {
        let txnId = UUID().uuidString.lowercased()
        let request = SecretRequestBody(timestamp: Timestamps.formatMilliseconds(context.clock.now), txnId: txnId,
                                        entityId: entity.rawValue, secretExpiryDays: validityDays)
        let body = try JSONEncoder().encode(request)
        let answer = try await send(endpoint, contentType: "application/json", body: Array(body), bearer: userToken.value,
                                    txnId: txnId, sensitive: [userToken.value], context: context)
        let decoded = try Self.decoded(answer, endpoint: endpoint, txnId: txnId) { body throws(TokenServiceAnswers.Failure) in
            try TokenServiceAnswers.secret(body, entity: entity, sensitive: [userToken.value])
        }
        return EntitySecret(entityId: entity, secret: SecretValue(utf8: decoded.secret), expiresAt: decoded.expiresAt,
                            txnId: decoded.txnId ?? txnId, message: decoded.message)
    }

    // MARK: - Transport

    private struct Answer {
        var status: Int
        var contentType: String?
        var body: ByteBuffer
        var sensitive: [SecretValue]
    }

    /// Sends one request, retrying idempotent calls; returns a 2xx answer or throws.
    private func send(_ endpoint: TokenServiceEndpoint, contentType: String, body: [UInt8], bearer: SecretValue?,
                      txnId: String, sensitive: [SecretValue], context: OperationContext) async throws -> Answer {
        var request = HTTPClientRequest(url: endpointURLs[endpoint]!)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "keyward/\(Keyward.version)")
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer.revealUTF8())") }
        request.body = .bytes(ByteBuffer(bytes: body))

        let policy = endpoint.isIdempotent ? configuration.retry : .none
        var attempt = 0
        while true {
            attempt += 1
            do {
                let answer = try await exchange(request, endpoint: endpoint, txnId: txnId, sensitive: sensitive, logger: context.logger)
                return answer
            } catch var error as TokenServiceError {
                error.attempts = attempt
                let retryable = !error.permanent && [.rateLimited, .serverError, .timeout, .connectionFailed, .truncatedBody].contains(error.code)
                guard retryable, let delay = policy.delay(afterAttempt: attempt, retryAfter: error.retryAfterSeconds) else {
                    context.logger.debug("token service call failed", metadata: [
                        "endpoint": "\(endpoint.rawValue)", "code": "\(error.code)", "txnId": "\(txnId)", "attempt": "\(attempt)",
                    ])
                    throw error
                }
                context.logger.info("token service call will be retried", metadata: [
                    "endpoint": "\(endpoint.rawValue)", "code": "\(error.code)", "attempt": "\(attempt)",
                    "delayMs": "\(Int(delay * 1000))",
                ])
                try await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
            }
        }
    }

    private func exchange(_ request: HTTPClientRequest, endpoint: TokenServiceEndpoint, txnId: String,
                          sensitive: [SecretValue], logger: Logger) async throws -> Answer {
        let timeout = TimeAmount.nanoseconds(Int64(configuration.timeout.timeInterval * 1_000_000_000))
        let deadline = NIODeadline.now() + timeout
        let target = Self.target(of: request.url)
        let started = ContinuousClock.now
        // `--verbose`: one line per HTTP request; method, host, path, status and time only
        // (never a header, a body or a token).
        func logRequest(status: Int?, failure: String? = nil) {
            let elapsed = ContinuousClock.now - started
            var metadata: Logger.Metadata = [
                "method": "\(request.method.rawValue)", "host": "\(target.hostPort)", "path": "\(target.path)",
                "status": "\(status.map(String.init) ?? "none")",
                "durationMs": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ]
            if let failure { metadata["error"] = "\(failure)" }
            logger.debug("HTTP request", metadata: metadata)
        }
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, deadline: deadline)
        } catch {
            let failure = Self.transportFailure(error, target: target)
            EngineMetrics.countTokenServiceRequest(endpoint: endpoint.metricName,
                                                   code: failure.code == .timeout ? EngineMetrics.timeoutCode : EngineMetrics.transportCode)
            logRequest(status: nil, failure: failure.detail)
            throw TokenServiceError(code: failure.code, endpoint: endpoint, txnId: txnId, detail: failure.detail, permanent: failure.permanent)
        }
        let status = Int(response.status.code)
        // keyward_token_service_requests_total: the status the service answered with, even
        // when its body is then cut off or too large.
        EngineMetrics.countTokenServiceRequest(endpoint: endpoint.metricName, code: String(status))
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: Self.maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            let detail = "the body is larger than the \(Self.maximumBodyBytes / (1 << 20)) MiB limit (\(Self.maximumBodyBytes) bytes)"
            logRequest(status: status, failure: "answer too large")
            throw TokenServiceError(code: .bodyTooLarge, endpoint: endpoint, httpStatus: status, txnId: txnId, detail: detail, permanent: true)
        } catch {
            let code: TokenServiceError.Code = Self.transportFailure(error, target: target).code == .timeout ? .timeout : .truncatedBody
            logRequest(status: status, failure: "\(code)")
            throw TokenServiceError(code: code, endpoint: endpoint, httpStatus: status, txnId: txnId)
        }
        logRequest(status: status)
        let answer = Answer(status: status, contentType: response.headers.first(name: "Content-Type"), body: body, sensitive: sensitive)
        if (200..<300).contains(status) { return answer }

        let envelope = TokenServiceAnswers.errorEnvelope(Array(buffer: body), sensitive: sensitive)
        let message = envelope?.message
        let echoedTxn = envelope?.txnId ?? txnId
        switch status {
        case 400:
            throw TokenServiceError(code: .badRequest, endpoint: endpoint, httpStatus: status, txnId: echoedTxn, serviceMessage: message)
        case 401, 403:
            throw TokenServiceError(code: .unauthorized, endpoint: endpoint, httpStatus: status, txnId: echoedTxn, serviceMessage: message)
        case 429:
            let retryAfter = response.headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            throw TokenServiceError(code: .rateLimited, endpoint: endpoint, httpStatus: status, txnId: echoedTxn,
                                    retryAfterSeconds: retryAfter, serviceMessage: message)
        case 500..<600:
            throw TokenServiceError(code: .serverError, endpoint: endpoint, httpStatus: status, txnId: echoedTxn, serviceMessage: message)
        default:
            throw TokenServiceError(code: .unexpectedStatus, endpoint: endpoint, httpStatus: status, txnId: echoedTxn, serviceMessage: message)
        }
    }

    /// A 2xx answer decoded by `decode` (a ``TokenServiceAnswers`` function), its failure as
    /// the ``TokenServiceError`` the call throws.
    private static func decoded<T>(_ answer: Answer, endpoint: TokenServiceEndpoint, txnId: String,
                                   _ decode: ([UInt8]) throws(TokenServiceAnswers.Failure) -> T) throws(TokenServiceError) -> T {
        do {
            return try decode(Array(buffer: answer.body))
        } catch {
            throw Self.error(error, status: answer.status, contentType: answer.contentType, endpoint: endpoint, txnId: txnId)
        }
    }

    /// Decodes a 2xx body: not a JSON object gives ``TokenServiceError/Code/nonJSONBody``; a JSON
    /// object without the promised fields gives ``TokenServiceError/Code/invalidResponse``.
    static func decodeBody<T: Decodable>(_ data: Data, status: Int, contentType: String?, endpoint: TokenServiceEndpoint, txnId: String) throws -> T {
        do {
            return try TokenServiceAnswers.decode(data)
        } catch {
            throw Self.error(error, status: status, contentType: contentType, endpoint: endpoint, txnId: txnId)
        }
    }

    private static func error(_ failure: TokenServiceAnswers.Failure, status: Int, contentType: String?, endpoint: TokenServiceEndpoint,
                              txnId: String) -> TokenServiceError {
        switch failure {
        case .nonJSONBody:
            TokenServiceError(code: .nonJSONBody, endpoint: endpoint, httpStatus: status, txnId: txnId,
                              serviceMessage: "expected a JSON object, got \(contentType ?? "no content type")")
        case .invalidResponse(let reason, let answerTxnId):
            TokenServiceError(code: .invalidResponse, endpoint: endpoint, httpStatus: status, txnId: answerTxnId ?? txnId, serviceMessage: reason)
        }
    }

    // MARK: - Helpers

    /// Where a request goes: `host:port` and the URL's path (no query), for logs and errors.
    struct Target {
        var hostPort: String
        var path: String
    }

    static func target(of url: String) -> Target {
        guard let components = URLComponents(string: url), let host = components.host else { return Target(hostPort: "?", path: "?") }
        let port = components.port ?? (components.scheme?.lowercased() == "http" ? 80 : 443)
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return Target(hostPort: "\(shownHost):\(port)", path: components.path)
    }

    /// Maps AsyncHTTPClient's and NIO's errors to ours, with a detail naming `host:port` and the
    /// cause. Built from error kinds and errno values only: their descriptions may hold URLs.
    /// A refused connection and a failed DNS lookup are `permanent`: retrying at once would
    /// meet them again, so the call fails on its first attempt.
    static func transportFailure(_ error: any Error, target: Target) -> (code: TokenServiceError.Code, detail: String?, permanent: Bool) {
        let at = target.hostPort
        switch error {
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout: return (.timeout, "\(at): connecting timed out", false)
            case .deadlineExceeded, .readTimeout, .writeTimeout, .getConnectionFromPoolTimeout: return (.timeout, "\(at): no answer in time", false)
            case .remoteConnectionClosed: return (.connectionFailed, "\(at): the connection closed before an answer", false)
            default: return (.connectionFailed, "\(at): \(error.shortDescription)", false)
            }
        case let error as NIOConnectionError:
            if error.connectionErrors.isEmpty, let dns = error.dnsAError ?? error.dnsAAAAError {
                return (.connectionFailed, "\(at): DNS lookup failed (\(Self.dnsCause(dns)))", true)
            }
            let causes = error.connectionErrors.map { Self.socketCause($0.error) }
            if !causes.isEmpty, causes.allSatisfy({ $0.permanent }) {
                return (.connectionFailed, "\(at): \(causes[0].text)", true)
            }
            return (.connectionFailed, "\(at): \(causes.first?.text ?? "no address to connect to")", false)
        case let error as SocketAddressError.UnknownHost:
            return (.connectionFailed, "\(at): DNS lookup failed (\(Self.dnsCause(error)))", true)
        case let error as IOError:
            let cause = Self.socketCause(error)
            return (.connectionFailed, "\(at): \(cause.text)", cause.permanent)
        case is CancellationError:
            return (.timeout, "\(at): no answer in time", false)
        case let error as ChannelError:
            if case .connectTimeout = error { return (.timeout, "\(at): connecting timed out", false) }
            return (.connectionFailed, "\(at): \(error)", false)
        default:
            return (.connectionFailed, "\(at): \(type(of: error))", false)
        }
    }

    private static func socketCause(_ error: any Error) -> (text: String, permanent: Bool) {
        guard let error = error as? IOError else {
            if let error = error as? ChannelError, case .connectTimeout = error { return ("connecting timed out", false) }
            return ("\(type(of: error))", false)
        }
        switch error.errnoCode {
        case ECONNREFUSED: return ("connection refused", true)
        case ENETUNREACH: return ("network unreachable", false)
        case EHOSTUNREACH: return ("host unreachable", false)
        case ETIMEDOUT: return ("connecting timed out", false)
        case ECONNRESET: return ("connection reset", false)
        default: return (String(cString: strerror(error.errnoCode)), false)
        }
    }

    private static func dnsCause(_ error: any Error) -> String {
        if let unknown = error as? SocketAddressError.UnknownHost { return unknown.errorDescription.isEmpty ? "unknown host" : unknown.errorDescription }
        return "unknown host"
    }

    /// Removes every credential sent in the request from server-provided text and caps its length
    /// (``TokenServiceAnswers/scrub(_:_:)``).
    static func scrub(_ text: String, _ sensitive: [SecretValue]) -> String {
        TokenServiceAnswers.scrub(text, sensitive)
    }

    /// The earlier of `receivedAt + expiresIn` and the JWT's `exp` (contract, "Quirks"); when
    /// neither is usable, `receivedAt` (treat the token as already due). A time outside
    /// ``SecretExpiry/plausible`` is not usable: the vault could not store it.
    static func tokenExpiry(token: String, expiresIn: Double?, receivedAt: Date) -> Date {
        let fromExpiresIn = expiresIn.flatMap { $0 > 0 && $0.isFinite ? receivedAt.addingTimeInterval($0) : nil }
            .flatMap { SecretExpiry.plausible.contains($0) ? $0 : nil }
        let fromClaim = (try? DefaultJWTParser().parse(Array(token.utf8), as: ExpiryClaims.self).payload.exp?.value)
            .flatMap { SecretExpiry.plausible.contains($0) ? $0 : nil }
        switch (fromExpiresIn, fromClaim) {
        case let (a?, b?): return min(a, b)
        case let (a?, nil): return a
        case let (nil, b?): return b
        case (nil, nil): return receivedAt
        }
    }
}

/// Only the claim Keyward reads from a token it cannot verify (it lacks the service's key).
struct ExpiryClaims: JWTPayload {
    var exp: ExpirationClaim?

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// The in-memory user token cache, keyed by username and bound to the password it came from.
private final class UserTokenCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: (token: AccessToken, password: SecretValue)] = [:]

    func valid(for username: String, password: SecretValue, at now: Date, renewBefore: Double) -> AccessToken? {
        lock.withLock {
            guard let entry = entries[username], entry.password == password,
                entry.token.expiresAt.timeIntervalSince(now) > renewBefore
            else { return nil }
            return entry.token
        }
    }

    func store(_ token: AccessToken, username: String, password: SecretValue) {
        lock.withLock { entries[username] = (token, password) }
    }

    func adopt(_ token: AccessToken, username: String, password: SecretValue) {
        lock.withLock {
            if let existing = entries[username], existing.token.expiresAt >= token.expiresAt { return }
            entries[username] = (token, password)
        }
    }

    func remove(username: String) {
        lock.withLock { _ = entries.removeValue(forKey: username) }
    }
}

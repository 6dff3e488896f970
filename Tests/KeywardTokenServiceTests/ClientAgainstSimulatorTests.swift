import AsyncHTTPClient
import Foundation
import KeywardCore
import KeywardSimulator
import KeywardTesting
import Testing

@testable import KeywardTokenService

/// A simulator with one user and two entities, and a client pointed at it.
struct Harness {
    static let username = "ops+admin@example.com"
    static let password = SecretValue(utf8: "p@ss w+rd/=&%é")
    static let entity: EntityID = "FIU-EXAMPLE-1"
    static let other: EntityID = "FIU-EXAMPLE-2"
    static let firstSecret = "Zm9v+YmFy/YmF6==$#'\"\\ end"

    let simulator: TokenServiceSimulator
    let client: TokenServiceClient
    let context: OperationContext
    let logs: CapturingLogHandler
    let clock: SimulatorClock

    static func start(retry: RetryPolicy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50)),
                      timeoutSeconds: Double = 30) async throws -> Harness {
        let seed = SimulatorSeed(
            users: [.init(username: username, password: password.revealUTF8(), entities: [entity.rawValue, other.rawValue])],
            entities: [.init(id: entity.rawValue, secret: firstSecret, expiresIn: 90 * 86_400), .init(id: other.rawValue, expiresIn: nil)])
        let simulator = TokenServiceSimulator(seed: seed)
        let baseURL = try await simulator.start()
        let client = try TokenServiceClient(configuration: .init(baseURL: baseURL, timeout: .seconds(timeoutSeconds), retry: retry))
        let logs = CapturingLogHandler()
        let clock = SimulatorClock(simulator: simulator)
        return Harness(simulator: simulator, client: client, context: OperationContext(logger: logs.logger(), clock: clock), logs: logs, clock: clock)
    }

    func userToken() async throws -> AccessToken {
        try await client.userToken(username: Self.username, password: Self.password, context: context)
    }

    func counter(_ endpoint: SimulatorEndpoint) -> Int { simulator.counters()[endpoint] ?? 0 }

    /// Every credential a test used, for leak scans.
    func credentials(_ more: [SecretValue] = []) -> [SecretValue] {
        [Self.password, SecretValue(utf8: Self.firstSecret)] + more
            + [Self.entity, Self.other].compactMap { simulator.currentSecret(for: $0.rawValue) }.map(SecretValue.init(utf8:))
    }

    func stop() async { await simulator.stop() }

    /// Stops the simulator and waits until its port refuses connections: under load its
    /// listening socket closed a moment after `stop()` returned, and a test's first connection
    /// was then queued and reset after 5 s instead of refused.
    func stopRefusing() async throws {
        await simulator.stop()
        let port = try #require(client.configuration.baseURL.port)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await offPool({ Self.refuses(port: port) }) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("port \(port) still accepts connections a minute after the simulator stopped")
    }

    /// Whether a TCP connection to 127.0.0.1:`port` is refused (blocking connect).
    static func refuses(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return result != 0 && errno == ECONNREFUSED
    }
}

/// Keyward's clock following the simulator's moved clock, as `KEYWARD_CLOCK_OFFSET_SECONDS` does.
struct SimulatorClock: KeywardClock {
    let simulator: TokenServiceSimulator
    var now: Date { simulator.now }
}

@Suite("the client against the simulator")
struct ClientAgainstSimulatorTests {
    @Test("the four calls work end to end, with punctuation in password and secret")
    func happyPath() async throws {
        let harness = try await Harness.start()
        defer { Task { await harness.stop() } }
        let userToken = try await harness.userToken()
        #expect(userToken.expiresAt.timeIntervalSince(harness.clock.now) > 179 * 86_400)

        let read = try await harness.client.readSecret(entity: Harness.entity, userToken: userToken, context: harness.context)
        #expect(read.secret == SecretValue(utf8: Harness.firstSecret))
        let expiry = try #require(read.expiresAt)
        let serverExpiry = try #require(harness.simulator.secretExpiry(for: Harness.entity.rawValue))
        #expect(abs(expiry.timeIntervalSince(serverExpiry)) < 0.002)

        let entityToken = try await harness.client.generateEntityToken(entity: Harness.entity, secret: read.secret, context: harness.context)
        #expect(abs(entityToken.expiresAt.timeIntervalSince(harness.clock.now) - 86_400) < 60)
        #expect(entityToken.message == nil)

        let reset = try await harness.client.resetSecret(entity: Harness.entity, validityDays: 30, userToken: userToken, context: harness.context)
        #expect(reset.secret != read.secret)
        #expect(reset.secret.revealUTF8() == harness.simulator.currentSecret(for: Harness.entity.rawValue))
        let resetExpiry = try #require(reset.expiresAt)
        #expect(abs(resetExpiry.timeIntervalSince(try #require(harness.simulator.secretExpiry(for: Harness.entity.rawValue)))) < 0.002)
        #expect(abs(resetExpiry.timeIntervalSince(harness.clock.now) - 30 * 86_400) < 60)
        // The old secret stops working at once.
        let refused = await #expect(throws: TokenServiceError.self) {
            try await harness.client.generateEntityToken(entity: Harness.entity, secret: read.secret, context: harness.context)
        }
        #expect(refused?.code == .unauthorized)
        #expect(refused?.category == .authentication)

        // A secret without expiry reads as "no expiry".
        let legacy = try await harness.client.readSecret(entity: Harness.other, userToken: userToken, context: harness.context)
        #expect(legacy.expiresAt == nil)
        #expect(harness.counter(.userToken) == 1, "the user token is cached")
        #expect(harness.counter(.secretReset) == 1)
    }

    @Test("expiresOn in seconds or milliseconds gives the same expiry")
    func expiresOnUnits() async throws {
        let harness = try await Harness.start()
        defer { Task { await harness.stop() } }
        let token = try await harness.userToken()
        harness.simulator.setExpiresOnUnit(.seconds)
        let inSeconds = try await harness.client.readSecret(entity: Harness.entity, userToken: token, context: harness.context)
        harness.simulator.setExpiresOnUnit(.milliseconds)
        let inMilliseconds = try await harness.client.readSecret(entity: Harness.entity, userToken: token, context: harness.context)
        let a = try #require(inSeconds.expiresAt), b = try #require(inMilliseconds.expiresAt)
        #expect(abs(a.timeIntervalSince(b)) < 1)
    }

    @Test("a wrong password is unauthorized, not retried, and never printed")
    func wrongPassword() async throws {
        let harness = try await Harness.start()
        defer { Task { await harness.stop() } }
        let wrong = SecretValue(utf8: "wrong-password-123")
        let error = await #expect(throws: TokenServiceError.self) {
            try await harness.client.userToken(username: Harness.username, password: wrong, context: harness.context)
        }
        #expect(error?.code == .unauthorized)
        #expect(error?.txnId != nil)
        #expect(harness.counter(.userToken) == 1)
        #expect(LeakScanner.leaks(in: "\(error!)", of: [wrong]).isEmpty)
    }

    @Test("grace period: an expired secret still mints a token with a warning, then 401")
    func gracePeriod() async throws {
        let harness = try await Harness.start()
        defer { Task { await harness.stop() } }
        let secret = SecretValue(utf8: Harness.firstSecret)
        harness.simulator.advanceClock(bySeconds: 92 * 86_400)
        let inGrace = try await harness.client.generateEntityToken(entity: Harness.entity, secret: secret, context: harness.context)
        #expect(inGrace.message != nil)
        harness.simulator.advanceClock(bySeconds: 4 * 86_400)
        let error = await #expect(throws: TokenServiceError.self) {
            try await harness.client.generateEntityToken(entity: Harness.entity, secret: secret, context: harness.context)
        }
        #expect(error?.code == .unauthorized)
    }

    @Test("the cached user token is renewed shortly before it expires")
    func userTokenCache() async throws {
        let harness = try await Harness.start()
        defer { Task { await harness.stop() } }
        _ = try await harness.userToken()
        _ = try await harness.userToken()
        #expect(harness.counter(.userToken) == 1)
        harness.simulator.advanceClock(bySeconds: 180 * 86_400 - 60)
        _ = try await harness.userToken()
        #expect(harness.counter(.userToken) == 2)
    }

    @Test("http:// to a non-loopback host is refused")
    func refusesPlainHTTP() {
        #expect(throws: TokenServiceError.self) {
            try TokenServiceClient(configuration: .init(baseURL: URL(string: "http://iam.example.com/iam/v1")!))
        }
        #expect(throws: TokenServiceError.self) {
            try TokenServiceClient(configuration: .init(baseURL: URL(string: "ftp://127.0.0.1/iam/v1")!))
        }
    }
}

/// Each fault the simulator can play, against each kind of call.
@Suite("failures: kinds, retries, and never a second reset")
struct ClientFaultTests {
    struct FaultCase: Sendable, CustomTestStringConvertible {
        var fault: SimulatorFault
        var code: TokenServiceError.Code
        var httpStatus: Int?
        var testDescription: String { fault.kind }
        /// The client's timeout: short where the fault is a delay (3 s) that must time out,
        /// generous elsewhere, so a loaded machine (CI builds beside the tests) never turns an
        /// ordinary slow answer into a timeout and an extra retry.
        var timeoutSeconds: Double {
            if case .latency = fault { return 1 }
            return 30
        }
    }

    static let persistent: [FaultCase] = [
        .init(fault: .status500, code: .serverError, httpStatus: 500),
        .init(fault: .html502, code: .serverError, httpStatus: 502),
        .init(fault: .rateLimit429(retryAfterSeconds: 0), code: .rateLimited, httpStatus: 429),
        .init(fault: .drop, code: .connectionFailed, httpStatus: nil),
        .init(fault: .truncate, code: .truncatedBody, httpStatus: 200),
        .init(fault: .latency(milliseconds: 3_000), code: .timeout, httpStatus: nil),
    ]

    @Test("idempotent calls are retried 3 times, then fail with the fault's kind", arguments: persistent)
    func idempotentCallsRetry(_ fault: FaultCase) async throws {
        let harness = try await Harness.start(timeoutSeconds: fault.timeoutSeconds)
        defer { Task { await harness.stop() } }
        let token = try await harness.userToken()
        harness.simulator.inject(fault.fault, endpoint: .secretRead, count: 3)
        let error = await #expect(throws: TokenServiceError.self) {
            try await harness.client.readSecret(entity: Harness.entity, userToken: token, context: harness.context)
        }
        #expect(error?.code == fault.code)
        #expect(error?.httpStatus == fault.httpStatus)
        #expect(error?.attempts == 3)
        #expect(error?.category == .operationFailed)
        #expect(harness.counter(.secretRead) == 3)
        #expect(LeakScanner.leaks(in: "\(error!)", of: harness.credentials([token.value])).isEmpty)
    }

    @Test("one transient failure is absorbed by a retry", arguments: persistent)
    func transientFailureRecovers(_ fault: FaultCase) async throws {
        let harness = try await Harness.start(timeoutSeconds: fault.timeoutSeconds)
        defer { Task { await harness.stop() } }
        harness.simulator.inject(fault.fault, endpoint: .entityToken, count: 1)
        let token = try await harness.client.generateEntityToken(entity: Harness.entity, secret: SecretValue(utf8: Harness.firstSecret), context: harness.context)
        #expect(!token.value.isEmpty)
        #expect(harness.counter(.entityToken) == 2)
        harness.simulator.inject(fault.fault, endpoint: .userToken, count: 2)
        _ = try await harness.userToken()
        #expect(harness.counter(.userToken) == 3)
    }

    static let resetUnknown: [FaultCase] = [
        .init(fault: .status500, code: .serverError, httpStatus: 500),
        .init(fault: .html502, code: .serverError, httpStatus: 502),
        .init(fault: .drop, code: .connectionFailed, httpStatus: nil),
        .init(fault: .truncate, code: .truncatedBody, httpStatus: 200),
        .init(fault: .dropAfterApplying, code: .connectionFailed, httpStatus: nil),
        .init(fault: .latency(milliseconds: 3_000), code: .timeout, httpStatus: nil),
    ]

    @Test("a reset without a usable answer is 'outcome unknown', sent once, and recoverable by read", arguments: resetUnknown)
    func resetOutcomeUnknown(_ fault: FaultCase) async throws {
        let harness = try await Harness.start(timeoutSeconds: fault.timeoutSeconds)
        defer { Task { await harness.stop() } }
        let token = try await harness.userToken()
        harness.simulator.inject(fault.fault, endpoint: .secretReset, count: 3)
        let error = await #expect(throws: TokenServiceError.self) {
            try await harness.client.resetSecret(entity: Harness.entity, validityDays: nil, userToken: token, context: harness.context)
        }
        #expect(error?.code == .outcomeUnknown)
        #expect(error?.cause == fault.code)
        #expect(error?.serviceDidNotAct == false)
        #expect(error?.description.contains("never a second reset") == true)
        #expect(harness.counter(.secretReset) == 1, "reset is never retried")
        // Recovery reads what the service considers current, whether or not it acted.
        try await Task.sleep(nanoseconds: 3_200_000_000 * (fault.code == .timeout ? 1 : 0))
        let current = try await harness.client.readSecret(entity: Harness.entity, userToken: token, context: harness.context)
        #expect(current.secret.revealUTF8() == harness.simulator.currentSecret(for: Harness.entity.rawValue))
        #expect(LeakScanner.leaks(in: "\(error!)", of: harness.credentials([token.value])).isEmpty)
    }

    @Test("a reset answered 429 or 401 means the service did not act")
    func resetRefused() async throws {
        let harness = try await Harness.start()
        defer { Task { await harness.stop() } }
        let token = try await harness.userToken()
        let before = harness.simulator.currentSecret(for: Harness.entity.rawValue)
        harness.simulator.inject(.rateLimit429(retryAfterSeconds: 0), endpoint: .secretReset, count: 1)
        let limited = await #expect(throws: TokenServiceError.self) {
            try await harness.client.resetSecret(entity: Harness.entity, validityDays: nil, userToken: token, context: harness.context)
        }
        #expect(limited?.code == .rateLimited)
        #expect(limited?.serviceDidNotAct == true)
        #expect(harness.simulator.currentSecret(for: Harness.entity.rawValue) == before)

        let stranger: EntityID = "FIU-NOT-MINE"
        let unauthorized = await #expect(throws: TokenServiceError.self) {
            try await harness.client.resetSecret(entity: stranger, validityDays: nil, userToken: token, context: harness.context)
        }
        #expect(unauthorized?.code == .unauthorized)
        #expect(harness.counter(.secretReset) == 2)
    }

    @Test("Retry-After beyond the policy's limit fails at once and reports the wait")
    func retryAfterHonoured() async throws {
        // A generous timeout: a first attempt timed out under load and retried would meet no
        // 429 the second time (it was seen once in CI: two calls, then success).
        let harness = try await Harness.start(retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50), maxRetryAfter: .seconds(2)),
                                              timeoutSeconds: 30)
        defer { Task { await harness.stop() } }
        harness.simulator.inject(.rateLimit429(retryAfterSeconds: 120), endpoint: .userToken, count: 1)
        let error = await #expect(throws: TokenServiceError.self) { try await harness.userToken() }
        #expect(error?.code == .rateLimited)
        #expect(error?.retryAfterSeconds == 120)
        #expect(error?.attempts == 1)
        #expect(harness.counter(.userToken) == 1)
    }

    @Test("an unreachable service is a connection failure, on the first attempt (a refused connection is not retried)")
    func unreachable() async throws {
        let harness = try await Harness.start(timeoutSeconds: 30)
        try await harness.stopRefusing()
        let error = await #expect(throws: TokenServiceError.self) { try await harness.userToken() }
        #expect(error?.code == .connectionFailed)
        #expect(error?.attempts == 1)
    }

    @Test("nothing the client logs or throws contains a credential")
    func leakScan() async throws {
        let harness = try await Harness.start(timeoutSeconds: 30)
        defer { Task { await harness.stop() } }
        let token = try await harness.userToken()
        var texts: [String] = []
        for fault in [SimulatorFault.status500, .drop, .truncate, .html502] {
            harness.simulator.inject(fault, endpoint: nil, count: 3)
            do { _ = try await harness.client.readSecret(entity: Harness.entity, userToken: token, context: harness.context) } catch { texts.append("\(error)"); texts.append(String(reflecting: error)) }
            harness.simulator.clearFaults()
        }
        do { _ = try await harness.client.generateEntityToken(entity: Harness.entity, secret: SecretValue(utf8: "wrong-secret-xyz"), context: harness.context) } catch { texts.append("\(error)") }
        let entityToken = try await harness.client.generateEntityToken(entity: Harness.entity, secret: SecretValue(utf8: Harness.firstSecret), context: harness.context)
        texts.append("\(entityToken)")
        texts.append("\(token)")
        texts += harness.logs.captured
        let all = texts.joined(separator: "\n")
        #expect(!texts.isEmpty)
        #expect(LeakScanner.leaks(in: all, of: harness.credentials([token.value, entityToken.value, SecretValue(utf8: "wrong-secret-xyz")])).isEmpty)
    }
}

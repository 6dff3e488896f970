import Foundation
import KeywardCore
import KeywardSimulator
import KeywardTesting
import Testing

@testable import KeywardTokenService

/// The client at the network's edges (issue 12, items 7 and 9): a refused connection and a
/// failed DNS lookup fail on the first attempt naming `host:port` and the cause; an answer over
/// 1 MiB is refused as too large, once; every HTTP request is logged at debug level without a
/// body, a header or a token.
@Suite("the client at the network's edges")
struct TransportEdgeTests {
    @Test("a refused connection fails on its first attempt, naming host:port and the cause")
    func refused() async throws {
        let harness = try await Harness.start(timeoutSeconds: 30)
        try await harness.stopRefusing()
        let port = try #require(harness.client.configuration.baseURL.port)
        let error = await #expect(throws: TokenServiceError.self) { try await harness.userToken() }
        #expect(error?.code == .connectionFailed)
        #expect(error?.attempts == 1)
        #expect(error?.detail == "127.0.0.1:\(port): connection refused")
        #expect(error?.description.contains("127.0.0.1:\(port): connection refused") == true, "\(error?.description ?? "")")
        let requests = harness.logs.captured.filter { $0.contains("HTTP request") }
        #expect(requests.count == 1, "\(requests)")
        #expect(requests.first?.contains("error=127.0.0.1:\(port): connection refused") == true, "\(requests)")
    }

    @Test("a host that does not resolve fails on its first attempt, naming host:port and the DNS lookup")
    func unknownHost() async throws {
        let logs = CapturingLogHandler()
        let client = try TokenServiceClient(configuration: .init(baseURL: URL(string: "https://keyward-test.invalid/iam/v1")!, timeout: .seconds(30)))
        let context = OperationContext(logger: logs.logger(), clock: SystemClock())
        let error = await #expect(throws: TokenServiceError.self) {
            try await client.userToken(username: Harness.username, password: Harness.password, context: context)
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.attempts == 1)
        #expect(error?.detail?.hasPrefix("keyward-test.invalid:443: DNS lookup failed") == true, "\(error?.detail ?? "")")
    }

    @Test("an answer over 1 MiB is refused as too large, naming the limit, and not asked for again")
    func oversized() async throws {
        let harness = try await Harness.start()
        defer { Task { await harness.stop() } }
        let token = try await harness.userToken()
        harness.simulator.inject(.oversized, endpoint: .secretRead, count: 3)
        let error = await #expect(throws: TokenServiceError.self) {
            try await harness.client.readSecret(entity: Harness.entity, userToken: token, context: harness.context)
        }
        #expect(error?.code == .bodyTooLarge)
        #expect(error?.httpStatus == 200)
        #expect(error?.attempts == 1)
        #expect(error?.description.contains("1 MiB") == true, "\(error?.description ?? "")")
        #expect(harness.counter(.secretRead) == 1)
    }

    @Test("an oversized answer to a reset leaves its outcome unknown: the service acted")
    func oversizedReset() async throws {
        let harness = try await Harness.start()
        defer { Task { await harness.stop() } }
        let token = try await harness.userToken()
        let before = harness.simulator.currentSecret(for: Harness.entity.rawValue)
        harness.simulator.inject(.oversized, endpoint: .secretReset, count: 1)
        let error = await #expect(throws: TokenServiceError.self) {
            try await harness.client.resetSecret(entity: Harness.entity, validityDays: nil, userToken: token, context: harness.context)
        }
        #expect(error?.code == .outcomeUnknown)
        #expect(error?.cause == .bodyTooLarge)
        #expect(harness.counter(.secretReset) == 1)
        #expect(harness.simulator.currentSecret(for: Harness.entity.rawValue) != before)
    }

    @Test("each HTTP request is logged at debug level: method, host, path, status, duration; no body, header or token")
    func requestLog() async throws {
        let harness = try await Harness.start()
        defer { Task { await harness.stop() } }
        let token = try await harness.userToken()
        let read = try await harness.client.readSecret(entity: Harness.entity, userToken: token, context: harness.context)
        harness.simulator.inject(.status500, endpoint: .entityToken, count: 1)
        let entityToken = try await harness.client.generateEntityToken(entity: Harness.entity, secret: read.secret, context: harness.context)
        let requests = harness.logs.captured.filter { $0.contains("HTTP request") }
        let port = try #require(harness.client.configuration.baseURL.port)
        #expect(requests.count == 4, "user token, read, a 500 then the token: \(requests)")
        for line in requests {
            #expect(line.hasPrefix("debug HTTP request"), "\(line)")
            #expect(line.contains("method=POST") && line.contains("host=127.0.0.1:\(port)") && line.contains("durationMs="), "\(line)")
        }
        #expect(requests.filter { $0.contains("path=/iam/v1/entity/token/generate") }.map { $0.contains("status=500") } == [true, false])
        #expect(requests.contains { $0.contains("path=/iam/v1/entity/secret/read") && $0.contains("status=200") })
        let all = harness.logs.captured.joined(separator: "\n")
        #expect(LeakScanner.leaks(in: all, of: harness.credentials([token.value, read.secret, entityToken.value])).isEmpty)
    }
}

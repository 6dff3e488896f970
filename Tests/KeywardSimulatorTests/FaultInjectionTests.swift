import AsyncHTTPClient
import Foundation
import KeywardSimulator
import NIOCore
import NIOHTTP1
import Testing

/// Each fault kind as a real client sees it (token-service-contract.md, "Errors").
@Suite struct FaultInjectionTests {
    @Test("latency delays the answer, which is otherwise normal")
    func latency() async throws {
        try await Harness.run { harness in
            harness.simulator.inject(.latency(milliseconds: 150), endpoint: .userToken)
            let clock = ContinuousClock()
            let start = clock.now
            _ = try await harness.userToken()
            // A lower bound only: how fast a loaded machine answers is not this test's business.
            #expect(clock.now - start >= .milliseconds(150))
            // The fault applied to one call only: a second one of 2 s would not be over before it.
            harness.simulator.inject(.latency(milliseconds: 2_000), endpoint: .secretRead)
            _ = try await harness.userToken()
            #expect(harness.simulator.counters()[.userToken] == 2)
        }
    }

    @Test("status500 answers 500 and the server does not act")
    func status500() async throws {
        try await Harness.run { harness in
            let token = try await harness.userToken()
            let before = harness.simulator.currentSecret(for: Harness.entity)
            harness.simulator.inject(.status500, endpoint: .secretReset)
            let answer = try await harness.reset(Harness.entity, token: token)
            #expect(answer.status == 500)
            #expect(harness.simulator.currentSecret(for: Harness.entity) == before)
            #expect(harness.simulator.counters()[.secretReset] == 1)
        }
    }

    @Test("html502 answers 502 with an HTML page")
    func html502() async throws {
        try await Harness.run { harness in
            harness.simulator.inject(.html502)
            let answer = try await harness.postForm(.userToken, [("username", Harness.username), ("password", Harness.password)])
            #expect(answer.status == 502)
            #expect(answer.headers["content-type"]?.hasPrefix("text/html") == true)
            #expect(answer.text.contains("<html>"))
        }
    }

    @Test("rateLimit429 answers 429 with Retry-After")
    func rateLimit() async throws {
        try await Harness.run { harness in
            harness.simulator.inject(.rateLimit429(retryAfterSeconds: 7), endpoint: .entityToken, count: 2)
            let secret = try #require(harness.simulator.currentSecret(for: Harness.entity))
            for _ in 0..<2 {
                let answer = try await harness.entityToken(Harness.entity, secret: secret)
                #expect(answer.status == 429)
                #expect(answer.headers["retry-after"] == "7")
            }
            #expect(try await harness.entityToken(Harness.entity, secret: secret).status == 200)
            #expect(harness.simulator.counters()[.entityToken] == 3)
        }
    }

    @Test("drop closes the connection before any response, and the server does not act")
    func drop() async throws {
        try await Harness.run { harness in
            let token = try await harness.userToken()
            let before = harness.simulator.currentSecret(for: Harness.entity)
            harness.simulator.inject(.drop, endpoint: .secretReset)
            await #expect(throws: HTTPClientError.remoteConnectionClosed) {
                _ = try await harness.reset(Harness.entity, token: token)
            }
            #expect(harness.simulator.currentSecret(for: Harness.entity) == before)
            #expect(harness.simulator.counters()[.secretReset] == 1)
            #expect(try await harness.read(Harness.entity, token: token).status == 200, "the next call is served")
        }
    }

    @Test("dropAfterApplying resets the secret, then closes the connection without an answer")
    func dropAfterApplying() async throws {
        try await Harness.run { harness in
            let token = try await harness.userToken()
            let before = try #require(harness.simulator.currentSecret(for: Harness.entity))
            harness.simulator.inject(.dropAfterApplying, endpoint: .secretReset)
            await #expect(throws: HTTPClientError.remoteConnectionClosed) {
                _ = try await harness.reset(Harness.entity, token: token)
            }
            let after = try #require(harness.simulator.currentSecret(for: Harness.entity))
            #expect(after != before)
            #expect(harness.simulator.counters()[.secretReset] == 1)
            let read = try await harness.read(Harness.entity, token: token).json()
            #expect(read["secret"] as? String == after, "secret/read recovers the new secret")
        }
    }

    @Test("truncate sends the head with the full Content-Length, then half the body, then closes")
    func truncate() async throws {
        try await Harness.run { harness in
            harness.simulator.inject(.truncate, endpoint: .userToken)
            var request = HTTPClientRequest(url: harness.baseURL.absoluteString + "/user/token/generate")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: Harness.formEncode([("username", Harness.username), ("password", Harness.password)])))
            // A generous deadline: it only keeps a broken simulator from hanging the run, and a
            // loaded CI machine has taken more than 10 s to answer here.
            let response = try await harness.client.execute(request, timeout: .seconds(120))
            #expect(response.status == .ok)
            let length = try #require(response.headers.first(name: "Content-Length").flatMap { Int($0) })
            #expect(length > 100)
            var received = 0
            await #expect(throws: (any Error).self) {
                for try await chunk in response.body { received += chunk.readableBytes }
            }
            #expect(received < length)
            #expect(response.headers.first(name: "x-keyward-simulator-fault") == nil, "the internal marker never reaches the wire")
        }
    }

    @Test("a fault aimed at one endpoint leaves the others alone; one for any endpoint hits the next call")
    func faultTargeting() async throws {
        try await Harness.run { harness in
            harness.simulator.inject(.status500, endpoint: .secretReset)
            let token = try await harness.userToken()
            #expect(try await harness.read(Harness.entity, token: token).status == 200)
            // The reset fault is still queued; an "any" fault queued after it serves the read.
            harness.simulator.inject(.html502, endpoint: nil)
            #expect(try await harness.read(Harness.entity, token: token).status == 502)
            #expect(try await harness.reset(Harness.entity, token: token).status == 500)
            #expect(try await harness.reset(Harness.entity, token: token).status == 200)
            harness.simulator.inject(.status500, endpoint: .entityToken)
            harness.simulator.clearFaults()
            let secret = try #require(harness.simulator.currentSecret(for: Harness.entity))
            #expect(try await harness.entityToken(Harness.entity, secret: secret).status == 200)
        }
    }
}

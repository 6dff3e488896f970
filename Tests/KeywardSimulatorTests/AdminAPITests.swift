import Foundation
import KeywardSimulator
import NIOHTTP1
import Testing

/// The `/_sim` admin API of DESIGN.md's "The simulator".
@Suite struct AdminAPITests {
    @Test("GET /_sim/counters lists every endpoint; POST /_sim/counters/reset zeroes them")
    func counters() async throws {
        try await Harness.run { harness in
            _ = try await harness.userToken()
            _ = try await harness.postForm(.userToken, [("username", "nobody"), ("password", "x")])
            let json = try await harness.admin(.GET, "/_sim/counters").json()
            #expect(Harness.integer(json["userToken"]) == 2)
            for name in ["secretRead", "secretReset", "entityToken"] {
                #expect(Harness.integer(json[name]) == 0)
            }
            let reset = try await harness.admin(.POST, "/_sim/counters/reset")
            #expect(reset.status == 200)
            #expect(Harness.integer(try reset.json()["userToken"]) == 0)
            #expect(harness.simulator.counters()[.userToken] == 0)
        }
    }

    @Test("GET /_sim/secrets maps entity ids to current secrets")
    func secrets() async throws {
        try await Harness.run { harness in
            let json = try await harness.admin(.GET, "/_sim/secrets").json()
            #expect(json[Harness.entity] as? String == harness.simulator.currentSecret(for: Harness.entity))
            #expect(json[Harness.otherEntity] as? String == "legacy$secret#'\"\\")
        }
    }

    @Test("POST /_sim/clock moves the clock forward, and expiry follows it")
    func clock() async throws {
        try await Harness.run(seed: Harness.seed(entityExpiresIn: 60)) { harness in
            let before = harness.simulator.now
            let answer = try await harness.admin(.POST, "/_sim/clock", ["advanceSeconds": 6 * 86_400])
            #expect(answer.status == 200)
            #expect(harness.simulator.now.timeIntervalSince(before) >= 6 * 86_400)
            let secret = try #require(harness.simulator.currentSecret(for: Harness.entity))
            #expect(try await harness.entityToken(Harness.entity, secret: secret).status == 401)
            #expect(try await harness.admin(.POST, "/_sim/clock", ["advanceSeconds": -5]).status == 400)
            #expect(try await harness.admin(.POST, "/_sim/clock", ["advanceSeconds": "soon"]).status == 400)
        }
    }

    @Test("POST /_sim/entities/<ID>/expiry changes an entity's expiry in place: the secret's bytes stay, null means no expiry")
    func expiryInPlace() async throws {
        try await Harness.run { harness in
            let secret = try #require(harness.simulator.currentSecret(for: Harness.entity))
            let before = harness.simulator.now
            let answer = try await harness.admin(.POST, "/_sim/entities/\(Harness.entity)/expiry", ["expiresInSeconds": 150 * 86_400])
            let after = harness.simulator.now
            #expect(answer.status == 200, "\(answer.text)")
            let expiresAt = try #require(harness.simulator.secretExpiry(for: Harness.entity))
            #expect(Harness.isOffset(expiresAt, by: 150 * 86_400, between: before, and: after))
            #expect(harness.simulator.currentSecret(for: Harness.entity) == secret, "the bytes stay")
            #expect(try answer.json()["expiresAt"] is String)

            let legacy = try await harness.admin(.POST, "/_sim/entities/\(Harness.entity)/expiry", ["expiresInSeconds": NSNull()])
            #expect(legacy.status == 200, "\(legacy.text)")
            #expect(harness.simulator.secretExpiry(for: Harness.entity) == nil)
            #expect(try legacy.json()["expiresAt"] is NSNull)

            #expect(try await harness.admin(.POST, "/_sim/entities/FIU-NOBODY/expiry", ["expiresInSeconds": 60]).status == 404)
            #expect(try await harness.admin(.POST, "/_sim/entities/\(Harness.entity)/expiry", ["expiresInSeconds": "soon"]).status == 400)
            #expect(try await harness.admin(.POST, "/_sim/entities/\(Harness.entity)/expiry", [:]).status == 400)
            #expect(try await harness.admin(.POST, "/_sim/entities/\(Harness.entity)/expiry", ["expiresInSeconds": 60, "other": 1]).status == 400)
            #expect(harness.simulator.counters().values.allSatisfy { $0 == 0 }, "admin calls are not counted")
        }
    }

    @Test("POST /_sim/faults queues a fault for the next count calls")
    func faults() async throws {
        try await Harness.run { harness in
            let queued = try await harness.admin(.POST, "/_sim/faults", ["endpoint": "userToken", "kind": "rateLimit429", "retryAfter": 3, "count": 2])
            #expect(queued.status == 200, "\(queued.text)")
            for _ in 0..<2 {
                let answer = try await harness.postForm(.userToken, [("username", Harness.username), ("password", Harness.password)])
                #expect(answer.status == 429)
                #expect(answer.headers["retry-after"] == "3")
            }
            _ = try await harness.userToken()

            #expect(try await harness.admin(.POST, "/_sim/faults", ["endpoint": "any", "kind": "latency", "ms": 50]).status == 200)
            let clock = ContinuousClock()
            let start = clock.now
            _ = try await harness.userToken()
            #expect(clock.now - start >= .milliseconds(50))

            #expect(try await harness.admin(.POST, "/_sim/faults", ["kind": "status500"]).status == 200)
            #expect(try await harness.admin(.DELETE, "/_sim/faults").status == 204)
            _ = try await harness.userToken()
        }
    }

    @Test("bad admin input answers 400 with a message", arguments: [
        ["endpoint": "everything", "kind": "drop"],
        ["endpoint": "secretReset", "kind": "explode"],
        ["endpoint": "secretReset"],
        ["kind": "latency"],
        ["kind": "latency", "ms": -1],
        ["kind": "drop", "count": 0],
        ["kind": "drop", "colour": "red"],
    ] as [[String: any Sendable]])
    func badFaults(body: [String: any Sendable]) async throws {
        try await Harness.run { harness in
            let answer = try await harness.admin(.POST, "/_sim/faults", body)
            #expect(answer.status == 400)
            #expect((try answer.json()["error"] as? String)?.isEmpty == false)
        }
    }

    @Test("POST /_sim/config switches expiresOn between seconds and milliseconds")
    func config() async throws {
        try await Harness.run { harness in
            let token = try await harness.userToken()
            #expect(try await harness.admin(.POST, "/_sim/config", ["expiresOnUnit": "s"]).status == 200)
            let seconds = try #require(Harness.integer(try await harness.read(Harness.entity, token: token).json()["expiresOn"]))
            #expect(seconds < 100_000_000_000)
            #expect(try await harness.admin(.POST, "/_sim/config", ["expiresOnUnit": "ms"]).status == 200)
            let millis = try #require(Harness.integer(try await harness.read(Harness.entity, token: token).json()["expiresOn"]))
            #expect(millis / 1000 == seconds)
            #expect(try await harness.admin(.POST, "/_sim/config", ["expiresOnUnit": "minutes"]).status == 400)
            #expect(try await harness.admin(.POST, "/_sim/config", [:]).status == 400)
            #expect(harness.simulator.counters()[.secretRead] == 2, "admin calls are not counted")
        }
    }
}

import Foundation
import KeywardSimulator
import Testing

@Suite("login, sync, token, status, audit against the simulator", .serialized)
struct SyncCLITests {
    @Test("sync brings every secret into the vault and mints tokens; a second sync changes nothing")
    func syncTwice() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.run(["sync"])
        #expect(first.status == 0, "\(first.all)")
        #expect(first.stdout.contains("FIU-ALPHA: ok (new secret version, token minted); secret v1"))
        for id in ["FIU-ALPHA", "FIU-BETA", "FIU-GAMMA"] {
            #expect(try await fixture.vaultGet("entities/\(id)/secret") == fixture.simulator.currentSecret(for: id))
        }
        #expect(fixture.counter(.entityToken) == 3)
        #expect(fixture.counter(.userToken) == 1, "login's user token persisted in the vault and served all three entities")

        let second = try await fixture.run(["sync", "--output", "json"])
        #expect(second.status == 0)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
        #expect(report["version"] as? Int == 1)
        let outcomes = (report["entities"] as? [[String: Any]])?.map { $0["outcome"] as? String }
        #expect(outcomes == ["unchanged", "unchanged", "unchanged"])
        #expect(fixture.counter(.entityToken) == 3, "tokens still valid: none minted")
        #expect(fixture.counter(.userToken) == 1, "the user token persisted in the vault")
        let history = try await fixture.run(["vault", "history", "entities/FIU-ALPHA/secret"])
        #expect(history.stdout.split(separator: "\n").filter { $0.contains("current") }.count == 1)
        #expect(!history.stdout.contains("v2") && !history.stdout.contains(" 2 "), "\(history.stdout)")
        for output in [first.all, second.all, history.all] {
            #expect(fixture.secrets().filter { output.contains($0) }.isEmpty)
        }
    }

    @Test("a rotated-elsewhere secret becomes a new version; tokens due are minted again")
    func newVersion() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-BETA"]).status == 0)
        fixture.simulator.setSecret("rotated+by/someone=else", for: "FIU-BETA", expiresIn: 30 * 86_400)
        fixture.simulator.advanceClock(bySeconds: 86_400 - 300)
        let result = try await fixture.run(["sync", "FIU-BETA"], extraEnvironment: ["KEYWARD_CLOCK_OFFSET_SECONDS": "\(86_400 - 300)"])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("FIU-BETA: ok (new secret version, token minted); secret v2"))
        #expect(try await fixture.vaultGet("entities/FIU-BETA/secret") == "rotated+by/someone=else")
        #expect(!result.all.contains("rotated+by/someone=else"))
    }

    @Test("token prints only the token and a newline, and reuses a valid one")
    func token() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.run(["token", "FIU-ALPHA"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.hasSuffix("\n"))
        #expect(first.stdout.split(separator: ".").count == 3, "a JWT")
        #expect(first.stdout == (try await fixture.vaultGet("entities/FIU-ALPHA/token")) + "\n")
        let second = try await fixture.run(["token", "FIU-ALPHA"])
        #expect(second.stdout == first.stdout)
        #expect(fixture.counter(.entityToken) == 1)
        #expect(first.stderr.isEmpty)
        let unknown = try await fixture.run(["token", "FIU-NOPE"])
        #expect(unknown.status == 2)
        #expect(unknown.stdout.isEmpty)
    }

    @Test("a wrong password exits 3, is not echoed, and stores nothing")
    func wrongPassword() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["login", "sim"], stdin: "Wr0ng-Passw0rd!\n")
        #expect(result.status == 3)
        #expect(!result.all.contains("Wr0ng-Passw0rd!"))
        #expect(try await fixture.vaultGet("providers/sim/password") == EngineFixture.password)
        let unknown = try await fixture.run(["login", "nosuch"], stdin: "x\n")
        #expect(unknown.status == 2)
    }

    @Test("an unreachable service exits 1 and names the failure")
    func unreachable() async throws {
        let fixture = try await EngineFixture.start()
        await fixture.simulator.stop()
        defer { Task { await fixture.stop() } }
        // AsyncHTTPClient retries a refused connection until the deadline: keep it short.
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        try (try String(contentsOf: config, encoding: .utf8)).replacingOccurrences(of: "timeout: 30s", with: "timeout: 2s")
            .write(to: config, atomically: true, encoding: .utf8)
        let result = try await fixture.run(["sync", "FIU-ALPHA"])
        #expect(result.status == 1, "\(result.all)")
        #expect(result.stderr.contains("connection failed"))
    }

    @Test("one failing entity among three exits 5; the other two are synced")
    func partial() async throws {
        let fixture = try await EngineFixture.start(forbidden: true)
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["sync", "--output", "json"])
        #expect(result.status == 5, "\(result.all)")
        #expect(result.stderr.contains("entity FIU-GAMMA"))
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try await fixture.vaultGet("entities/FIU-BETA/secret") == fixture.simulator.currentSecret(for: "FIU-BETA"))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let gamma = (report["entities"] as? [[String: Any]])?.first { $0["id"] as? String == "FIU-GAMMA" }
        #expect(gamma?["outcome"] as? String == "failed")
        #expect((gamma?["error"] as? [String: Any])?["code"] as? String == "authentication")
        let alone = try await fixture.run(["sync", "FIU-GAMMA"])
        #expect(alone.status == 3, "only an authentication failure: exit 3")
    }

    @Test("--dry-run calls only read-only endpoints and writes no vault entry")
    func dryRun() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let vaultFile = fixture.directory.appendingPathComponent("state/vault.db")
        let before = try await fixture.run(["vault", "list"]).stdout
        let generationBefore = try await fixture.run(["vault", "verify"]).stdout
        let result = try await fixture.run(["sync", "--dry-run"])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("plan (dry run"))
        #expect(result.stdout.contains("store new version entities/FIU-ALPHA/secret"))
        #expect(result.stdout.contains("mint token entities/FIU-ALPHA/token"))
        #expect(fixture.counter(.entityToken) == 0)
        #expect(fixture.counter(.secretReset) == 0)
        #expect(try await fixture.run(["vault", "list"]).stdout == before)
        _ = generationBefore
        #expect(FileManager.default.fileExists(atPath: vaultFile.path))
        #expect(fixture.secrets().filter { result.all.contains($0) }.isEmpty)
        let audit = try await fixture.run(["audit"])
        #expect(audit.stdout.contains("sync --dry-run\tFIU-ALPHA"))
    }

    @Test("status shows versions and expiries; --fail-within exits 6; JSON follows DESIGN.md")
    func status() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let before = try await fixture.run(["status"])
        #expect(before.status == 0)
        #expect(before.stdout.contains("FIU-ALPHA: no secret"))
        #expect(try await fixture.run(["sync"]).status == 0)
        let text = try await fixture.run(["status"])
        #expect(text.stdout.contains("FIU-GAMMA: secret v1"))
        #expect(text.stdout.contains("no expiry"))
        let json = try await fixture.run(["status", "--output", "json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let entities = try #require(report["entities"] as? [[String: Any]])
        let gamma = try #require(entities.first { $0["id"] as? String == "FIU-GAMMA" })
        let secret = try #require(gamma["secret"] as? [String: Any])
        #expect(secret["expiresAt"] is NSNull)
        #expect(secret["rotationDueAt"] is NSNull, "no expiry: never due")
        #expect(secret["version"] as? Int == 1)
        #expect(gamma["openJournal"] is NSNull)
        // FIU-ALPHA: 90 days, rotateBefore 15 days: due 75 days after it was synced.
        let alpha = try #require(entities.first { $0["id"] as? String == "FIU-ALPHA" }?["secret"] as? [String: Any])
        let due = try #require((alpha["rotationDueAt"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        let expires = try #require((alpha["expiresAt"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        #expect(abs(expires.timeIntervalSince(due) - 15 * 86_400) < 2, "\(alpha)")
        #expect(text.stdout.contains("FIU-ALPHA: secret v1") && text.stdout.contains(", rotation due "), "\(text.stdout)")
        // FIU-BETA was adopted with 40 days left: the full 15-day window applies (not a third of
        // the 40 days Keyward has known it).
        let beta = try #require(entities.first { $0["id"] as? String == "FIU-BETA" }?["secret"] as? [String: Any])
        let betaDue = try #require((beta["rotationDueAt"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        let betaExpires = try #require((beta["expiresAt"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        #expect(abs(betaExpires.timeIntervalSince(betaDue) - 15 * 86_400) < 2, "\(beta)")
        #expect(gamma.keys.sorted() == ["id", "lastRotation", "lastSync", "openJournal", "secret", "token", "warnings"])
        let soon = try await fixture.run(["status", "--fail-within", "45d"])
        #expect(soon.status == 6)
        #expect(soon.stderr.contains("FIU-BETA"))
        #expect(!soon.stderr.contains("FIU-ALPHA"))
        #expect(try await fixture.run(["status", "--fail-within", "30d"]).status == 0)
        #expect(try await fixture.run(["status", "--fail-within", "soon"]).status == 2)
    }

    @Test("an expired secret inside its grace period warns loudly")
    func grace() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        fixture.simulator.advanceClock(bySeconds: 41 * 86_400)
        let result = try await fixture.run(["sync", "FIU-BETA"], extraEnvironment: ["KEYWARD_CLOCK_OFFSET_SECONDS": "\(41 * 86_400)"])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stderr.contains("EXPIRED"))
        #expect(result.stderr.contains("grace period"))
    }

    @Test("audit lists operations with txnIds and never a value")
    func audit() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        _ = try await fixture.run(["token", "FIU-ALPHA"])
        let result = try await fixture.run(["audit", "--since", "1h"])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.contains { $0.contains("\tlogin sim\t-\tok") })
        #expect(lines.filter { $0.contains("\tsync\t") }.count == 3)
        #expect(lines.contains { $0.contains("\ttoken\tFIU-ALPHA\tok\t") })
        #expect(fixture.secrets().filter { result.stdout.contains($0) }.isEmpty)
        let json = try await fixture.run(["audit", "--output", "json"])
        #expect(json.stdout.contains("\"version\" : 1"))
    }

    @Test("a broken configuration stops sync with exit 2 before anything is read or written")
    func brokenConfiguration() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        let broken = try String(contentsOf: config, encoding: .utf8)
            + "sinks:\n  env:\n    type: dotenv\n    path: out/app.env\n    entities: [FIU-ALPHA]\n    keys: {X: \"{entity.nope}\"}\n"
        try broken.write(to: config, atomically: true, encoding: .utf8)
        let listed = try await fixture.run(["vault", "list"]).stdout
        let result = try await fixture.run(["sync"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("sinks.env.keys.X: unknown placeholder {entity.nope}"))
        #expect(fixture.counter(.secretRead) == 0)
        #expect(try await fixture.run(["vault", "list"]).stdout == listed)
    }
}

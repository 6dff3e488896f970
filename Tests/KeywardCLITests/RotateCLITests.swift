import Foundation
import KeywardSimulator
import Testing

/// `keyward rotate` end to end: the built binary against the in-process simulator, killed at
/// every step of DESIGN.md's state machine ("Rotation: a crash-safe state machine").
@Suite("rotate: crash safety, one reset, locks, dry run", .serialized)
struct RotateCLITests {
    static let sinks = """
        sinks:
          alpha-json:
            type: json
            path: deploy/alpha.json
            entities: [FIU-ALPHA]
            keys:
              AA_CLIENT_ID: "{entity.id}"
              AA_CLIENT_SECRET: "{entity.secret}"
          both-json:
            type: json
            path: deploy/both.json
            entities: [FIU-ALPHA, FIU-BETA]
        """

    static func withSinks() async throws -> EngineFixture {
        let fixture = try await EngineFixture.start()
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        try (try String(contentsOf: config, encoding: .utf8) + Self.sinks + "\n").write(to: config, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: fixture.directory.appendingPathComponent("deploy"), withIntermediateDirectories: true)
        return fixture
    }

    /// The secret the `alpha-json` sink holds.
    /// Another job's hold on `entity`'s rotation lock beside the fixture's vault, taken by the
    /// test itself (an exclusive `flock`); released by ``RotationLockHold/release()`` or at the
    /// end of the test.
    final class RotationLockHold {
        private var descriptor: Int32

        init(_ fixture: EngineFixture, entity: String = "FIU-ALPHA", sourceLocation: SourceLocation = #_sourceLocation) throws {
            let path = fixture.directory.appendingPathComponent("state/vault.db.locks/\(entity).lock").path
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            descriptor = open(path, O_RDWR | O_CREAT, 0o600)
            #expect(descriptor >= 0, sourceLocation: sourceLocation)
            #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0, sourceLocation: sourceLocation)
        }

        func release() {
            guard descriptor >= 0 else { return }
            close(descriptor)
            descriptor = -1
        }

        deinit { release() }
    }

    static func sinkSecret(_ fixture: EngineFixture) throws -> String? {
        let data = try Data(contentsOf: fixture.directory.appendingPathComponent("deploy/alpha.json"))
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["AA_CLIENT_SECRET"] as? String
    }

    /// The vault, the sink and the service agree on FIU-ALPHA's secret, and no rotation is open.
    static func expectConverged(_ fixture: EngineFixture, _ note: String) async throws {
        let server = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == server, "\(note): vault follows the service")
        #expect(try sinkSecret(fixture) == server, "\(note): the sink holds the service's secret")
        let status = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let entity = try #require((report["entities"] as? [[String: Any]])?.first)
        #expect(entity["openJournal"] is NSNull, "\(note): no open journal entry: \(status.stdout)")
    }

    static let killed: Set<Int32> = [9, 137]

    @Test("killed at each step, three times over: the next sync ends with the service's secret, one reset per rotation",
          arguments: ["before-journal", "after-journal", "after-reset-answer", "after-store", "after-token", "during-sinks"])
    func crashAt(step: String) async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.run(["sync"])
        #expect(first.status == 0, "\(first.all)")
        let resetsExpected = ["before-journal", "after-journal"].contains(step) ? 0 : 1
        for round in 1...3 {
            let before = fixture.counter(.secretReset)
            let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": step])
            #expect(Self.killed.contains(crashed.status), "round \(round): killed at \(step): \(crashed.all)")
            let status = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"])
            #expect(status.status == 0)
            if step != "before-journal" {
                #expect(!status.stdout.contains("\"openJournal\":null") && !status.stdout.contains("\"openJournal\" : null"),
                        "round \(round): status reports the open rotation: \(status.stdout)")
            }
            let sync = try await fixture.run(["sync"])
            #expect(sync.status == 0, "round \(round): \(sync.all)")
            #expect(fixture.counter(.secretReset) - before == resetsExpected, "round \(round): \(step)")
            try await Self.expectConverged(fixture, "\(step), round \(round)")
            #expect(fixture.secrets().filter { crashed.all.contains($0) || sync.all.contains($0) }.isEmpty)
        }
    }

    @Test("killed while the reset is in flight on the server: the next sync reads the result and never resets again")
    func killedInFlight() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        fixture.simulator.inject(.latency(milliseconds: 3_000), endpoint: .secretReset)
        let process = try Self.launch(["rotate", "--force", "FIU-ALPHA"], fixture: fixture)
        // Wait until the request reached the server, then kill the client.
        let deadline = Date().addingTimeInterval(20)
        while fixture.counter(.secretReset) == 0 && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(fixture.counter(.secretReset) == 1)
        kill(process.processIdentifier, SIGKILL)
        let status = await Self.wait(process)
        #expect(Self.killed.contains(status))
        try await Task.sleep(for: .milliseconds(3_500))  // the server finishes the reset
        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 0, "\(sync.all)")
        #expect(fixture.counter(.secretReset) == 1)
        try await Self.expectConverged(fixture, "in flight")
    }

    @Test("status reports an open rotation and changes nothing; export, token and rotate finish it without a second reset")
    func otherCommandsRecover() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let old = try await fixture.vaultGet("entities/FIU-ALPHA/secret")

        let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-store"])
        #expect(Self.killed.contains(crashed.status))
        let status = try await fixture.run(["status", "FIU-ALPHA"])
        #expect(status.stdout.contains("rotation 1 stored"), "status names the open rotation: \(status.stdout)")
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == old, "read-only: the old version stays current")
        // export is mutating while a rotation is open (DESIGN.md, "Rotation", item 7): it
        // finishes the rotation, then delivers the service's secret, never the superseded one.
        let export = try await fixture.run(["export", "FIU-ALPHA", "--format", "json"])
        #expect(export.status == 0, "\(export.all)")
        let exported = try JSONSerialization.jsonObject(with: Data(export.stdout.utf8)) as? [String: Any]
        #expect(exported?["FIU_ALPHA_SECRET"] as? String == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try Self.sinkSecret(fixture) == fixture.simulator.currentSecret(for: "FIU-ALPHA"), "finishing a rotation writes its sinks")
        #expect(fixture.counter(.secretReset) == 1)

        let interrupted = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-store"])
        #expect(Self.killed.contains(interrupted.status))
        let token = try await fixture.run(["token", "FIU-ALPHA"])
        #expect(token.status == 0, "\(token.all)")
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try Self.sinkSecret(fixture) == fixture.simulator.currentSecret(for: "FIU-ALPHA"), "finishing a rotation writes its sinks")
        #expect(fixture.counter(.secretReset) == 2)

        let again = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-token"])
        #expect(Self.killed.contains(again.status))
        let rotate = try await fixture.run(["rotate", "FIU-ALPHA"])
        #expect(rotate.status == 0, "\(rotate.all)")
        #expect(rotate.stdout.contains("FIU-ALPHA: ok"), "\(rotate.stdout)")
        #expect(fixture.counter(.secretReset) == 3)
        try await Self.expectConverged(fixture, "rotate recovers and writes the sinks")
    }

    @Test("killed while writing the sinks: `token` alone finishes the fan-out before closing the rotation")
    func tokenFinishesFanOut() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "during-sinks"])
        #expect(Self.killed.contains(crashed.status), "\(crashed.all)")
        let token = try await fixture.run(["token", "FIU-ALPHA"])
        #expect(token.status == 0, "\(token.all)")
        #expect(fixture.counter(.secretReset) == 1)
        try await Self.expectConverged(fixture, "token after a crash during the sinks")
        // The sink the crash came before (sinks are written in name order: alpha-json, both-json).
        let both = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture.directory.appendingPathComponent("deploy/both.json"))) as? [String: Any]
        #expect(both?["FIU_ALPHA_SECRET"] as? String == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
    }

    @Test("a new secret whose test fails (no entity token) still becomes current and reaches the sinks; exit 1")
    func failedTest() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        fixture.simulator.inject(.status500, endpoint: .entityToken, count: 20)
        let result = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
        fixture.simulator.clearFaults()
        #expect(result.status == 1, "\(result.all)")
        #expect(result.stderr.contains("failed its test"), "\(result.stderr)")
        #expect(fixture.counter(.secretReset) == 1)
        try await Self.expectConverged(fixture, "failed test")
    }

    @Test("a lost answer that cannot be read back either leaves the rotation open; the next sync finishes it, still one reset")
    func lostAnswerUnreadable() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        fixture.simulator.inject(.dropAfterApplying, endpoint: .secretReset)
        fixture.simulator.inject(.status500, endpoint: .secretRead, count: 20)
        let result = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
        fixture.simulator.clearFaults()
        #expect(result.status != 0, "\(result.all)")
        let status = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"])
        #expect(status.stdout.contains("sent since"), "the entry stays open as sent: \(status.stdout)")
        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 0, "\(sync.all)")
        #expect(fixture.counter(.secretReset) == 1)
        try await Self.expectConverged(fixture, "recovered by sync")
    }

    @Test("a lost answer (the server reset, the connection dropped): exactly one reset, the vault ends with the service's secret")
    func lostAnswer() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let old = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        fixture.simulator.inject(.dropAfterApplying, endpoint: .secretReset)
        let result = try await fixture.run(["rotate", "--force", "FIU-ALPHA", "--output", "json"])
        #expect(result.status == 0, "\(result.all)")
        #expect(fixture.counter(.secretReset) == 1)
        #expect(fixture.simulator.currentSecret(for: "FIU-ALPHA") != old)
        #expect(result.stderr.contains("read the secret back with secret/read"), "\(result.stderr)")
        try await Self.expectConverged(fixture, "lost answer")
        let history = try await fixture.run(["vault", "history", "entities/FIU-ALPHA/secret"])
        #expect(history.stdout.contains("previous"), "the old secret is kept as previous: \(history.stdout)")
    }

    @Test("a reset the service never applied (500) is not a rotation: it stays open, is never repeated within the settle period, then is closed and a new reset made")
    func neverApplied() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let old = try await fixture.vaultGet("entities/FIU-ALPHA/secret")
        fixture.simulator.inject(.status500, endpoint: .secretReset)
        let first = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
        #expect(first.status == 1, "not reported as a rotation: \(first.all)")
        #expect(first.stderr.contains("has no known outcome yet"), "\(first.stderr)")
        #expect(fixture.counter(.secretReset) == 1)
        #expect(fixture.simulator.currentSecret(for: "FIU-ALPHA") == old, "the service did not act")
        let status = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"])
        #expect(status.stdout.contains("rotation 1 sent"), "the rotation is reported open: \(status.stdout)")
        let plan = try await fixture.run(["rotate", "--dry-run", "FIU-ALPHA"])
        #expect(plan.stdout.contains("recover entities/FIU-ALPHA/secret"), "the plan shows the recovery first: \(plan.stdout)")

        let again = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
        #expect(again.status == 1, "\(again.all)")
        #expect(again.stderr.contains("not reset again"), "\(again.stderr)")
        // The old secret still works, but the reset may still be applied: sync says so and
        // exits 1 (issue 12, item 9), the sinks may hold a dead secret any moment now.
        let sync = try await fixture.run(["sync", "FIU-ALPHA"])
        #expect(sync.status == 1, "\(sync.all)")
        #expect(sync.stderr.contains("has no known outcome yet"), "\(sync.stderr)")
        #expect(fixture.counter(.secretReset) == 1, "never a second reset while the first may still be applied")

        // Five minutes on, a read that still shows the old secret settles it: never applied.
        let later = ["KEYWARD_CLOCK_OFFSET_SECONDS": "400"]
        let settled = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: later)
        #expect(settled.status == 0, "\(settled.all)")
        #expect(fixture.counter(.secretReset) == 2, "the new rotation's own reset")
        try await Self.expectConverged(fixture, "after settling")
        let audit = try await fixture.run(["audit"])
        #expect(audit.stdout.contains("rotate recover") && audit.stdout.contains("aborted"), "\(audit.stdout)")
    }

    @Test("a reset applied after the client gave up (a timeout) is found by the next command: the vault never keeps the dead secret")
    func appliedAfterTimeout() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        try (try String(contentsOf: config, encoding: .utf8)).replacingOccurrences(of: "timeout: 30s", with: "timeout: 1s")
            .write(to: config, atomically: true, encoding: .utf8)
        #expect(try await fixture.run(["sync"]).status == 0)
        fixture.simulator.inject(.latency(milliseconds: 3_000), endpoint: .secretReset)
        let rotate = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
        #expect(rotate.status == 1, "\(rotate.all)")
        #expect(rotate.stderr.contains("has no known outcome yet"), "\(rotate.stderr)")
        // A sync right away, before the service has applied it: changes nothing, closes nothing,
        // and fails (the outcome is unknown: the sinks may hold a dead secret any moment now).
        let early = try await fixture.run(["sync", "FIU-ALPHA"])
        #expect(early.status == 1, "\(early.all)")
        #expect(early.stderr.contains("has no known outcome yet"), "\(early.stderr)")
        let open = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"])
        #expect(open.stdout.contains("rotation 1 sent"), "\(open.stdout)")
        try await Task.sleep(for: .milliseconds(3_500))  // the service applies the reset
        let server = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        let sync = try await fixture.run(["sync", "FIU-ALPHA", "--output", "json"])
        #expect(sync.status == 0, "\(sync.all)")
        #expect(sync.stdout.contains("recovered"), "the sync says it finished the rotation: \(sync.stdout)")
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == server)
        #expect(fixture.counter(.secretReset) == 1)
        try await Self.expectConverged(fixture, "applied after the timeout")
        let status = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"])
        #expect(!status.stdout.contains("\"lastRotation\" : null"), "a rotation finished by recovery counts: \(status.stdout)")
    }

    @Test("no user token before the reset: the rotation is aborted, nothing sent, nothing left open")
    func userTokenFails() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        fixture.simulator.inject(.status500, endpoint: .userToken, count: 20)
        let result = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
        fixture.simulator.clearFaults()
        #expect(result.status == 1, "\(result.all)")
        #expect(!result.stderr.contains("answer was lost"), "no reset was sent: \(result.stderr)")
        #expect(fixture.counter(.secretReset) == 0)
        let status = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"])
        #expect(status.stdout.contains("\"openJournal\" : null"), "\(status.stdout)")
    }

    @Test("sync leaves an entity alone while another job holds its rotation lock")
    func syncDuringRotation() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let lock = try RotationLockHold(fixture)
        defer { lock.release() }
        fixture.simulator.setSecret("rotated-elsewhere-secret", for: "FIU-ALPHA", expiresIn: 90 * 86_400)
        let sync = try await fixture.run(["sync", "--output", "json"])
        #expect(sync.status == 0, "a skip is not a failure: \(sync.all)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(sync.stdout.utf8)) as? [String: Any])
        let alpha = (report["entities"] as? [[String: Any]])?.first { $0["id"] as? String == "FIU-ALPHA" }
        #expect(alpha?["outcome"] as? String == "skipped", "\(sync.stdout)")
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") != "rotated-elsewhere-secret", "left to the rotation")
    }

    @Test("sixteen `rotate --force` processes started together: exactly one reset; the others skip or find it done")
    func sixteenTogether() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        // "Together": the first reset takes 2 s, so every process has started long before any
        // rotation finishes, however slowly a loaded machine launches them. Without it, a process
        // launched after (or within the 10 ms the kernel's start time resolves of) the first
        // rotation's end is a new `--force` and rightly resets again (seen once in CI beside
        // the token endpoint's load test: 2 resets, the second by the 14th process launched).
        fixture.simulator.inject(.latency(milliseconds: 2_000), endpoint: .secretReset, count: 1)
        var processes: [(Process, Pipe, Pipe)] = []
        for _ in 0..<16 {
            let out = Pipe(), err = Pipe()
            processes.append((try Self.launch(["rotate", "--force", "FIU-ALPHA", "--output", "json"], fixture: fixture, stdout: out, stderr: err),
                              out, err))
        }
        var outcomes: [String] = []
        for (process, out, err) in processes {
            async let errors = Self.readAll(err)
            let data = await Self.readAll(out)
            let status = await Self.wait(process)
            let stderr = String(decoding: await errors, as: UTF8.self)
            #expect(status == 0, "\(stderr)")
            let report = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            outcomes.append(((report?["entities"] as? [[String: Any]])?.first?["outcome"] as? String) ?? "none")
        }
        #expect(fixture.counter(.secretReset) == 1, "\(outcomes)")
        #expect(outcomes.filter { $0 == "ok" }.count == 1, "\(outcomes)")
        #expect(outcomes.allSatisfy { ["ok", "skipped", "unchanged"].contains($0) }, "\(outcomes)")
        try await Self.expectConverged(fixture, "sixteen")
    }

    @Test("--dry-run says what is due and why, resets nothing and writes no file")
    func dryRun() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        let forced = try await fixture.run(["rotate", "--dry-run", "--force", "FIU-ALPHA"])
        #expect(forced.status == 0, "\(forced.all)")
        #expect(forced.stdout.contains("reset entities/FIU-ALPHA/secret"), "\(forced.stdout)")
        #expect(forced.stdout.contains("write sink alpha-json"), "\(forced.stdout)")
        let plain = try await fixture.run(["rotate", "--dry-run", "--output", "json"])
        #expect(plain.status == 0, "\(plain.all)")
        #expect(plain.stdout.contains("not due"), "\(plain.stdout)")
        #expect(plain.stdout.contains("no expiry"), "FIU-GAMMA has none: \(plain.stdout)")
        #expect(fixture.counter(.secretReset) == 0)
        #expect(fixture.counter(.entityToken) == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: fixture.directory.appendingPathComponent("deploy").path)
        #expect(files.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("state/vault.db.locks").path))
        #expect(try await fixture.run(["vault", "get", "entities/FIU-ALPHA/secret"]).status != 0, "no vault entry written")
    }

    @Test("no rotation loop: right after a rotation nothing is due; a secret inside its window is rotated once")
    func noLoop() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let forced = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
        #expect(forced.status == 0, "\(forced.all)")
        #expect(forced.stdout.contains("FIU-ALPHA: ok"), "\(forced.stdout)")
        let again = try await fixture.run(["rotate"])
        #expect(again.status == 0, "\(again.all)")
        #expect(fixture.counter(.secretReset) == 1, "\(again.stdout)")
        try await Self.expectConverged(fixture, "after --force")

        // FIU-BETA expires in 40 days (adopted by the sync: the full 15-day window applies). 30
        // days on, it is due; rotated once, it is not due again.
        fixture.simulator.advanceClock(bySeconds: 30 * 86_400)
        let clock = ["KEYWARD_CLOCK_OFFSET_SECONDS": "\(30 * 86_400)"]
        let due = try await fixture.run(["rotate", "FIU-BETA"], extraEnvironment: clock)
        #expect(due.status == 0, "\(due.all)")
        #expect(fixture.counter(.secretReset) == 2)
        let twice = try await fixture.run(["rotate"], extraEnvironment: clock)
        #expect(twice.status == 0, "\(twice.all)")
        #expect(fixture.counter(.secretReset) == 2)
        #expect(try await fixture.vaultGet("entities/FIU-BETA/secret") == fixture.simulator.currentSecret(for: "FIU-BETA"))
        let audit = try await fixture.run(["audit"])
        #expect(audit.stdout.contains("rotate"), "\(audit.stdout)")
    }

    @Test("secretExpiryDays above the service's maximum: a configuration warning, then the service's shorter answer and its message reported")
    func longerThanTheMaximum() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        try (try String(contentsOf: config, encoding: .utf8)).replacingOccurrences(of: "    secretExpiryDays: 90\n", with: "    secretExpiryDays: 365\n")
            .write(to: config, atomically: true, encoding: .utf8)
        #expect(try await fixture.run(["sync"]).status == 0)
        let result = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
        #expect(result.status == 0, "\(result.all)")
        #expect(fixture.counter(.secretReset) == 1)
        #expect(result.stderr.contains("entities.FIU-ALPHA.secretExpiryDays"), "the configuration warns: \(result.stderr)")
        #expect(result.stderr.contains("token service: secretExpiryDays exceeds the maximum of 180 days"), "the service's message: \(result.stderr)")
        #expect(result.stderr.contains("valid for 179 days, shorter than the 365 asked for") || result.stderr.contains("valid for 180 days, shorter than the 365 asked for"),
                "\(result.stderr)")
        let status = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let secret = try #require(((report["entities"] as? [[String: Any]])?.first)?["secret"] as? [String: Any])
        let seconds = try #require(secret["expiresInSeconds"] as? Int)
        #expect(abs(seconds - 180 * 86_400) < 120, "the vault keeps the service's expiry: \(seconds)")
        try await Self.expectConverged(fixture, "over the maximum")
    }

    @Test("bad input exits 2 and resets nothing")
    func badInput() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        for arguments in [["rotate", "FIU-NOPE"], ["rotate", "--force", "FIU-ALPHA", "FIU-NOPE"], ["rotate", "bad id!"]] {
            let result = try await fixture.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.all)")
        }
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        let text = try String(contentsOf: config, encoding: .utf8)
        for days in ["0", "-30"] {
            try text.replacingOccurrences(of: "    secretExpiryDays: 90\n", with: "    secretExpiryDays: \(days)\n").write(to: config, atomically: true, encoding: .utf8)
            let result = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
            #expect(result.status == 2, "secretExpiryDays \(days): \(result.all)")
            #expect(result.stderr.contains("entities.FIU-ALPHA.secretExpiryDays") && result.stderr.contains("positive number of days"), "\(result.stderr)")
        }
        #expect(fixture.counter(.secretReset) == 0)
    }

    @Test("a reset the service refuses (429) aborts the rotation and exits non-zero; nothing is left open")
    func refused() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let old = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        fixture.simulator.inject(.rateLimit429(retryAfterSeconds: 1), endpoint: .secretReset)
        let result = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
        #expect(result.status != 0, "\(result.all)")
        #expect(fixture.simulator.currentSecret(for: "FIU-ALPHA") == old)
        let status = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"])
        #expect(status.stdout.contains("\"openJournal\":null") || status.stdout.contains("\"openJournal\" : null"), "\(status.stdout)")
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == old)
    }

    // MARK: - Processes

    static func launch(_ arguments: [String], fixture: EngineFixture, stdout: Pipe? = nil, stderr: Pipe? = nil) throws -> Process {
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = arguments
        var environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "NO_COLOR": "1",
                           "HOME": fixture.directory.path,
                           "XDG_DATA_HOME": fixture.directory.appendingPathComponent("data").path,
                           "XDG_STATE_HOME": fixture.directory.appendingPathComponent("state").path]
        environment.merge(fixture.environment) { $1 }
        process.environment = environment
        process.currentDirectoryURL = fixture.directory
        process.standardOutput = stdout ?? FileHandle.nullDevice
        process.standardError = stderr ?? FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Waits off the cooperative pool: the in-process simulator needs it to answer.
    static func wait(_ process: Process) async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume(returning: process.terminationStatus)
            }
        }
    }

    static func readAll(_ pipe: Pipe) async -> Data {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: (try? pipe.fileHandleForReading.readToEnd()) ?? Data())
            }
        }
    }
}

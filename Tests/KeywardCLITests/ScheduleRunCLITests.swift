import Foundation
import KeywardSimulator
import KeywardTesting
import Testing

/// `keyward schedule run` end to end: the built binary as a long-running service against the
/// in-process simulator, with the simulator's clock and Keyward's (KEYWARD_CLOCK_OFFSET_SECONDS,
/// a debug-build hook) moved forward together.
@Suite("schedule run: rotates what falls due, refreshes tokens, stops cleanly", .serialized)
struct ScheduleRunCLITests {
    /// The fixture of the rotate tests (sinks for FIU-ALPHA), with FIU-ALPHA's entity token due
    /// for refresh 10 s after it is minted, and the vault synced at the real time.
    static func synced() async throws -> EngineFixture {
        let fixture = try await RotateCLITests.withSinks()
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        let text = try String(contentsOf: config, encoding: .utf8)
        #expect(text.contains("    secretExpiryDays: 90\n"))
        try text.replacingOccurrences(of: "    secretExpiryDays: 90\n", with: "    secretExpiryDays: 90\n    tokenRefreshBefore: 86390s\n")
            .write(to: config, atomically: true, encoding: .utf8)
        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 0, "\(sync.all)")
        return fixture
    }

    /// Moves the simulator's clock and returns the environment that moves Keyward's with it.
    static func moveClocks(_ fixture: EngineFixture, bySeconds seconds: Int) -> [String: String] {
        moveClocks(simulator: fixture.simulator, bySeconds: seconds)
    }

    /// Moves `simulator`'s clock; the environment that moves a `keyward` process's clock as far.
    static func moveClocks(simulator: TokenServiceSimulator, bySeconds seconds: Int) -> [String: String] {
        simulator.advanceClock(bySeconds: TimeInterval(seconds))
        return ["KEYWARD_CLOCK_OFFSET_SECONDS": String(seconds)]
    }

    static func launch(_ arguments: [String], fixture: EngineFixture, environment: [String: String], stderr: Pipe) throws -> Process {
        var moved = fixture
        moved.environment.merge(environment) { $1 }
        return try RotateCLITests.launch(arguments, fixture: moved, stderr: stderr)
    }

    /// The status file as JSON, or `nil` while it does not exist.
    static func status(_ path: URL) -> [String: Any]? {
        guard let data = try? Data(contentsOf: path) else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    static func entity(_ status: [String: Any]?, _ id: String) -> [String: Any]? {
        (status?["entities"] as? [[String: Any]])?.first { $0["id"] as? String == id }
    }

    /// Polls `condition` every 50 ms for up to `seconds` of real time.
    static func waitFor(_ seconds: Double, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    @Test("a secret that falls due while it runs is rotated once, a token is refreshed before it expires, SIGTERM exits 0 with no open journal")
    func rotatesAndRefreshes() async throws {
        let fixture = try await Self.synced()
        defer { Task { await fixture.stop() } }
        let oldSecret = try await fixture.vaultGet("entities/FIU-ALPHA/secret")
        // The both-json sink also names FIU-BETA, whose 40-day secret would be long dead 75 days
        // on: its expired token could then not be renewed, and a sink is never written with an
        // expired token (issue 12, item 2). Extended by the service, it stays alive.
        fixture.simulator.setSecretExpiry(for: "FIU-BETA", expiresIn: 365 * 86_400)
        // FIU-ALPHA: 90-day secret, rotateBefore 15 days. 25 s before its window opens (room
        // for a slow start on a loaded machine):
        let environment = Self.moveClocks(fixture, bySeconds: 75 * 86_400 - 25)
        let statusFile = fixture.directory.appendingPathComponent("state/schedule.json")
        let stderr = Pipe()
        let process = try Self.launch(["schedule", "run", "FIU-ALPHA", "--status-file", statusFile.path, "--jitter", "1s"],
                                      fixture: fixture, environment: environment, stderr: stderr)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let stderrText = Task { String(decoding: await RotateCLITests.readAll(stderr), as: UTF8.self) }

        // When the secret falls due, by Keyward's moved clock (status reads the same vault).
        let before = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"], extraEnvironment: environment)
        let beforeReport = try #require(try JSONSerialization.jsonObject(with: Data(before.stdout.utf8)) as? [String: Any])
        let dueText = try #require((((beforeReport["entities"] as? [[String: Any]])?.first)?["secret"] as? [String: Any])?["rotationDueAt"] as? String)

        // First cycle: the token minted by the sync expired long ago (75 days on): refreshed. On a
        // quiet machine it runs well before the secret falls due; a loaded one may start late,
        // so what is asserted unconditionally is when the rotation happened (the audit log).
        #expect(try await Self.waitFor(60) { Self.status(statusFile)?["cycles"] as? Int ?? 0 >= 1 })
        let first = Self.status(statusFile)
        #expect(first?["state"] as? String == "running")
        let firstCycle = try #require(first?["lastCycle"] as? [String: Any])
        if let finished = firstCycle["finishedAt"] as? String, finished < dueText {
            #expect(firstCycle["synced"] as? [String] == ["FIU-ALPHA"], "\(String(describing: first))")
            #expect(firstCycle["rotated"] as? [String] == [], "not due yet")
        }

        // The secret falls due: exactly one reset, and the vault follows. (The token is
        // refreshed every 10 s meanwhile.)
        #expect(try await Self.waitFor(90) { fixture.counter(.secretReset) == 1 })
        // (Read from fields that later cycles keep: the next token refresh replaces lastCycle.)
        #expect(try await Self.waitFor(30) { Self.entity(Self.status(statusFile), "FIU-ALPHA")?["secretVersion"] as? Int == 2 })
        let rotated = Self.status(statusFile)
        #expect(Self.entity(rotated, "FIU-ALPHA")?["outcome"] as? String == "ok", "\(String(describing: rotated))")
        #expect(Self.entity(rotated, "FIU-ALPHA")?["consecutiveFailures"] as? Int == 0)
        let server = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(server != oldSecret)
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == server)
        #expect(try RotateCLITests.sinkSecret(fixture) == server, "the sink was rewritten")

        // The rotation minted a token; 10 s (plus at most 1 s of jitter) later it is due again.
        let minted = fixture.counter(.entityToken)
        #expect(try await Self.waitFor(40) { fixture.counter(.entityToken) > minted }, "the token was refreshed")
        #expect(try await Self.waitFor(30) {
            (Self.status(statusFile)?["lastCycle"] as? [String: Any])?["synced"] as? [String] == ["FIU-ALPHA"]
        })
        let refreshed = Self.status(statusFile)
        let tokenExpiry = try #require(Self.entity(refreshed, "FIU-ALPHA")?["tokenExpiresAt"] as? String)
        let refreshAt = try #require(Self.entity(refreshed, "FIU-ALPHA")?["tokenRefreshAt"] as? String)
        #expect(refreshAt < tokenExpiry, "refreshed before it expires")
        #expect(Self.entity(refreshed, "FIU-ALPHA")?["nextAction"] as? String == "refresh token", "the new secret is not due for months")
        #expect(refreshed?["nextWakeAt"] is String)

        kill(process.processIdentifier, SIGTERM)
        let exit = await RotateCLITests.wait(process)
        #expect(exit == 0, "SIGTERM ends it cleanly")
        let log = await stderrText.value
        #expect(log.contains("cycle 1 ok: "), "\(log)")
        #expect(log.contains("rotated FIU-ALPHA"), "\(log)")
        // The rotation happened once, and not before the secret was due (RFC 3339 UTC strings
        // compare in time order; the audit log is kept in Keyward's clock).
        let audit = try await fixture.run(["audit", "--output", "json"])
        let entries = try #require((try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [String: Any])?["entries"] as? [[String: Any]])
        let rotations = entries.filter { $0["operation"] as? String == "rotate" && $0["entity"] as? String == "FIU-ALPHA" }
        #expect(rotations.count == 1, "\(rotations)")
        let rotatedAt = try #require(rotations.first?["time"] as? String)
        #expect(rotatedAt >= String(dueText.prefix(19)), "rotated at \(rotatedAt), due from \(dueText)")
        let stopped = Self.status(statusFile)
        #expect(stopped?["state"] as? String == "stopped")
        #expect(stopped?["nextWakeAt"] is NSNull)

        #expect(fixture.counter(.secretReset) == 1, "no second rotation: the new secret is not due")
        try await RotateCLITests.expectConverged(fixture, "schedule run")
        let statusText = (try? String(contentsOf: statusFile, encoding: .utf8)) ?? ""
        #expect(fixture.secrets().filter { log.contains($0) || statusText.contains($0) }.isEmpty, "no secret in the log or the status")
        #expect(!log.contains("eyJ") && !statusText.contains("eyJ"), "no token either")
    }

    @Test("SIGTERM while a reset is in flight: the cycle finishes, the vault holds the new secret, exit 0, nothing left open")
    func stopsAfterTheCycle() async throws {
        let fixture = try await Self.synced()
        defer { Task { await fixture.stop() } }
        let environment = Self.moveClocks(fixture, bySeconds: 80 * 86_400)  // inside the 15-day window
        fixture.simulator.inject(.latency(milliseconds: 3_000), endpoint: .secretReset)
        let statusFile = fixture.directory.appendingPathComponent("schedule.json")
        let stderr = Pipe()
        let process = try Self.launch(["schedule", "run", "--status-file", statusFile.path, "--jitter", "0s"],
                                      fixture: fixture, environment: environment, stderr: stderr)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let stderrText = Task { String(decoding: await RotateCLITests.readAll(stderr), as: UTF8.self) }
        #expect(try await Self.waitFor(30) { fixture.counter(.secretReset) == 1 }, "the reset reached the service")
        kill(process.processIdentifier, SIGTERM)
        let exit = await RotateCLITests.wait(process)
        let log = await stderrText.value
        #expect(exit == 0, "\(log)")
        let status = Self.status(statusFile)
        #expect(status?["state"] as? String == "stopped")
        #expect(status?["cycles"] as? Int == 1, "the loop stopped after the cycle in progress")
        #expect((status?["lastCycle"] as? [String: Any])?["rotated"] as? [String] == ["FIU-ALPHA", "FIU-BETA"], "\(String(describing: status))")
        #expect(fixture.counter(.secretReset) == 2, "FIU-ALPHA and FIU-BETA (due at 80 days of 40) were each reset once")
        try await RotateCLITests.expectConverged(fixture, "stopped mid-cycle")
        #expect(fixture.secrets().filter { log.contains($0) }.isEmpty)
    }

    @Test("a failing service: the entity is reported failed with its error and retried until it works")
    func retriesFailures() async throws {
        let fixture = try await Self.synced()
        defer { Task { await fixture.stop() } }
        fixture.simulator.inject(.status500, endpoint: .secretRead, count: 100)
        let statusFile = fixture.directory.appendingPathComponent("schedule.json")
        let stderr = Pipe()
        // The vault has no token for FIU-GAMMA? It has: so make the first cycle sync by moving
        // 2 days on (every token expired).
        let environment = Self.moveClocks(fixture, bySeconds: 2 * 86_400)
        let process = try Self.launch(["schedule", "run", "FIU-GAMMA", "--status-file", statusFile.path, "--retry-delay", "1s", "--jitter", "0s"],
                                      fixture: fixture, environment: environment, stderr: stderr)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let stderrText = Task { String(decoding: await RotateCLITests.readAll(stderr), as: UTF8.self) }
        #expect(try await Self.waitFor(60) { Self.entity(Self.status(statusFile), "FIU-GAMMA")?["consecutiveFailures"] as? Int ?? 0 >= 2 })
        let failing = Self.status(statusFile)
        let gamma = Self.entity(failing, "FIU-GAMMA")
        #expect(gamma?["outcome"] as? String == "failed")
        #expect(((gamma?["error"] as? [String: Any])?["message"] as? String)?.contains("500") == true, "\(String(describing: gamma))")
        #expect(gamma?["nextAction"] as? String == "retry")
        #expect((failing?["lastCycle"] as? [String: Any])?["outcome"] as? String == "failed")

        fixture.simulator.clearFaults()
        #expect(try await Self.waitFor(60) { Self.entity(Self.status(statusFile), "FIU-GAMMA")?["outcome"] as? String == "ok" })
        let healed = Self.entity(Self.status(statusFile), "FIU-GAMMA")
        #expect(healed?["consecutiveFailures"] as? Int == 0)
        #expect(healed?["error"] is NSNull)
        #expect(healed?["nextAction"] as? String == "refresh token", "FIU-GAMMA's secret has no expiry: only its token is scheduled")
        #expect(healed?["rotationDueAt"] is NSNull)
        kill(process.processIdentifier, SIGINT)
        #expect(await RotateCLITests.wait(process) == 0, "SIGINT ends it cleanly too")
        let log = await stderrText.value
        #expect(log.contains("FIU-GAMMA:") && log.contains("retrying in 1s"), "\(log)")
        #expect(fixture.counter(.secretReset) == 0)
    }

    @Test("an entity whose rotation lock another job holds is skipped, not failed, and rotated once the lock is free")
    func skipsWhileLocked() async throws {
        let fixture = try await Self.synced()
        defer { Task { await fixture.stop() } }
        // The both-json sink also names FIU-BETA, whose 40-day secret is dead 80 days on, and
        // schedule run writes every sink of its entities each cycle: extended, it stays alive.
        fixture.simulator.setSecretExpiry(for: "FIU-BETA", expiresIn: 365 * 86_400)
        let environment = Self.moveClocks(fixture, bySeconds: 80 * 86_400)
        // Another job (here: this test) holds FIU-ALPHA's lock beside the vault.
        let lock = try RotateCLITests.RotationLockHold(fixture)
        defer { lock.release() }
        let statusFile = fixture.directory.appendingPathComponent("schedule.json")
        let stderr = Pipe()
        let process = try Self.launch(["schedule", "run", "FIU-ALPHA", "--status-file", statusFile.path, "--retry-delay", "1s", "--jitter", "0"],
                                      fixture: fixture, environment: environment, stderr: stderr)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let stderrText = Task { String(decoding: await RotateCLITests.readAll(stderr), as: UTF8.self) }
        #expect(try await Self.waitFor(30) { Self.entity(Self.status(statusFile), "FIU-ALPHA")?["outcome"] as? String == "skipped" })
        let skipped = Self.status(statusFile)
        #expect(Self.entity(skipped, "FIU-ALPHA")?["consecutiveFailures"] as? Int == 0, "a skip is not a failure")
        #expect((skipped?["lastCycle"] as? [String: Any])?["outcome"] as? String == "ok")
        #expect(fixture.counter(.secretReset) == 0)
        lock.release()
        #expect(try await Self.waitFor(30) { fixture.counter(.secretReset) == 1 })
        #expect(try await Self.waitFor(10) { Self.entity(Self.status(statusFile), "FIU-ALPHA")?["outcome"] as? String == "ok" })
        kill(process.processIdentifier, SIGTERM)
        #expect(await RotateCLITests.wait(process) == 0)
        #expect(await stderrText.value.contains("another job holds its rotation lock"))
        #expect(fixture.counter(.secretReset) == 1)
        try await RotateCLITests.expectConverged(fixture, "after the lock was freed")
    }

    @Test("a rotation left open by a killed job is finished on a later cycle: sinks rewritten, no second reset")
    func finishesOnRetry() async throws {
        let fixture = try await Self.synced()
        defer { Task { await fixture.stop() } }
        // The both-json sink also names FIU-BETA, whose 40-day secret is dead 80 days on, and
        // schedule run writes every sink of its entities each cycle: extended, it stays alive.
        fixture.simulator.setSecretExpiry(for: "FIU-BETA", expiresIn: 365 * 86_400)
        let environment = Self.moveClocks(fixture, bySeconds: 80 * 86_400)
        // A cron `rotate` killed after the service answered: the reset happened, the vault and
        // the sinks still hold the old secret.
        let crashed = try await fixture.run(["rotate", "FIU-ALPHA"], extraEnvironment: environment.merging(["KEYWARD_CRASH_AT": "after-reset-answer"]) { $1 })
        #expect(RotateCLITests.killed.contains(crashed.status), "\(crashed.all)")
        #expect(fixture.counter(.secretReset) == 1)
        // Its lock is still held (by this test) when the scheduler starts.
        let lock = try RotateCLITests.RotationLockHold(fixture)
        defer { lock.release() }
        let statusFile = fixture.directory.appendingPathComponent("schedule.json")
        let process = try Self.launch(["schedule", "run", "FIU-ALPHA", "--status-file", statusFile.path, "--retry-delay", "1s", "--jitter", "0"],
                                      fixture: fixture, environment: environment, stderr: Pipe())
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        #expect(try await Self.waitFor(30) { Self.entity(Self.status(statusFile), "FIU-ALPHA")?["outcome"] as? String == "skipped" })
        lock.release()
        let server = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try await Self.waitFor(30) { (try? RotateCLITests.sinkSecret(fixture)) == server }, "the sinks get the recovered secret")
        #expect(try await Self.waitFor(10) { Self.entity(Self.status(statusFile), "FIU-ALPHA")?["outcome"] as? String == "ok" })
        let status = Self.status(statusFile)
        #expect(Self.entity(status, "FIU-ALPHA")?["secretVersion"] as? Int == 2, "\(String(describing: status))")
        kill(process.processIdentifier, SIGTERM)
        #expect(await RotateCLITests.wait(process) == 0)
        #expect(fixture.counter(.secretReset) == 1, "finished, never reset again")
        try await RotateCLITests.expectConverged(fixture, "finished on a retry cycle")
    }

    @Test("a reset with no known outcome (500) is retried as a failure, never reset again, and left open for settling")
    func unresolvedReset() async throws {
        let fixture = try await Self.synced()
        defer { Task { await fixture.stop() } }
        let environment = Self.moveClocks(fixture, bySeconds: 80 * 86_400)
        fixture.simulator.inject(.status500, endpoint: .secretReset)
        let statusFile = fixture.directory.appendingPathComponent("schedule.json")
        let stderr = Pipe()
        let process = try Self.launch(["schedule", "run", "FIU-ALPHA", "--status-file", statusFile.path, "--retry-delay", "1s", "--jitter", "0"],
                                      fixture: fixture, environment: environment, stderr: stderr)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let stderrText = Task { String(decoding: await RotateCLITests.readAll(stderr), as: UTF8.self) }
        #expect(try await Self.waitFor(60) { Self.entity(Self.status(statusFile), "FIU-ALPHA")?["consecutiveFailures"] as? Int ?? 0 >= 3 })
        let alpha = Self.entity(Self.status(statusFile), "FIU-ALPHA")
        #expect(alpha?["outcome"] as? String == "failed")
        #expect(((alpha?["error"] as? [String: Any])?["message"] as? String)?.contains("no known outcome") == true, "\(String(describing: alpha))")
        #expect(alpha?["nextAction"] as? String == "retry")
        kill(process.processIdentifier, SIGTERM)
        #expect(await RotateCLITests.wait(process) == 0)
        #expect(fixture.counter(.secretReset) == 1, "never a second reset while the first may still be applied")
        let log = await stderrText.value
        #expect(log.contains("retrying in 2s") || log.contains("retrying in 4s"), "the retries double: \(log)")
        let status = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"], extraEnvironment: environment)
        #expect(status.stdout.contains("rotation 1 sent"), "left open for settling: \(status.stdout)")
    }

    @Test("bad input: unknown entity, bad durations, unusable status file (exit 2), locked vault (exit 4); nothing reset")
    func badInput() async throws {
        let fixture = try await Self.synced()
        defer { Task { await fixture.stop() } }
        let environment = Self.moveClocks(fixture, bySeconds: 80 * 86_400)  // everything would be due
        let cases: [([String], Int32, String)] = [
            (["FIU-NOPE"], 2, "entity 'FIU-NOPE' is not in the configuration"),
            (["--jitter=-5m"], 2, "--jitter: '-5m' is not a duration"),
            (["--jitter", "soon"], 2, "--jitter: 'soon'"),
            (["--max-sleep", "0s"], 2, "--max-sleep: '0s' is not a positive duration"),
            (["--retry-delay", "x"], 2, "--retry-delay: 'x'"),
            (["--retry-delay", "36500d"], 2, "--retry-delay: '36500d' is longer than 15m"),
            (["--retry-delay", "16m"], 2, "--retry-delay: '16m' is longer than 15m"),
            (["--status-file", fixture.directory.appendingPathComponent("missing/status.json").path], 2, "missing does not exist"),
            (["--status-file", fixture.directory.appendingPathComponent("deploy").path], 2, "is a directory"),
        ]
        for (arguments, code, message) in cases {
            let result = try await fixture.run(["schedule", "run"] + arguments, extraEnvironment: environment)
            #expect(result.status == code, "\(arguments): \(result.all)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        try FileManager.default.createSymbolicLink(atPath: fixture.directory.appendingPathComponent("link.json").path,
                                                   withDestinationPath: fixture.directory.appendingPathComponent("elsewhere.json").path)
        let link = try await fixture.run(["schedule", "run", "--status-file", "link.json"], extraEnvironment: environment)
        #expect(link.status == 2, "\(link.all)")
        #expect(link.stderr.contains("symbolic link"), "\(link.stderr)")
        let locked = try await fixture.run(["schedule", "run"], extraEnvironment: environment.merging(["KEYWARD_KEY_FILE": ""]) { $1 })
        #expect(locked.status == 4, "\(locked.all)")
        #expect(fixture.counter(.secretReset) == 0)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("elsewhere.json").path))
    }

    @Test("a long-running schedule run rotates an entity each time it falls due, not only the first time, and sleeps in between")
    func rotatesAgainInTheSameProcess() async throws {
        let fixture = try await Self.synced()
        defer { Task { await fixture.stop() } }
        // As in rotatesAndRefreshes: FIU-BETA (in the both-json sink) must outlive the months below.
        fixture.simulator.setSecretExpiry(for: "FIU-BETA", expiresIn: 365 * 86_400)
        // Keyward's clock follows a file it reads at every clock reading (a debug-build hook), so
        // the running process can be moved along with the simulator twice.
        let offsetFile = fixture.directory.appendingPathComponent("clock-offset")
        func moveClocks(bySeconds seconds: Int) throws {
            fixture.simulator.advanceClock(bySeconds: TimeInterval(seconds))
            try String(Int(fixture.simulator.clockOffset.rounded())).write(to: offsetFile, atomically: true, encoding: .utf8)
        }
        // FIU-ALPHA: 90-day secret, rotateBefore 15 days: inside its window 75 days on.
        try moveClocks(bySeconds: 75 * 86_400 + 60)
        let statusFile = fixture.directory.appendingPathComponent("state/schedule.json")
        let stderr = Pipe()
        let process = try Self.launch(["schedule", "run", "FIU-ALPHA", "--status-file", statusFile.path, "--jitter", "0s", "--max-sleep", "5s"],
                                      fixture: fixture, environment: ["KEYWARD_CLOCK_OFFSET_FILE": offsetFile.path], stderr: stderr)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let stderrText = Task { String(decoding: await RotateCLITests.readAll(stderr), as: UTF8.self) }

        #expect(try await Self.waitFor(60) { fixture.counter(.secretReset) == 1 }, "the first rotation")
        #expect(try await Self.waitFor(30) { Self.entity(Self.status(statusFile), "FIU-ALPHA")?["secretVersion"] as? Int == 2 })
        let secondSecret = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        // The new secret's window opens 75 days after its reset: move both clocks past it.
        try moveClocks(bySeconds: 76 * 86_400)
        #expect(try await Self.waitFor(60) { fixture.counter(.secretReset) == 2 }, "the second rotation, by the same process")
        #expect(try await Self.waitFor(30) { Self.entity(Self.status(statusFile), "FIU-ALPHA")?["secretVersion"] as? Int == 3 })
        let thirdSecret = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        // Compared to a Bool first, so a failure cannot print a secret.
        let changed = thirdSecret != secondSecret
        #expect(changed, "the second rotation gave a new secret")
        let stored = try await fixture.vaultGet("entities/FIU-ALPHA/secret") == thirdSecret
        #expect(stored, "the vault holds it")
        // Between rotations it sleeps: a token refresh every ~10 s and a wake-up at least every
        // 5 s make a few dozen cycles, where a loop that finds the secret "rotated by another
        // job" and wakes again at once makes thousands.
        let cycles = try #require(Self.status(statusFile)?["cycles"] as? Int)
        #expect(cycles < 100, "\(cycles) cycles")

        kill(process.processIdentifier, SIGTERM)
        #expect(await RotateCLITests.wait(process) == 0)
        let log = await stderrText.value
        #expect(!log.contains("another job rotated it during this run"), "\(log.suffix(2_000))")
        #expect(LeakScanner.leaks(in: log, of: fixture.secrets() + [secondSecret, thirdSecret]).isEmpty)
    }
}

import Foundation
import KeywardSimulator
import KeywardTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Processes, locks and files (issue 12, items 4, 5, 6, 8 and 9): several `keyward` processes
/// at once, `onChange` hooks, a closed standard output, and temporary files of killed writers.
@Suite("processes, locks and files: one mint across processes, hooks, closed stdout, stale temporaries", .serialized)
struct ProcessCLITests {
    /// Runs `count` copies of `arguments` at once and returns their results.
    static func concurrently(_ fixture: EngineFixture, _ runs: [[String]], environment: [String: String] = [:]) async throws
        -> [CommandRunner.Result]
    {
        try await withThrowingTaskGroup(of: CommandRunner.Result.self) { group in
            for arguments in runs {
                group.addTask { try await fixture.run(arguments, extraEnvironment: environment) }
            }
            var results: [CommandRunner.Result] = []
            for try await result in group { results.append(result) }
            return results
        }
    }

    /// The `exp` claim of a JWT (seconds since 1970), or `nil`.
    static func expiry(ofJWT token: String) -> Date? {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        guard let data = Data(base64Encoded: payload),
            let claims = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let exp = claims["exp"] as? Double
        else { return nil }
        return Date(timeIntervalSince1970: exp)
    }

    /// Appends `text` to the fixture's keyward.yaml.
    /// Gives the fixture's provider a 5-minute timeout. The one-mint tests measure what the
    /// token locks do, not how fast a loaded machine answers: a waiter gives up on the lock after
    /// the provider's timeout (DESIGN.md, "Files and defaults"), and a client retries a call that
    /// timed out, so a CI machine that stalls the in-process simulator for 30 s (seen once) would
    /// otherwise be counted as a second mint.
    static func patientProvider(_ fixture: EngineFixture) throws {
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        let text = try String(contentsOf: config, encoding: .utf8)
        precondition(text.contains("    timeout: 30s\n"))
        try text.replacingOccurrences(of: "    timeout: 30s\n", with: "    timeout: 5m\n").write(to: config, atomically: true, encoding: .utf8)
    }

    static func appendConfig(_ fixture: EngineFixture, _ text: String) throws {
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        try (try String(contentsOf: config, encoding: .utf8) + text + "\n").write(to: config, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: fixture.directory.appendingPathComponent("deploy"), withIntermediateDirectories: true)
    }

    /// `true` when no process has this id (a zombie counts as gone).
    static func processGone(_ pid: Int32) -> Bool {
        if kill(pid, 0) != 0 { return errno == ESRCH }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }

    // MARK: - item 4: one mint per expiry, across processes

    @Test("twelve concurrent `token` processes that find the cached token expired make one mint between them and print the same valid token")
    func oneEntityTokenMint() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try Self.patientProvider(fixture)
        let sync = try await fixture.run(["sync", "FIU-ALPHA"])
        #expect(sync.status == 0, "\(sync.all)")
        let before = fixture.counter(.entityToken)
        let clock = ScheduleRunCLITests.moveClocks(fixture, bySeconds: 25 * 3_600)

        let results = try await Self.concurrently(fixture, Array(repeating: ["token", "FIU-ALPHA"], count: 12), environment: clock)
        for result in results { #expect(result.status == 0, "\(result.all)") }
        #expect(fixture.counter(.entityToken) == before + 1, "one mint between twelve processes")
        #expect(Set(results.map(\.stdout)).count == 1, "every process printed the same token")
        let token = try #require(results.first?.stdout.trimmingCharacters(in: .newlines))
        let expiresAt = try #require(Self.expiry(ofJWT: token))
        #expect(expiresAt > fixture.simulator.now, "the token printed is valid on the moved clock")
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/token") == token)
        for result in results {
            #expect(LeakScanner.leaks(in: result.stderr, of: fixture.secrets() + [token]).isEmpty)
        }
    }

    @Test("concurrent syncs of different entities that find no user token obtain one between them")
    func oneUserTokenMint() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try Self.patientProvider(fixture)
        let removed = try await fixture.run(["vault", "rm", "providers/sim/user-token"])
        #expect(removed.status == 0, "\(removed.all)")
        let before = fixture.counter(.userToken)
        let runs = (0..<3).flatMap { _ in [["sync", "FIU-ALPHA"], ["sync", "FIU-BETA"], ["sync", "FIU-GAMMA"]] }
        let results = try await Self.concurrently(fixture, runs)
        for result in results { #expect(result.status == 0, "\(result.all)") }
        #expect(fixture.counter(.userToken) == before + 1, "one user token between the processes")
        for id in ["FIU-ALPHA", "FIU-BETA", "FIU-GAMMA"] {
            #expect(try await fixture.vaultGet("entities/\(id)/secret") == fixture.simulator.currentSecret(for: id))
        }
        for result in results { #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets()).isEmpty) }
    }

    // MARK: - item 5: hooks and retries

    @Test("onChange runs in the configuration's directory with only PATH, HOME, LANG and TMPDIR, never KEYWARD_* variables")
    func hookEnvironment() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try Self.appendConfig(fixture, """
            sinks:
              app-env:
                type: dotenv
                path: deploy/app.env
                entities: [FIU-ALPHA]
                onChange: [/bin/sh, -c, "env > hook-env.txt; pwd > hook-pwd.txt"]
            """)
        let elsewhere = fixture.directory.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        var environment = fixture.environment
        environment["KEYWARD_PASSPHRASE"] = "not-the-passphrase-but-secret-like"
        environment["KEYWARD_CONFIG"] = fixture.directory.appendingPathComponent("keyward.yaml").path
        environment["KEYWARD_VAULT"] = fixture.directory.appendingPathComponent("state/vault.db").path
        environment["UNRELATED_SETTING"] = "inherited-by-mistake"
        environment["LANG"] = "C.UTF-8"
        let result = try await CommandRunner.run(["sync"], environment: environment, directory: fixture.directory, workingDirectory: elsewhere)
        #expect(result.status == 0, "\(result.all)")
        #expect(!FileManager.default.fileExists(atPath: elsewhere.appendingPathComponent("hook-env.txt").path), "not run in the caller's directory")
        let pwd = try String(contentsOf: fixture.directory.appendingPathComponent("hook-pwd.txt"), encoding: .utf8)
        #expect(URL(fileURLWithPath: pwd.trimmingCharacters(in: .newlines)).resolvingSymlinksInPath().path
            == fixture.directory.resolvingSymlinksInPath().path)
        let env = try String(contentsOf: fixture.directory.appendingPathComponent("hook-env.txt"), encoding: .utf8)
        let names = Set(env.split(separator: "\n").compactMap { $0.split(separator: "=", maxSplits: 1).first.map(String.init) })
        #expect(names.filter { $0.hasPrefix("KEYWARD_") }.isEmpty, "\(names.sorted())")
        #expect(!names.contains("UNRELATED_SETTING"))
        // What dash itself adds (PWD, SHLVL, _) aside, the hook sees what DESIGN.md lists.
        #expect(names.subtracting(["PWD", "SHLVL", "_", "OLDPWD"]).isSubset(of: ["PATH", "HOME", "LANG", "TMPDIR"]), "\(names.sorted())")
        #expect(names.contains("PATH") && names.contains("HOME") && names.contains("LANG"))
        #expect(!env.contains("not-the-passphrase-but-secret-like"))
        #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets()).isEmpty)
    }

    @Test("a failed onChange is reported, recorded and run again by the next sync although the file did not change, until it succeeds")
    func hookRetried() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try Self.appendConfig(fixture, """
            sinks:
              app-env:
                type: dotenv
                path: deploy/app.env
                entities: [FIU-ALPHA]
                onChange: [/bin/sh, -c, "test -f service-up && touch reloaded"]
            """)
        let reloaded = fixture.directory.appendingPathComponent("reloaded").path
        let first = try await fixture.run(["sync"])
        #expect(first.status == 5, "the entity worked, the sink's hook failed: \(first.all)")
        #expect(first.stderr.contains("sink app-env: onChange command /bin/sh failed with status 1"), "\(first.stderr)")
        #expect(FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("deploy/app.env").path))
        #expect(!FileManager.default.fileExists(atPath: reloaded))

        // Still failing: reported again, still pending.
        let second = try await fixture.run(["sync"])
        #expect(second.status == 5, "\(second.all)")
        #expect(second.stderr.contains("onChange command /bin/sh failed with status 1"), "\(second.stderr)")

        #expect(FileManager.default.createFile(atPath: fixture.directory.appendingPathComponent("service-up").path, contents: nil))
        let third = try await fixture.run(["sync"])
        #expect(third.status == 0, "\(third.all)")
        #expect(FileManager.default.fileExists(atPath: reloaded), "the pending hook ran although app.env did not change")

        try FileManager.default.removeItem(atPath: reloaded)
        let fourth = try await fixture.run(["sync"])
        #expect(fourth.status == 0, "\(fourth.all)")
        #expect(fourth.stdout.contains("sink app-env: unchanged"), "\(fourth.stdout)")
        #expect(!FileManager.default.fileExists(atPath: reloaded), "succeeded once: not run again")
        for result in [first, second, third, fourth] { #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets()).isEmpty) }
    }

    @Test("an onChange that outlives its onChangeTimeout is stopped with its whole process group and reported")
    func hookTimeout() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try Self.appendConfig(fixture, """
            sinks:
              app-env:
                type: dotenv
                path: deploy/app.env
                entities: [FIU-ALPHA]
                onChangeTimeout: 1s
                onChange: [/bin/sh, -c, "sleep 300 & echo $! > child.pid; sleep 300"]
            """)
        let result = try await fixture.run(["sync"])
        #expect(result.status == 5, "\(result.all)")
        #expect(result.stderr.contains("sink app-env: onChange command /bin/sh did not finish within 1s: stopped"), "\(result.stderr)")
        let pidText = try String(contentsOf: fixture.directory.appendingPathComponent("child.pid"), encoding: .utf8)
        let child = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try await ScheduleRunCLITests.waitFor(10) { Self.processGone(child) }, "the hook's background child was stopped too")
    }

    @Test("schedule run writes every sink at start: a deleted file comes back")
    func scheduleRendersAtStart() async throws {
        let fixture = try await ScheduleRunCLITests.synced()
        defer { Task { await fixture.stop() } }
        let sink = fixture.directory.appendingPathComponent("deploy/alpha.json")
        #expect(FileManager.default.fileExists(atPath: sink.path))
        try FileManager.default.removeItem(at: sink)
        let statusFile = fixture.directory.appendingPathComponent("schedule.json")
        let process = try ScheduleRunCLITests.launch(["schedule", "run", "--status-file", statusFile.path, "--jitter", "0"], fixture: fixture,
                                                     environment: [:], stderr: Pipe())
        let cycled = try await ScheduleRunCLITests.waitFor(60) { (ScheduleRunCLITests.status(statusFile)?["cycles"] as? Int ?? 0) >= 1 }
        process.terminate()
        #expect(await RotateCLITests.wait(process) == 0)
        #expect(cycled)
        #expect(FileManager.default.fileExists(atPath: sink.path), "the first cycle wrote the deleted sink back")
        #expect(try RotateCLITests.sinkSecret(fixture) == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
    }

    @Test("schedule run retries a pending onChange every cycle until it succeeds, then leaves it alone")
    func scheduleRetriesHook() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try Self.appendConfig(fixture, """
            sinks:
              beta-env:
                type: dotenv
                path: deploy/beta.env
                entities: [FIU-BETA]
                onChange: [/bin/sh, -c, "test -f service-up && touch reloaded"]
            """)
        let sync = try await fixture.run(["sync", "FIU-BETA"])
        #expect(sync.status == 5, "the hook failed: \(sync.all)")
        let reloaded = fixture.directory.appendingPathComponent("reloaded").path
        let statusFile = fixture.directory.appendingPathComponent("schedule.json")
        let cycles = { ScheduleRunCLITests.status(statusFile)?["cycles"] as? Int ?? 0 }
        let process = try ScheduleRunCLITests.launch(["schedule", "run", "FIU-BETA", "--status-file", statusFile.path, "--jitter", "0",
                                                      "--max-sleep", "1s"], fixture: fixture, environment: [:], stderr: Pipe())
        #expect(try await ScheduleRunCLITests.waitFor(60) { cycles() >= 2 })
        #expect(!FileManager.default.fileExists(atPath: reloaded), "still failing")
        #expect(FileManager.default.createFile(atPath: fixture.directory.appendingPathComponent("service-up").path, contents: nil))
        #expect(try await ScheduleRunCLITests.waitFor(60) { FileManager.default.fileExists(atPath: reloaded) }, "a later cycle ran it again")
        try FileManager.default.removeItem(atPath: reloaded)
        let after = cycles()
        #expect(try await ScheduleRunCLITests.waitFor(60) { cycles() >= after + 2 })
        process.terminate()
        #expect(await RotateCLITests.wait(process) == 0)
        #expect(!FileManager.default.fileExists(atPath: reloaded), "succeeded once: not run again")
    }

    @Test("twelve concurrent syncs after a token fell due run the sink's onChange once, all exit 0, none calls it a retry")
    func concurrentSyncsRunHookOnce() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try Self.patientProvider(fixture)
        try Self.appendConfig(fixture, """
            sinks:
              app-env:
                type: dotenv
                path: deploy/app.env
                entities: [FIU-ALPHA]
                onChangeTimeout: 10s
                onChange: [/bin/sh, -c, "echo ran >> hooklog.txt; sleep 1"]
            """)
        let first = try await fixture.run(["sync", "FIU-ALPHA"])
        #expect(first.status == 0, "\(first.all)")
        let log = fixture.directory.appendingPathComponent("hooklog.txt")
        try FileManager.default.removeItem(at: log)
        let before = fixture.counter(.entityToken)
        let clock = ScheduleRunCLITests.moveClocks(fixture, bySeconds: 25 * 3_600)

        let results = try await Self.concurrently(fixture, Array(repeating: ["sync", "FIU-ALPHA"], count: 12), environment: clock)
        for result in results { #expect(result.status == 0, "\(result.all)") }
        #expect(fixture.counter(.entityToken) == before + 1, "one mint between twelve processes")
        let runs = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").count
        #expect(runs == 1, "one change of app.env, one run of its hook (ran \(runs) times)")
        #expect(results.filter { $0.stdout.contains("sink app-env: written") }.count == 1,
                "\(results.map(\.stdout).joined(separator: "\n---\n"))")
        for result in results {
            #expect(!result.stderr.contains("did not succeed last time"), "\(result.stderr)")
            #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets()).isEmpty)
        }
    }

    // MARK: - item 6: shell plumbing

    /// Runs `script` with bash, `$KEYWARD` naming the binary, in the fixture's directory.
    static func shell(_ fixture: EngineFixture, _ script: String, environment: [String: String] = [:]) async throws -> CommandRunner.Result {
        try await CommandRunner.run(["set -o pipefail; " + script], environment: fixture.environment.merging(environment) { $1 }
            .merging(["KEYWARD": CommandRunner.binary.path]) { $1 }, directory: fixture.directory, executable: "bash", subcommand: "-c")
    }

    static func noCrash(_ result: CommandRunner.Result, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!result.stderr.contains("Fatal error"), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("Crash") && !result.stderr.contains("Backtrace"), "\(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test("`keyward sync | true` exits 1 with one write error line, after the vault and the sinks are written")
    func syncIntoClosedPipe() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try Self.appendConfig(fixture, RotateCLITests.sinks)
        // `true` exits at once; sleeping first makes sure the pipe is closed before keyward writes.
        let result = try await Self.shell(fixture, #""$KEYWARD" sync | (exec 0<&-; true)"#)
        Self.noCrash(result)
        #expect(result.status == 1, "\(result.all)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines == ["keyward: cannot write to standard output: Broken pipe"], "\(result.stderr)")
        #expect(try RotateCLITests.sinkSecret(fixture) == fixture.simulator.currentSecret(for: "FIU-ALPHA"), "the sinks were written")
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        let again = try await fixture.run(["sync"])
        #expect(again.status == 0, "\(again.all)")
        #expect(again.stdout.contains("FIU-ALPHA: unchanged"), "the first sync committed: \(again.stdout)")
    }

    @Test("`keyward status > /dev/full` and `keyward sync | head -1` exit without a crash")
    func statusIntoFullDevice() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let full = try await Self.shell(fixture, #""$KEYWARD" status > /dev/full"#)
        Self.noCrash(full)
        #expect(full.status == 1, "\(full.all)")
        #expect(full.stderr == "keyward: cannot write to standard output: No space left on device\n", "\(full.stderr)")

        let head = try await Self.shell(fixture, #""$KEYWARD" sync FIU-ALPHA FIU-BETA FIU-GAMMA | head -1"#)
        Self.noCrash(head)
        #expect(head.status == 0 || head.status == 1, "\(head.all)")
        #expect(head.stdout.split(separator: "\n").count == 1)
        #expect(LeakScanner.leaks(in: full.all + head.all, of: fixture.secrets()).isEmpty)
    }

    @Test("`keyward status >&-` and `keyward quickstart >&-` exit 1 naming the write error, and quickstart still cleans up")
    func closedStandardOutput() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let status = try await Self.shell(fixture, #""$KEYWARD" status >&-"#)
        Self.noCrash(status)
        #expect(status.status == 1, "\(status.all)")
        #expect(status.stderr == "keyward: cannot write to standard output: Bad file descriptor\n", "\(status.stderr)")
        let verify = try await fixture.run(["vault", "verify"])
        #expect(verify.status == 0, "the vault was not written through a reused descriptor: \(verify.all)")

        let temporary = fixture.directory.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        let quickstart = try await Self.shell(fixture, #""$KEYWARD" quickstart >&-"#, environment: ["TMPDIR": temporary.path])
        Self.noCrash(quickstart)
        #expect(quickstart.status == 1, "\(quickstart.all)")
        #expect(quickstart.stderr.hasSuffix("keyward: cannot write to standard output: Bad file descriptor\n"), "\(quickstart.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary.path) == [], "quickstart removed its directory")
    }

    @Test("`keyward exec` hands CMD the default SIGPIPE: `exec … -- yes | head -1` ends yes by SIGPIPE, quietly")
    func execRestoresSigpipe() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let result = try await Self.shell(fixture, #""$KEYWARD" exec FIU-ALPHA -- yes | head -1; echo "status ${PIPESTATUS[0]}" >&2"#)
        #expect(result.stdout == "y\n", "\(result.all)")
        #expect(result.stderr.contains("status 141"), "yes was killed by SIGPIPE (128 + 13): \(result.stderr)")
        #expect(!result.stderr.contains("Broken pipe"), "\(result.stderr)")
    }

    // MARK: - item 9: stale temporary files of killed writers

    @Test("a sync killed while writing a sink leaves a temporary file that the next sync removes; a live writer's is kept")
    func staleTemporaries() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try Self.appendConfig(fixture, """
            sinks:
              app-env:
                type: dotenv
                path: deploy/app.env
                entities: [FIU-ALPHA]
            """)
        let deploy = fixture.directory.appendingPathComponent("deploy")
        let killed = try await fixture.run(["sync"], extraEnvironment: ["KEYWARD_CRASH_AT": "sink-before-rename"])
        #expect(killed.status == 137 || killed.status == 9, "killed by the crash hook: \(killed.all)")
        let leftover = try FileManager.default.contentsOfDirectory(atPath: deploy.path).filter { $0.hasPrefix(".app.env.keyward-") }
        #expect(leftover.count == 1, "the killed writer's temporary file: \(leftover)")
        #expect(!FileManager.default.fileExists(atPath: deploy.appendingPathComponent("app.env").path))

        // One an older Keyward left (its name carries no process id) an hour ago, and one a live
        // writer (this test process) is writing right now.
        let legacy = deploy.appendingPathComponent(".app.env.keyward-0123456789abcdef.tmp")
        #expect(FileManager.default.createFile(atPath: legacy.path, contents: Data("FIU_ALPHA_SECRET=stale\n".utf8), attributes: [.posixPermissions: 0o600]))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-3_600)], ofItemAtPath: legacy.path)
        let live = deploy.appendingPathComponent(".app.env.keyward-\(getpid())-feedfacecafebeef.tmp")
        #expect(FileManager.default.createFile(atPath: live.path, contents: Data(), attributes: [.posixPermissions: 0o600]))

        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 0, "\(sync.all)")
        let remaining = try FileManager.default.contentsOfDirectory(atPath: deploy.path).sorted()
        #expect(remaining == [live.lastPathComponent, "app.env"].sorted(), "\(remaining)")

        // An unchanged write cleans up too.
        #expect(FileManager.default.createFile(atPath: legacy.path, contents: Data(), attributes: [.posixPermissions: 0o600]))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-3_600)], ofItemAtPath: legacy.path)
        let unchanged = try await fixture.run(["sync"])
        #expect(unchanged.stdout.contains("sink app-env: unchanged"), "\(unchanged.all)")
        #expect(!FileManager.default.fileExists(atPath: legacy.path))
        #expect(LeakScanner.leaks(in: killed.all + sync.all + unchanged.all, of: fixture.secrets()).isEmpty)
    }

    @Test("export --out removes the stale temporaries a killed export left beside its file")
    func exportRemovesStaleTemporaries() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let out = fixture.directory.appendingPathComponent("alpha.env")
        let killed = try await fixture.run(["export", "FIU-ALPHA", "--format", "dotenv", "--out", out.path],
                                           extraEnvironment: ["KEYWARD_CRASH_AT": "sink-before-rename"])
        #expect(killed.status == 9, "killed by the crash hook: \(killed.all)")
        let temporaries = { try FileManager.default.contentsOfDirectory(atPath: fixture.directory.path).filter { $0.hasPrefix(".alpha.env.keyward-") } }
        #expect(try temporaries().count == 1, "the killed export's plaintext temporary file")
        let export = try await fixture.run(["export", "FIU-ALPHA", "--format", "dotenv", "--out", out.path])
        #expect(export.status == 0, "\(export.all)")
        #expect(try temporaries().isEmpty)
        #expect(FileManager.default.fileExists(atPath: out.path))
        #expect(LeakScanner.leaks(in: killed.all + export.all, of: fixture.secrets()).isEmpty)
    }

    // MARK: - item 8: who holds a lock

    @Test("a rotation lock held by a running sync is named in the message of the job that skips")
    func lockHolderNamed() async throws {
        let fixture = try await RotateCLITests.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        // The sync holds FIU-ALPHA's lock while the service takes its time to answer.
        fixture.simulator.inject(.latency(milliseconds: 8_000), endpoint: .secretRead, count: 1)
        let stderr = Pipe()
        let holder = try RotateCLITests.launch(["sync", "FIU-ALPHA"], fixture: fixture, stderr: stderr)
        let lockFile = fixture.directory.appendingPathComponent("state/vault.db.locks/FIU-ALPHA.lock").path
        let recorded = try await ScheduleRunCLITests.waitFor(60) {
            ((try? String(contentsOfFile: lockFile, encoding: .utf8)) ?? "").contains("sync")
        }
        #expect(recorded, "the holder wrote who it is into the lock file")
        let rotate = try await fixture.run(["rotate", "FIU-ALPHA", "--force"])
        #expect(rotate.all.contains("skipped"), "\(rotate.all)")
        #expect(rotate.all.contains("held by a sync (pid \(holder.processIdentifier), since "), "\(rotate.all)")
        #expect(await RotateCLITests.wait(holder) == 0)
        _ = stderr
    }
}

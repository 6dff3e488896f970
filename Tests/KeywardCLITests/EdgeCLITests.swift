import Foundation
import KeywardSimulator
import Testing

/// Issue 12, items 7-10 (parts): the network's edges, the vault's edges, and what the commands
/// print, tried with the built binary as a user would.
@Suite("network edges, vault edges and output, with the built binary", .serialized)
struct EdgeCLITests {
    // MARK: The network's edges

    @Test("a refused connection fails on its first attempt, naming host:port and 'connection refused'")
    func refusedConnection() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        // The simulator's port is closed once it stops: nothing listens there.
        await fixture.simulator.stop()
        let port = try #require(fixture.baseURL.port)
        // A short timeout only bounds how long today's code takes to fail this test.
        try Self.editConfig(fixture) { $0.replacingOccurrences(of: "timeout: 30s", with: "timeout: 3s") }
        let result = try await fixture.run(["sync", "FIU-ALPHA", "--verbose"])
        #expect(result.status == 1, "\(result.all)")
        #expect(result.stderr.contains("127.0.0.1:\(port)"), "\(result.stderr)")
        #expect(result.stderr.contains("connection refused"), "\(result.stderr)")
        let requests = Self.httpRequestLines(result.stderr)
        #expect(requests.count == 1, "one attempt, no retries: \(requests)")
        #expect(result.stdout.isEmpty || !result.stdout.contains("connection refused"), "failures go to stderr only")
        #expect(fixture.secrets().filter { result.all.contains($0) }.isEmpty)
    }

    @Test("a host that does not resolve fails on its first attempt, naming host:port and the DNS lookup")
    func unknownHost() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        // RFC 6761: names under .invalid never resolve.
        try Self.editConfig(fixture) {
            $0.replacingOccurrences(of: fixture.baseURL.absoluteString, with: "https://keyward-test.invalid/iam/v1")
                .replacingOccurrences(of: "timeout: 30s", with: "timeout: 3s")
        }
        let result = try await fixture.run(["sync", "FIU-ALPHA", "--verbose"])
        #expect(result.status == 1, "\(result.all)")
        #expect(result.stderr.contains("keyward-test.invalid:443"), "\(result.stderr)")
        #expect(result.stderr.contains("DNS lookup failed"), "\(result.stderr)")
        #expect(Self.httpRequestLines(result.stderr).count == 1, "\(result.stderr)")
    }

    @Test("--verbose logs each HTTP request: method, host, path, status, duration; never a body or a token")
    func verboseRequests() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["sync", "FIU-ALPHA", "--verbose"])
        #expect(result.status == 0, "\(result.all)")
        let requests = Self.httpRequestLines(result.stderr)
        #expect(requests.count == 2, "secret/read and entity/token/generate: \(requests)")
        let port = try #require(fixture.baseURL.port)
        for path in ["/iam/v1/entity/secret/read", "/iam/v1/entity/token/generate"] {
            let line = requests.first { $0.contains("path=\(path)") }
            #expect(line != nil, "\(path): \(requests)")
            #expect(line?.contains("method=POST") == true, "\(line ?? "")")
            #expect(line?.contains("host=127.0.0.1:\(port)") == true, "\(line ?? "")")
            #expect(line?.contains("status=200") == true, "\(line ?? "")")
            #expect(line?.contains("durationMs=") == true, "\(line ?? "")")
        }
        let token = try await fixture.vaultGet("entities/FIU-ALPHA/token")
        #expect(!result.stderr.contains(token), "no token in the log")
        #expect(!result.stderr.contains("eyJ"), "no JWT in the log")
        #expect(fixture.secrets().filter { result.all.contains($0) }.isEmpty)
        let quiet = try await fixture.run(["sync", "FIU-BETA"])
        #expect(Self.httpRequestLines(quiet.stderr).isEmpty, "without --verbose: \(quiet.stderr)")
    }

    @Test("an answer over 1 MiB is refused as too large, naming the limit, on the first attempt")
    func oversizedAnswer() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        fixture.simulator.inject(.oversized, endpoint: .secretRead, count: 3)
        let result = try await fixture.run(["sync", "FIU-ALPHA"])
        #expect(result.status == 1, "\(result.all)")
        #expect(result.stderr.contains("too large"), "\(result.stderr)")
        #expect(result.stderr.contains("1 MiB"), "\(result.stderr)")
        #expect(!result.stderr.contains("cut-off"), "\(result.stderr)")
        #expect(fixture.counter(.secretRead) == 1, "not retried")
    }

    // MARK: The vault's edges

    @Test("a column added to a vault table (a CHECK that blocks writes) is an integrity failure at unlock: exit 4")
    func addedColumn() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        // Holds for every row there is (SQLite checks them), fails for the next audit row.
        try Self.sqlite(fixture, "ALTER TABLE audit ADD COLUMN planted INTEGER DEFAULT 0 CHECK (audit_id <= {max_audit})")
        for arguments in [["vault", "list"], ["status"], ["sync", "FIU-ALPHA"]] {
            let result = try await fixture.run(arguments)
            #expect(result.status == 4, "\(arguments): \(result.all)")
            #expect(result.stderr.contains("integrity"), "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("audit"), "names the table: \(result.stderr)")
        }
    }

    @Test("a dropped vault table is an integrity failure: exit 4, not 1", arguments: ["journal", "audit", "manifest", "key_slots"])
    func droppedTable(table: String) async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try Self.sqlite(fixture, "DROP TABLE \(table)")
        let result = try await fixture.run(["vault", "list"])
        #expect(result.status == 4, "\(result.all)")
        #expect(result.stderr.contains(table), "names the table: \(result.stderr)")
    }

    @Test("vault get that cannot append its audit row prints nothing and exits 4 with the reason")
    func getFailsClosed() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        // Another process holds the vault's write lock past the busy timeout (reads go on: WAL).
        let holder = try Self.holdWriteLock(fixture)
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        let result = try await fixture.run(["vault", "get", "entities/FIU-ALPHA/secret"])
        #expect(result.status == 4, "\(result.all)")
        #expect(result.stdout.isEmpty, "the value is not printed")
        #expect(result.stderr.contains("audit"), "\(result.stderr)")
        #expect(fixture.secrets().filter { result.all.contains($0) }.isEmpty)
    }

    @Test("a sync that unlocked before another process's rekey finishes under the new key (exit 0), not exit 4")
    func rekeyDuringSync() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        // The sync unlocks the vault, then waits on a slow secret read while the rekey commits.
        fixture.simulator.inject(.latency(milliseconds: 4_000), endpoint: .secretRead, count: 1)
        let sync = try Self.running(fixture, ["sync", "FIU-ALPHA"])
        try await Self.waitForCall(fixture, .secretRead, while: sync)
        let rekey = try await fixture.run(["vault", "rekey"])
        #expect(rekey.status == 0, "\(rekey.all)")
        let result = try await sync.result()
        #expect(result.status == 0, "\(result.all)")
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try await fixture.run(["vault", "verify"]).status == 0)
    }

    @Test("a sync whose unlock slot a rekey removed exits 1 saying the vault was re-keyed, not 4")
    func rekeyRemovesSlot() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let second = fixture.directory.appendingPathComponent("second.key").path
        let added = try await fixture.run(["vault", "key", "add", "--new-key-file", second])
        #expect(added.status == 0, "\(added.all)")
        fixture.simulator.inject(.latency(milliseconds: 4_000), endpoint: .secretRead, count: 1)
        let sync = try Self.running(fixture, ["sync", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_KEY_FILE": second])
        try await Self.waitForCall(fixture, .secretRead, while: sync)
        let rekey = try await fixture.run(["vault", "rekey", "--drop-other-slots"])
        #expect(rekey.status == 0, "\(rekey.all)")
        let result = try await sync.result()
        #expect(result.status == 1, "\(result.all)")
        #expect(result.stderr.contains("re-keyed"), "\(result.stderr)")
    }

    // MARK: Saying what happened

    @Test("rotate --force without entity names refuses (exit 2) unless --all is given")
    func forceNeedsNames() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let refused = try await fixture.run(["rotate", "--force"])
        #expect(refused.status == 2, "\(refused.all)")
        #expect(refused.stderr.contains("--all"), "\(refused.stderr)")
        #expect(refused.stdout.isEmpty)
        #expect(fixture.counter(.secretReset) == 0)
        let all = try await fixture.run(["rotate", "--force", "--all"])
        #expect(all.status == 0, "\(all.all)")
        #expect(fixture.counter(.secretReset) == 3)
        let both = try await fixture.run(["rotate", "--force", "--all", "FIU-ALPHA"])
        #expect(both.status == 2, "entity names and --all together: \(both.all)")
        #expect(fixture.counter(.secretReset) == 3)
    }

    @Test("--output json: login, token, vault rm, schedule print and quickstart print one JSON document with version 1")
    func jsonEverywhere() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let login = try await fixture.run(["login", "sim", "--output", "json"], stdin: EngineFixture.password + "\n")
        #expect(login.status == 0, "\(login.all)")
        let loginJSON = try Self.document(login.stdout)
        #expect(loginJSON["provider"] as? String == "sim")

        let token = try await fixture.run(["token", "FIU-ALPHA", "--output", "json"])
        #expect(token.status == 0, "\(token.all)")
        let tokenJSON = try Self.document(token.stdout)
        #expect(tokenJSON["token"] as? String == (try await fixture.vaultGet("entities/FIU-ALPHA/token")))
        let expiresAt = try #require(tokenJSON["expiresAt"] as? String)
        #expect(ISO8601DateFormatter().date(from: expiresAt) != nil, "RFC 3339: \(expiresAt)")

        #expect(try await fixture.run(["vault", "put", "user/scratch"], stdin: "scratch-value").status == 0)
        let removed = try await fixture.run(["vault", "rm", "user/scratch", "--output", "json"])
        #expect(removed.status == 0, "\(removed.all)")
        #expect(try Self.document(removed.stdout)["removed"] as? String == "user/scratch")

        for format in ["cron", "systemd", "kubernetes"] {
            let schedule = try await fixture.run(["schedule", "print", "--\(format)", "--output", "json"])
            #expect(schedule.status == 0, "\(schedule.all)")
            let document = try Self.document(schedule.stdout)
            #expect(document["format"] as? String == format)
            let text = try #require(document["text"] as? String)
            let plain = try await fixture.run(["schedule", "print", "--\(format)"])
            #expect(text == plain.stdout, "the JSON wraps the same text")
        }

        let quickstart = try await fixture.run(["quickstart", "--output", "json"])
        #expect(quickstart.status == 0, "\(quickstart.all)")
        let demo = try Self.document(quickstart.stdout)
        #expect((demo["sync"] as? [String: Any])?["entities"] != nil, "\(demo.keys)")
        #expect((demo["status"] as? [String: Any])?["entities"] != nil, "\(demo.keys)")
        for output in [login.all, removed.all, quickstart.all] {
            #expect(fixture.secrets().filter { output.contains($0) }.isEmpty)
        }
    }

    @Test("every warning reads 'keyward: warning: …', and failures go to stderr only")
    func oneWarningStyle() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        // An expired secret inside its grace period: the engine warns while syncing.
        fixture.simulator.advanceClock(bySeconds: 41 * 86_400)
        let result = try await fixture.run(["sync", "FIU-BETA"], extraEnvironment: ["KEYWARD_CLOCK_OFFSET_SECONDS": "\(41 * 86_400)"])
        #expect(result.status == 0, "\(result.all)")
        let warnings = result.stderr.split(separator: "\n").filter { $0.localizedCaseInsensitiveContains("warning") }
        #expect(!warnings.isEmpty, "\(result.stderr)")
        for line in warnings {
            #expect(line.hasPrefix("keyward: warning: "), "\(line)")
        }
        #expect(!result.stdout.localizedCaseInsensitiveContains("warning"), "\(result.stdout)")
        let failed = try await fixture.run(["token", "FIU-NOPE", "--output", "json"])
        #expect(failed.status == 2)
        #expect(failed.stdout.isEmpty, "failures on stderr only: \(failed.stdout)")
        #expect(failed.stderr.hasPrefix("keyward: "), "\(failed.stderr)")
    }

    // MARK: Helpers

    /// A `keyward` process started in the background.
    final class Running: Sendable {
        let task: Task<CommandRunner.Result, any Error>
        private let flag: Flag

        final class Flag: @unchecked Sendable {
            private let lock = NSLock()
            private var value = false
            func set() { lock.withLock { value = true } }
            var isSet: Bool { lock.withLock { value } }
        }

        init(_ body: @escaping @Sendable () async throws -> CommandRunner.Result) {
            let flag = Flag()
            self.flag = flag
            task = Task {
                defer { flag.set() }
                return try await body()
            }
        }

        var isFinished: Bool { flag.isSet }
        func result() async throws -> CommandRunner.Result { try await task.value }
    }

    static func running(_ fixture: EngineFixture, _ arguments: [String], extraEnvironment: [String: String] = [:]) throws -> Running {
        Running { try await fixture.run(arguments, extraEnvironment: extraEnvironment) }
    }

    /// Waits until the simulator has received a call to `endpoint` (the command is then inside
    /// it), or the command has ended.
    static func waitForCall(_ fixture: EngineFixture, _ endpoint: SimulatorEndpoint, while command: Running) async throws {
        while fixture.counter(endpoint) == 0 && !command.isFinished {
            try await Task.sleep(for: .milliseconds(20))
        }
        if fixture.counter(endpoint) == 0 {
            let output = try await command.result().all
            Issue.record("the command ended before calling \(endpoint): \(output)")
            throw CancellationError()
        }
    }

    static func editConfig(_ fixture: EngineFixture, _ edit: (String) -> String) throws {
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        try edit(try String(contentsOf: config, encoding: .utf8)).write(to: config, atomically: true, encoding: .utf8)
    }

    /// The `--verbose` log lines of HTTP requests.
    static func httpRequestLines(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { $0.contains("HTTP request") }
    }

    static func document(_ text: String) throws -> [String: Any] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
        #expect(object["version"] as? Int == 1, "\(text)")
        return object
    }

    static var vaultPath: (EngineFixture) -> String { { $0.directory.appendingPathComponent("state/vault.db").path } }

    /// Raw SQL on the vault file (Python's sqlite3), as an attacker with the file would;
    /// `{max_audit}` stands for the highest audit row id.
    static func sqlite(_ fixture: EngineFixture, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            top = c.execute("SELECT max(audit_id) FROM audit").fetchone()[0] if "{max_audit}" in sys.argv[2] else 0
            c.executescript(sys.argv[2].replace("{max_audit}", str(top)))
            c.close()
            """
        process.arguments = ["python3", "-c", script, vaultPath(fixture), sql]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "sqlite: \(sql)")
    }

    /// A process that holds the vault's write lock (BEGIN IMMEDIATE) until it is terminated;
    /// returns once the lock is held.
    static func holdWriteLock(_ fixture: EngineFixture) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // The test process may ignore SIGTERM (ServiceLifecycle's signal handling in-process),
        // and an ignored signal is inherited: the holder restores it, is killed with SIGKILL by
        // the caller anyway, ends by itself after 60 s, and keeps no descriptor of the test
        // runner's (an orphan holding its stderr kept `swift test` waiting).
        let script = """
            import signal, sqlite3, sys, time
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("BEGIN IMMEDIATE")
            print("locked", flush=True)
            time.sleep(60)
            """
        process.arguments = ["python3", "-c", script, vaultPath(fixture)]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("locked") {
            let chunk = out.fileHandleForReading.availableData
            try #require(!chunk.isEmpty, "the lock holder exited")
            seen.append(chunk)
        }
        return process
    }
}

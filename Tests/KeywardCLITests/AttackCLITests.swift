import Foundation
import KeywardSimulator
import KeywardTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Round 2 of issue 12: what a fresh user found by attacking the product. The built binary
/// against the in-process simulator; each test failed on the code before its fix.
@Suite("round 2: no environment in logs, names checked before unlocking, open and recovered rotations said", .serialized)
struct AttackCLITests {
    /// The audit log's rows, split into their tab-separated fields.
    static func auditRows(_ fixture: EngineFixture) async throws -> [[String]] {
        let audit = try await fixture.run(["audit"])
        #expect(audit.status == 0, "\(audit.all)")
        return audit.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    // MARK: - 1: schedule run --verbose dumps the environment

    @Test("schedule run --verbose, stopped by SIGTERM, never writes the passphrase or any other environment value to stderr")
    func verboseScheduleLeaksNoEnvironment() async throws {
        let fixture = try await ScheduleRunCLITests.synced()
        defer { Task { await fixture.stop() } }
        let passphrase = "correct horse battery staple"
        let marker = "marker-value-\(UUID().uuidString)"
        let statusFile = fixture.directory.appendingPathComponent("schedule.json")
        let stderr = Pipe()
        let process = try ScheduleRunCLITests.launch(["schedule", "run", "--verbose", "--status-file", statusFile.path, "--jitter", "0"],
                                                     fixture: fixture, environment: ["KEYWARD_PASSPHRASE": passphrase, "MYPW": marker],
                                                     stderr: stderr)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let stderrText = Task { String(decoding: await RotateCLITests.readAll(stderr), as: UTF8.self) }
        #expect(try await ScheduleRunCLITests.waitFor(30) { (ScheduleRunCLITests.status(statusFile)?["cycles"] as? Int ?? 0) >= 1 })
        kill(process.processIdentifier, SIGTERM)
        #expect(await RotateCLITests.wait(process) == 0)
        let log = await stderrText.value
        #expect(log.contains("debug"), "--verbose logs at debug level: \(log.prefix(2_000))")
        #expect(!log.contains(passphrase), "the passphrase is never logged")
        #expect(!log.contains(marker), "no environment value is logged")
        #expect(!log.contains("KEYWARD_KEY_FILE"), "no environment dictionary is logged")
        let secrets = try await DeliveryCLITests.secrets(fixture)
        #expect(LeakScanner.leaks(in: log, of: secrets + [passphrase, marker]).isEmpty)
    }

    // MARK: - 2: names checked before unlocking

    @Test("unknown entity, sink and provider names exit 2 naming them before any unlock; exec 125 naming code 2")
    func namesBeforeUnlock() async throws {
        let fixture = try await RotateCLITests.withSinks()
        defer { Task { await fixture.stop() } }
        var locked = fixture
        locked.environment = [:]  // no unlock method at all
        let cases: [([String], Int32, String)] = [
            (["export", "NOPE", "--format", "json"], 2, "entity 'NOPE' is not in the configuration"),
            (["token", "NOPE"], 2, "entity 'NOPE' is not in the configuration"),
            (["sync", "NOPE"], 2, "entity 'NOPE' is not in the configuration"),
            (["sync", "--sink", "nosuch"], 2, "sink 'nosuch' is not in the configuration"),
            (["login", "nosuch"], 2, "provider 'nosuch' is not in the configuration"),
            (["rotate", "NOPE"], 2, "entity 'NOPE' is not in the configuration"),
            (["status", "NOPE"], 2, "entity 'NOPE' is not in the configuration"),
            (["exec", "NOPE", "--", "true"], 125, "entity 'NOPE' is not in the configuration"),
            (["sync", "FIU-BETA", "--sink", "alpha-json"], 2, "sink 'alpha-json' does not name FIU-BETA"),
        ]
        for (arguments, code, message) in cases {
            let result = try await locked.run(arguments, stdin: "")
            #expect(result.status == code, "\(arguments): \(result.all)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("locked"), "\(arguments): checked before any unlock: \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(arguments)")
        }
        let exec = try await locked.run(["exec", "NOPE", "--", "true"])
        #expect(exec.stderr.contains("(code 2: usage or configuration)"), "\(exec.stderr)")
        // Known names still need the vault: exit 4.
        let known = try await locked.run(["token", "FIU-ALPHA"])
        #expect(known.status == 4, "\(known.all)")
        // Unlocked: the sink that does not name the entity is refused too, and nothing is written.
        let unlocked = try await fixture.run(["sync", "FIU-BETA", "--sink", "alpha-json"])
        #expect(unlocked.status == 2, "\(unlocked.all)")
        #expect(unlocked.stderr.contains("sink 'alpha-json' does not name FIU-BETA"), "\(unlocked.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("deploy/alpha.json").path))
        #expect(fixture.counter(.secretRead) == 0, "nothing was read from the service")
    }

    // MARK: - 3: vault get during an open rotation

    @Test("vault get of an entity's secret during an open rotation prints it (read-only) with a warning naming the entity and its open rotation")
    func vaultGetWarnsOfOpenRotation() async throws {
        let fixture = try await RotateCLITests.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let old = try await fixture.vaultGet("entities/FIU-ALPHA/secret")
        let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-reset-answer"])
        #expect(RotateCLITests.killed.contains(crashed.status), "\(crashed.all)")
        let get = try await fixture.run(["vault", "get", "entities/FIU-ALPHA/secret"])
        #expect(get.status == 0, "read-only: its exit code does not change: \(get.all)")
        #expect(get.stdout == old, "the value held is printed")
        #expect(get.stderr.contains("keyward: warning: FIU-ALPHA: its rotation is open"), "\(get.stderr)")
        #expect(get.stderr.contains("may be superseded"), "\(get.stderr)")
        #expect(get.stderr.contains("the next sync, rotate, token, export or exec finishes it"), "\(get.stderr)")
        #expect(!get.stderr.contains(old))
        // Another entity's entry: its rotation is not this value's, so no warning names it.
        let beta = try await fixture.run(["vault", "get", "entities/FIU-BETA/secret"])
        #expect(beta.status == 0)
        #expect(!beta.stderr.contains("may be superseded"), "\(beta.stderr)")
        let status = try await fixture.run(["status", "FIU-ALPHA"])
        #expect(status.stdout.contains("the next sync, rotate, token, export or exec finishes it"), "\(status.stdout)")
    }

    // MARK: - 4: recovery is always said

    @Test("token, export and exec that finish an interrupted rotation say so on stderr, with its txnId")
    func recoveryAlwaysSaid() async throws {
        let fixture = try await RotateCLITests.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let commands: [[String]] = [["token", "FIU-ALPHA"], ["export", "FIU-ALPHA", "--format", "json"], ["exec", "FIU-ALPHA", "--", "true"],
                                    ["sync", "FIU-ALPHA"]]
        for command in commands {
            let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-reset-answer"])
            #expect(RotateCLITests.killed.contains(crashed.status), "\(crashed.all)")
            let result = try await fixture.run(command)
            #expect(result.status == 0, "\(command): \(result.all)")
            let lines = result.stderr.split(separator: "\n").filter { $0.contains("FIU-ALPHA: recovered an interrupted rotation") }
            #expect(lines.count == 1, "\(command): one line: \(result.stderr)")
            #expect(lines.first?.contains("txnId ") == true, "\(command): \(result.stderr)")
            #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
            let secrets = try await DeliveryCLITests.secrets(fixture)
            #expect(LeakScanner.leaks(in: result.stderr, of: secrets).isEmpty)
        }
    }

    @Test("a reset whose answer is dropped after the service applied it: rotate says the outcome was recovered through secret/read")
    func droppedResetAnswerSaid() async throws {
        let fixture = try await RotateCLITests.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        fixture.simulator.inject(.dropAfterApplying, endpoint: .secretReset)
        let rotate = try await fixture.run(["rotate", "--force", "FIU-BETA"])
        #expect(rotate.status == 0, "\(rotate.all)")
        #expect(rotate.stdout.contains("FIU-BETA: ok (new secret version, recovered through secret/read after the reset's answer was lost, token minted)"),
                "\(rotate.stdout)")
        #expect(fixture.counter(.secretReset) == 1)
        #expect(try await fixture.vaultGet("entities/FIU-BETA/secret") == fixture.simulator.currentSecret(for: "FIU-BETA"))
        let json = try await fixture.run(["status", "FIU-BETA", "--output", "json"])
        #expect(json.status == 0)
    }

    // MARK: - 5: a refused export or exec carries the failed call's txnId

    @Test("export and exec refused for an open rotation while the service fails are audited failed with the failed secret/read's txnId")
    func refusedAuditCarriesTxnId() async throws {
        let fixture = try await RotateCLITests.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-reset-answer"])
        #expect(RotateCLITests.killed.contains(crashed.status), "\(crashed.all)")
        fixture.simulator.inject(.status500, endpoint: nil, count: 400)
        let export = try await fixture.run(["export", "FIU-ALPHA", "--format", "json"])
        #expect(export.status == 1, "\(export.all)")
        let exec = try await fixture.run(["exec", "FIU-ALPHA", "--", "true"])
        #expect(exec.status == 125, "\(exec.all)")
        fixture.simulator.clearFaults()
        let rows = try await Self.auditRows(fixture)
        for operation in ["export", "exec"] {
            let row = rows.last { $0.count == 5 && $0[1] == operation && $0[2] == "FIU-ALPHA" }
            #expect(row?[3] == "failed", "\(rows)")
            let txnId = try #require(row?[4])
            #expect(txnId != "-" && !txnId.isEmpty, "\(operation): the failed call's txnId: \(rows)")
            let shown = operation == "export" ? export.stderr : exec.stderr
            #expect(shown.contains(txnId), "\(operation): the txnId on stderr is the audited one: \(shown)")
        }
    }

    // MARK: - 6: a journal entry whose reset was never sent

    @Test("after a crash before the reset was sent, the dry run plans what the real sync does: close it aborted, write nothing")
    func pendingJournalDryRunMatches() async throws {
        let fixture = try await RotateCLITests.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-journal"])
        #expect(RotateCLITests.killed.contains(crashed.status), "\(crashed.all)")
        #expect(fixture.counter(.secretReset) == 0)
        let sink = fixture.directory.appendingPathComponent("deploy/alpha.json")
        let before = try Data(contentsOf: sink)
        let modified = try FileManager.default.attributesOfItem(atPath: sink.path)[.modificationDate] as? Date

        let shown = try await fixture.run(["status", "FIU-ALPHA"])
        #expect(shown.stdout.contains("its reset was never sent; the next sync, rotate, token, export or exec closes it"), "\(shown.stdout)")

        let dry = try await fixture.run(["sync", "--dry-run", "FIU-ALPHA"])
        #expect(dry.status == 0, "\(dry.all)")
        #expect(!dry.stdout.contains("write sink"), "nothing would be written: \(dry.stdout)")
        #expect(!dry.stdout.contains("finish an interrupted rotation"), "\(dry.stdout)")
        #expect(dry.stdout.contains("FIU-ALPHA: ok (would: close the interrupted rotation as aborted: its reset was never sent)"), "\(dry.stdout)")

        let real = try await fixture.run(["sync", "FIU-ALPHA"])
        #expect(real.status == 0, "\(real.all)")
        #expect(real.stdout.contains("FIU-ALPHA: ok (closed the interrupted rotation as aborted: its reset was never sent)"), "\(real.stdout)")
        #expect(!real.stdout.contains("FIU-ALPHA: unchanged"), "\(real.stdout)")
        #expect(try Data(contentsOf: sink) == before)
        #expect(try FileManager.default.attributesOfItem(atPath: sink.path)[.modificationDate] as? Date == modified, "the sink was not rewritten")
        #expect(fixture.counter(.secretReset) == 0)
        let status = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"])
        #expect(status.stdout.contains("\"openJournal\" : null") || !status.stdout.contains("rotation 1"), "closed: \(status.stdout)")
        let again = try await fixture.run(["sync", "FIU-ALPHA"])
        #expect(again.stdout.contains("FIU-ALPHA: unchanged"), "closed once: \(again.stdout)")
    }

    @Test("after a crash before the reset was sent, rotate (not due) says it closed the rotation as aborted, as its dry run plans; no reset")
    func pendingJournalRotateSaysAborted() async throws {
        let fixture = try await RotateCLITests.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-journal"])
        #expect(RotateCLITests.killed.contains(crashed.status), "\(crashed.all)")
        let dry = try await fixture.run(["rotate", "--dry-run", "FIU-ALPHA"])
        #expect(dry.status == 0, "\(dry.all)")
        #expect(dry.stdout.contains("FIU-ALPHA: ok (would: close the interrupted rotation as aborted: its reset was never sent)"), "\(dry.stdout)")
        let real = try await fixture.run(["rotate", "FIU-ALPHA"])
        #expect(real.status == 0, "\(real.all)")
        #expect(real.stdout.contains("FIU-ALPHA: ok (closed the interrupted rotation as aborted: its reset was never sent)"), "\(real.stdout)")
        #expect(fixture.counter(.secretReset) == 0, "not due: closed, never reset")
        let again = try await fixture.run(["rotate", "FIU-ALPHA"])
        #expect(again.stdout.contains("FIU-ALPHA: unchanged"), "closed once: \(again.stdout)")
    }
}

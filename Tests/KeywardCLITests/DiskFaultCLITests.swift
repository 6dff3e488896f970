import Foundation
import KeywardSimulator
import KeywardTesting
import Testing

/// Two small tmpfs disks under one fixture: `state/` (the vault, its locks and the rollback
/// anchors: XDG_STATE_HOME) and `deploy/` (the sinks and `export --out`), so a test fills or
/// freezes exactly the one it means to.
final class FixtureDisks: @unchecked Sendable {
    var state: SmallDisk?
    var deploy: SmallDisk?

    func unmount() {
        state?.unmount()
        deploy?.unmount()
    }
}

/// `keyward` on a full or read-only disk (issue 16, item 2), end to end against the in-process
/// simulator: `vault put`, `sync` (the vault's commit, then the sinks' writes), `rotate` after
/// the reset answer, the audit append of a read (`vault get`, `export`) and `export --out`.
/// Each time: exit 1, a message naming the path and the system's reason, the old files
/// byte-identical, no temporary file, `vault verify` passing once space returns, and a
/// rotation's new secret never lost.
@Suite("disk faults through the CLI: full and read-only disks during put, sync, rotate, audit and export --out",
       .serialized, .enabled(if: SmallDisk.unavailableReason == nil, "\(SmallDisk.unavailableReason ?? "")"))
struct DiskFaultCLITests {
    static let sinks = """
        sinks:
          app-env:
            type: dotenv
            path: deploy/app.env
            entities: [FIU-ALPHA, FIU-BETA]
          alpha-json:
            type: json
            path: deploy/alpha.json
            entities: [FIU-ALPHA]
            keys:
              AA_CLIENT_ID: "{entity.id}"
              AA_CLIENT_SECRET: "{entity.secret}"
        """

    /// A fixture whose `state/` (8 MiB) and `deploy/` (4 MiB) are tmpfs mounts, synced once.
    static func start() async throws -> (EngineFixture, FixtureDisks) {
        let disks = FixtureDisks()
        do {
            let fixture = try await EngineFixture.start(extraConfig: sinks) { directory in
                disks.state = try SmallDisk(at: directory.appendingPathComponent("state").path, sizeKiB: 8_192)
                disks.deploy = try SmallDisk(at: directory.appendingPathComponent("deploy").path, sizeKiB: 4_096)
            }
            let sync = try await fixture.run(["sync"])
            #expect(sync.status == 0, "\(sync.all)")
            return (fixture, disks)
        } catch {
            disks.unmount()
            throw error
        }
    }

    /// Unmounts the disks at once (a mount must never outlive the test), then stops the fixture.
    static func finish(_ fixture: EngineFixture, _ disks: FixtureDisks) {
        disks.unmount()
        Task { await fixture.stop() }
    }

    /// Every regular file under the fixture's disks, by path relative to the fixture, with its
    /// bytes; SQLite's own `-wal`/`-shm` companions and the filler are left out.
    static func snapshot(_ fixture: EngineFixture) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for top in ["state", "deploy"] {
            let root = fixture.directory.appendingPathComponent(top)
            guard let walker = FileManager.default.enumerator(atPath: root.path) else { continue }
            while let relative = walker.nextObject() as? String {
                let path = root.appendingPathComponent(relative).path
                var info = stat()
                guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
                if relative.hasSuffix("-wal") || relative.hasSuffix("-shm") || relative.hasSuffix(".keyward-test-filler") { continue }
                if relative.hasSuffix(".lock") { continue }  // lock files: empty, created on demand
                files["\(top)/\(relative)"] = try Data(contentsOf: URL(fileURLWithPath: path))
            }
        }
        return files
    }

    /// The files of `after` that differ from `before` (changed, added or removed), by path.
    static func changed(_ before: [String: Data], _ after: [String: Data]) -> [String] {
        Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
    }

    /// Temporary files anywhere under the fixture: the atomic writer's and SQLite's rollback journals.
    static func temporaries(_ fixture: EngineFixture) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: fixture.directory.path) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            if (name.contains(".keyward-") && name.hasSuffix(".tmp")) || name.hasSuffix("-journal") { found.append(relative) }
        }
        return found
    }

    /// Brings the vault to rest as a cleanly closed one is: its WAL checkpointed into the file
    /// and removed (with the -shm), through python3's sqlite3. A `keyward` process that exits
    /// without closing the vault leaves its WAL, whose space the next process reuses: on a full
    /// disk, a small write would then succeed or fail by chance.
    static func settle(_ fixture: EngineFixture) async throws {
        _ = try await runTool(["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()",
                               vaultPath(fixture)])
        for suffix in ["-wal", "-shm"] {
            #expect(!FileManager.default.fileExists(atPath: vaultPath(fixture) + suffix), "the vault is at rest")
        }
    }

    /// Exit 1, the path named, and the system's reason, with no secret in the output.
    static func expectDiskFailure(_ result: CommandRunner.Result, path: String, reason: String, _ fixture: EngineFixture,
                                  exit: Int32 = 1, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == exit, "exit \(result.status): \(result.stdout) | \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(path), "names \(path): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(reason.isEmpty || result.stderr.lowercased().contains(reason.lowercased()), "says '\(reason)': \(result.stderr)", sourceLocation: sourceLocation)
        #expect(fixture.secrets().filter { result.all.contains($0) }.isEmpty, "no secret in the output", sourceLocation: sourceLocation)
    }

    /// `vault verify` passes.
    static func expectVerifies(_ fixture: EngineFixture, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let verify = try await fixture.run(["vault", "verify"])
        #expect(verify.status == 0, "\(verify.all)", sourceLocation: sourceLocation)
    }

    static func vaultPath(_ fixture: EngineFixture) -> String { fixture.directory.appendingPathComponent("state/vault.db").path }
    static let noSpace = "No space left on device"
    static let readOnly = "Read-only file system"

    // MARK: vault put

    @Test("vault put on a full disk: exit 1 naming the vault and 'No space left'; the vault unchanged; put works once space returns")
    func vaultPutFull() async throws {
        let (fixture, disks) = try await Self.start()
        defer { Self.finish(fixture, disks) }
        try await Self.settle(fixture)
        let before = try Self.snapshot(fixture)
        try disks.state!.fill()
        let value = String(repeating: "v", count: 100_000)
        let put = try await fixture.run(["vault", "put", "app/new"], stdin: value)
        Self.expectDiskFailure(put, path: Self.vaultPath(fixture), reason: Self.noSpace, fixture)
        let changedFiles = Self.changed(before, try Self.snapshot(fixture))
        #expect(changedFiles == [], "changed: \(changedFiles)")
        #expect(Self.temporaries(fixture) == [])
        disks.state!.free()
        try await Self.expectVerifies(fixture)
        #expect(try await fixture.run(["vault", "get", "app/new"]).status == 2, "the failed put stored nothing")
        #expect(try await fixture.run(["vault", "put", "app/new"], stdin: value).status == 0)
        #expect(try await fixture.vaultGet("app/new") == value)
    }

    @Test("vault put on a read-only disk: exit 1 naming the vault and 'Read-only file system'; nothing changed")
    func vaultPutReadOnly() async throws {
        let (fixture, disks) = try await Self.start()
        defer { Self.finish(fixture, disks) }
        try await Self.settle(fixture)
        let before = try Self.snapshot(fixture)
        try disks.state!.setReadOnly(true)
        let put = try await fixture.run(["vault", "put", "app/new"], stdin: "value")
        Self.expectDiskFailure(put, path: Self.vaultPath(fixture), reason: Self.readOnly, fixture)
        try disks.state!.setReadOnly(false)
        let changedFiles = Self.changed(before, try Self.snapshot(fixture))
        #expect(changedFiles == [], "changed: \(changedFiles)")
        #expect(Self.temporaries(fixture) == [])
        try await Self.expectVerifies(fixture)
    }

    // MARK: sync

    @Test("sync with the vault's disk filled at COMMIT: FIU-ALPHA fails naming the vault and 'No space left' (exit 5: the others are unchanged); the sinks keep the old secret; the next sync stores and writes the new one")
    func syncVaultFull() async throws {
        let (fixture, disks) = try await Self.start()
        defer { Self.finish(fixture, disks) }
        // Large enough that its commit needs WAL pages no earlier write of this run left behind.
        let changed = "changed-on-the-server-" + String(repeating: "0123456789", count: 15_000)
        fixture.simulator.setSecret(changed, for: "FIU-ALPHA", expiresIn: 80 * 86_400)
        let old = try await fixture.vaultGet("entities/FIU-ALPHA/secret")
        try await Self.settle(fixture)
        let sinksBefore = try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") }
        // The disk fills while the run's first write transaction waits at COMMIT: the vault is open.
        let sync = try await Self.runPaused(["sync"], at: "vault.commit", fixture) { try disks.state!.fill() }
        Self.expectDiskFailure(sync, path: Self.vaultPath(fixture), reason: Self.noSpace, fixture, exit: 5)
        #expect(sync.stdout.contains("FIU-ALPHA: failed"), "\(sync.stdout)")
        #expect(!sync.all.contains(changed))
        let sinksAfter = try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") }
        #expect(Self.changed(sinksBefore, sinksAfter) == [], "no sink got a secret the vault does not hold")
        #expect(Self.temporaries(fixture) == [])
        disks.state!.free()
        try await Self.expectVerifies(fixture)
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == old)
        let again = try await fixture.run(["sync"])
        #expect(again.status == 0, "\(again.all)")
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == changed)
        #expect(try RotateCLITests.sinkSecret(fixture) == changed)
    }

    @Test("sync with the sinks' disk full: exit 5 (the vault's part succeeded) naming each sink file and 'No space left'; the old files byte-identical, no temporary")
    func syncSinksFull() async throws {
        let (fixture, disks) = try await Self.start()
        defer { Self.finish(fixture, disks) }
        fixture.simulator.setSecret("changed-on-the-server-2", for: "FIU-ALPHA", expiresIn: 80 * 86_400)
        let sinksBefore = try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") }
        try disks.deploy!.fill()
        let sync = try await fixture.run(["sync"])
        for file in ["deploy/app.env", "deploy/alpha.json"] {
            Self.expectDiskFailure(sync, path: fixture.directory.appendingPathComponent(file).path, reason: Self.noSpace, fixture, exit: 5)
        }
        #expect(try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") } == sinksBefore)
        #expect(Self.temporaries(fixture) == [])
        try await Self.expectVerifies(fixture)
        disks.deploy!.free()
        let again = try await fixture.run(["sync"])
        #expect(again.status == 0, "\(again.all)")
        #expect(try RotateCLITests.sinkSecret(fixture) == "changed-on-the-server-2")
    }

    @Test("sync with the sinks' directory read-only: exit 5 naming the sink file and 'Read-only file system'; the old files stay")
    func syncSinksReadOnly() async throws {
        let (fixture, disks) = try await Self.start()
        defer { Self.finish(fixture, disks) }
        fixture.simulator.setSecret("changed-on-the-server-3", for: "FIU-ALPHA", expiresIn: 80 * 86_400)
        let sinksBefore = try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") }
        try disks.deploy!.setReadOnly(true)
        let sync = try await fixture.run(["sync"])
        Self.expectDiskFailure(sync, path: fixture.directory.appendingPathComponent("deploy/app.env").path, reason: Self.readOnly, fixture, exit: 5)
        try disks.deploy!.setReadOnly(false)
        #expect(try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") } == sinksBefore)
        #expect(Self.temporaries(fixture) == [])
        try await Self.expectVerifies(fixture)
    }

    // MARK: rotate

    /// Runs `keyward ARGS` paused at `step` (`KEYWARD_PAUSE_AT`: SIGSTOP there), lets `damage`
    /// break a disk, then resumes it (again at each later stop at the same step) until it exits.
    static func runPaused(_ arguments: [String], at step: String, _ fixture: EngineFixture, damage: () throws -> Void) async throws -> CommandRunner.Result {
        var paused = fixture
        paused.environment["KEYWARD_PAUSE_AT"] = step
        let stdout = Pipe(), stderr = Pipe()
        let process = try RotateCLITests.launch(arguments, fixture: paused, stdout: stdout, stderr: stderr)
        let output = Task { await RotateCLITests.readAll(stdout) }
        let errors = Task { await RotateCLITests.readAll(stderr) }
        func isStopped() -> Bool {
            let stat = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)) ?? ""
            guard let close = stat.lastIndex(of: ")"), stat.distance(from: close, to: stat.endIndex) > 2 else { return false }
            return stat[stat.index(close, offsetBy: 2)] == "T"
        }
        var stopped = false
        for _ in 0..<1_500 where !stopped && process.isRunning {
            stopped = isStopped()
            if !stopped { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(stopped, "\(arguments) reached \(step)")
        do { try damage() } catch {
            kill(process.processIdentifier, SIGKILL)
            throw error
        }
        // Polled with Task.sleep, never a blocking wait (Foundation's waitUntilExit spins a run
        // loop on its thread for as long as the process lives).
        kill(process.processIdentifier, SIGCONT)
        while process.isRunning {
            try await Task.sleep(for: .milliseconds(10))
            if isStopped() { kill(process.processIdentifier, SIGCONT) }
        }
        let status = process.terminationStatus
        return CommandRunner.Result(status: status, stdout: String(decoding: await output.value, as: UTF8.self),
                                    stderr: String(decoding: await errors.value, as: UTF8.self))
    }

    static func rotatePausedAfterReset(_ fixture: EngineFixture, damage: () throws -> Void) async throws -> CommandRunner.Result {
        try await runPaused(["rotate", "--force", "FIU-ALPHA"], at: "after-reset-answer", fixture, damage: damage)
    }

    @Test("rotate with the vault's disk filled after the reset answer: exit 1 naming the vault; the new secret is not lost: the next sync recovers it, one reset")
    func rotateVaultFull() async throws {
        let (fixture, disks) = try await Self.start()
        defer { Self.finish(fixture, disks) }
        let old = try #require(try RotateCLITests.sinkSecret(fixture))
        let sinksBefore = try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") }
        let rotate = try await Self.rotatePausedAfterReset(fixture) { try disks.state!.fill() }
        Self.expectDiskFailure(rotate, path: Self.vaultPath(fixture), reason: Self.noSpace, fixture)
        let reset = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(reset != old, "the service reset the secret")
        #expect(fixture.counter(.secretReset) == 1)
        #expect(try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") } == sinksBefore, "no sink got a secret the vault does not hold")
        #expect(Self.temporaries(fixture) == [])
        disks.state!.free()
        try await Self.expectVerifies(fixture)
        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 0, "\(sync.all)")
        #expect(fixture.counter(.secretReset) == 1, "recovered by reading, never a second reset")
        try await RotateCLITests.expectConverged(fixture, "after a full disk at after-reset-answer")
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == reset)
    }

    @Test("rotate with the sinks' disk filled after the reset answer: the vault holds the new secret, the sinks the old one, exit 5 naming the sink file; the next sync writes them")
    func rotateSinksFull() async throws {
        let (fixture, disks) = try await Self.start()
        defer { Self.finish(fixture, disks) }
        let sinksBefore = try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") }
        let rotate = try await Self.rotatePausedAfterReset(fixture) { try disks.deploy!.fill() }
        Self.expectDiskFailure(rotate, path: fixture.directory.appendingPathComponent("deploy/alpha.json").path, reason: Self.noSpace,
                               fixture, exit: 5)
        let reset = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == reset, "the vault follows the service")
        #expect(try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") } == sinksBefore)
        #expect(Self.temporaries(fixture) == [])
        try await Self.expectVerifies(fixture)
        disks.deploy!.free()
        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 0, "\(sync.all)")
        #expect(fixture.counter(.secretReset) == 1)
        try await RotateCLITests.expectConverged(fixture, "after a full sink disk at after-reset-answer")
    }

    // MARK: audit append

    @Test("a read whose audit row cannot be appended (vault get, export): exit 1 naming the vault and 'No space left'; no secret delivered",
          arguments: [["vault", "get", "entities/FIU-ALPHA/secret"], ["export", "FIU-ALPHA", "--format", "dotenv"]])
    func auditAppendFull(command: [String]) async throws {
        let (fixture, disks) = try await Self.start()
        defer { Self.finish(fixture, disks) }
        let rowsBefore = try await fixture.run(["audit", "--output", "json"])
        try await Self.settle(fixture)
        let before = try Self.snapshot(fixture)
        try disks.state!.fill()
        let result = try await fixture.run(command)
        Self.expectDiskFailure(result, path: Self.vaultPath(fixture), reason: Self.noSpace, fixture)
        #expect(result.stdout.isEmpty, "nothing delivered without its audit row: \(result.stdout)")
        let changedFiles = Self.changed(before, try Self.snapshot(fixture))
        #expect(changedFiles == [], "changed: \(changedFiles)")
        #expect(Self.temporaries(fixture) == [])
        disks.state!.free()
        try await Self.expectVerifies(fixture)
        #expect(try await fixture.run(["audit", "--output", "json"]).stdout == rowsBefore.stdout, "no row appended")
    }

    @Test("the vault's directory read-only (sync, vault get, export): exit 1 naming the vault and 'Read-only file system'; nothing delivered or changed",
          arguments: [["sync"], ["vault", "get", "entities/FIU-ALPHA/secret"], ["export", "FIU-ALPHA", "--format", "dotenv"]])
    func vaultReadOnly(command: [String]) async throws {
        let (fixture, disks) = try await Self.start()
        defer { Self.finish(fixture, disks) }
        fixture.simulator.setSecret("changed-on-the-server-5", for: "FIU-ALPHA", expiresIn: 80 * 86_400)
        try await Self.settle(fixture)
        let before = try Self.snapshot(fixture)
        try disks.state!.setReadOnly(true)
        let result = try await fixture.run(command)
        try disks.state!.setReadOnly(false)
        Self.expectDiskFailure(result, path: Self.vaultPath(fixture), reason: Self.readOnly, fixture)
        #expect(result.stdout.isEmpty, "\(result.stdout)")
        let changedFiles = Self.changed(before, try Self.snapshot(fixture))
        #expect(changedFiles == [], "changed: \(changedFiles)")
        #expect(Self.temporaries(fixture) == [])
        try await Self.expectVerifies(fixture)
    }

    // MARK: export --out

    @Test("export --out on a full disk: exit 1 naming the file and 'No space left'; the old file byte-identical, no temporary")
    func exportOutFull() async throws {
        let (fixture, disks) = try await Self.start()
        defer { Self.finish(fixture, disks) }
        let out = fixture.directory.appendingPathComponent("deploy/export.env").path
        try Data("OLD=1\n".utf8).write(to: URL(fileURLWithPath: out))
        chmod(out, 0o600)
        fixture.simulator.setSecret("changed-on-the-server-4", for: "FIU-ALPHA", expiresIn: 80 * 86_400)
        #expect(try await fixture.run(["sync", "FIU-ALPHA", "--sink", "alpha-json"]).status == 0)
        try disks.deploy!.fill()
        let export = try await fixture.run(["export", "FIU-ALPHA", "--format", "dotenv", "--out", out])
        Self.expectDiskFailure(export, path: out, reason: Self.noSpace, fixture)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data("OLD=1\n".utf8))
        #expect(Self.temporaries(fixture) == [])
        try await Self.expectVerifies(fixture)
        disks.deploy!.free()
        let again = try await fixture.run(["export", "FIU-ALPHA", "--format", "dotenv", "--out", out])
        #expect(again.status == 0, "\(again.all)")
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("changed-on-the-server-4"))
    }

    @Test("export --out into a read-only directory: exit 1 naming the file and 'Read-only file system'; the old file stays")
    func exportOutReadOnly() async throws {
        let (fixture, disks) = try await Self.start()
        defer { Self.finish(fixture, disks) }
        let out = fixture.directory.appendingPathComponent("deploy/export.env").path
        try Data("OLD=1\n".utf8).write(to: URL(fileURLWithPath: out))
        chmod(out, 0o600)
        try disks.deploy!.setReadOnly(true)
        let export = try await fixture.run(["export", "FIU-ALPHA", "--format", "dotenv", "--out", out])
        Self.expectDiskFailure(export, path: out, reason: Self.readOnly, fixture)
        try disks.deploy!.setReadOnly(false)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data("OLD=1\n".utf8))
        #expect(Self.temporaries(fixture) == [])
        try await Self.expectVerifies(fixture)
    }

    // MARK: EIO

    @Test("sync and export --out on a failing block device (ext2 on a loop device over a full tmpfs): each names its file and the kernel's reason (EIO or ENOSPC); the old files stay, no temporary",
          .enabled(if: FailingDisk.unavailableReason == nil, "\(FailingDisk.unavailableReason ?? "")"))
    func failingDisk() async throws {
        var failing: FailingDisk?
        let fixture = try await EngineFixture.start(extraConfig: Self.sinks) { directory in
            failing = try FailingDisk(at: directory.appendingPathComponent("deploy").path)
        }
        let disk = try #require(failing)
        defer {
            disk.unmount()
            Task { await fixture.stop() }
        }
        #expect(try await fixture.run(["sync"]).status == 0)
        let out = fixture.directory.appendingPathComponent("deploy/export.env").path
        #expect(try await fixture.run(["export", "FIU-ALPHA", "--format", "dotenv", "--out", out]).status == 0)
        let before = try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") }
        // Large: its files need blocks of the image that were never written.
        let changed = "changed-on-the-server-" + String(repeating: "0123456789", count: 30_000)
        fixture.simulator.setSecret(changed, for: "FIU-ALPHA", expiresIn: 80 * 86_400)
        try disk.startFailing()
        // The loop device passes its backing file's ENOSPC up as EIO or, on newer kernels for
        // some writes, as ENOSPC: either is the system's reason, named with the path.
        func expectFailure(_ result: CommandRunner.Result, _ path: String, exit: Int32) {
            Self.expectDiskFailure(result, path: path, reason: "", fixture, exit: exit)
            let line = result.stderr.split(separator: "\n").first { $0.contains(path) }.map(String.init) ?? ""
            #expect(line.hasSuffix(": Input/output error") || line.hasSuffix(": No space left on device"), "\(line)")
        }
        let sync = try await fixture.run(["sync"])
        for file in ["deploy/app.env", "deploy/alpha.json"] {
            expectFailure(sync, fixture.directory.appendingPathComponent(file).path, exit: 5)
        }
        let export = try await fixture.run(["export", "FIU-ALPHA", "--format", "dotenv", "--out", out])
        expectFailure(export, out, exit: 1)
        let after = try Self.snapshot(fixture).filter { $0.key.hasPrefix("deploy/") }
        #expect(Self.changed(before, after) == [], "changed: \(Self.changed(before, after))")
        #expect(Self.temporaries(fixture) == [])
        disk.stopFailing()
        try await Self.expectVerifies(fixture)
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == changed, "the vault (on another disk) follows the service")
    }
}

import Foundation
import KeywardSimulator
import KeywardTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Round 3 of issue 12: what a fresh user found next. The built binary against the in-process
/// simulator; each test failed on the code before its fix.
@Suite("a refused user token is renewed once; the lock names a schedule run", .serialized)
struct RenewalAndHolderCLITests {
    @Test("the service forgets the cached user token: sync mints one fresh user token from the stored password and exits 0")
    func refusedUserTokenRenewed() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.run(["sync"])
        #expect(first.status == 0, "\(first.all)")
        // As a restarted service would: every user token minted so far is refused with 401.
        #expect(fixture.simulator.revokeUserTokens() >= 1)
        fixture.simulator.resetCounters()
        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 0, "\(sync.all)")
        #expect(!sync.all.contains("unauthorized"), "\(sync.all)")
        #expect(fixture.counter(.userToken) == 1, "one new user token, minted from the stored password")
        // The new token was kept: the next run needs none.
        let again = try await fixture.run(["sync"])
        #expect(again.status == 0, "\(again.all)")
        #expect(fixture.counter(.userToken) == 1)
        let secrets = try await DeliveryCLITests.secrets(fixture)
        #expect(LeakScanner.leaks(in: first.all + sync.all + again.all, of: secrets + [EngineFixture.password]).isEmpty)
    }

    @Test("rotate --force while a schedule run holds the entity's lock: skipped, held by a schedule run (pid N)")
    func scheduleRunNamedAsHolder() async throws {
        let fixture = try await ScheduleRunCLITests.synced()
        defer { Task { await fixture.stop() } }
        // The schedule run's token refresh holds FIU-ALPHA's lock while the service takes its time.
        fixture.simulator.inject(.latency(milliseconds: 8_000), endpoint: .entityToken, count: 2)
        let statusFile = fixture.directory.appendingPathComponent("schedule.json")
        let stderr = Pipe()
        let holder = try ScheduleRunCLITests.launch(["schedule", "run", "--status-file", statusFile.path, "--jitter", "0"],
                                                    fixture: fixture, environment: [:], stderr: stderr)
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        let lockFile = fixture.directory.appendingPathComponent("state/vault.db.locks/FIU-ALPHA.lock").path
        let recorded = try await ScheduleRunCLITests.waitFor(60) {
            ((try? String(contentsOfFile: lockFile, encoding: .utf8)) ?? "").contains("operation=schedule-run pid=\(holder.processIdentifier)")
        }
        #expect(recorded, "the schedule run wrote who it is into the lock file: \((try? String(contentsOfFile: lockFile, encoding: .utf8)) ?? "")")
        let rotate = try await fixture.run(["rotate", "FIU-ALPHA", "--force"])
        #expect(rotate.all.contains("skipped"), "\(rotate.all)")
        #expect(rotate.all.contains("held by a schedule run (pid \(holder.processIdentifier), since "), "\(rotate.all)")
        #expect(!rotate.all.contains("held by a sync"), "\(rotate.all)")
        kill(holder.processIdentifier, SIGTERM)
        #expect(await RotateCLITests.wait(holder) == 0)
        _ = stderr
    }

    @Test("a rotation records itself in the lock file as a rotation")
    func rotationNamedAsHolder() async throws {
        let fixture = try await RotateCLITests.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        fixture.simulator.inject(.latency(milliseconds: 8_000), endpoint: .secretReset, count: 1)
        let stderr = Pipe()
        let holder = try RotateCLITests.launch(["rotate", "FIU-ALPHA", "--force"], fixture: fixture, stderr: stderr)
        let lockFile = fixture.directory.appendingPathComponent("state/vault.db.locks/FIU-ALPHA.lock").path
        let recorded = try await ScheduleRunCLITests.waitFor(60) {
            ((try? String(contentsOfFile: lockFile, encoding: .utf8)) ?? "").contains("operation=rotation pid=\(holder.processIdentifier)")
        }
        #expect(recorded)
        let sync = try await fixture.run(["sync", "FIU-ALPHA"])
        #expect(sync.all.contains("held by a rotation (pid \(holder.processIdentifier), since "), "\(sync.all)")
        #expect(await RotateCLITests.wait(holder) == 0)
        _ = stderr
    }
}

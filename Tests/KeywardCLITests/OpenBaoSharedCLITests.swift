import Foundation
import KeywardSimulator
import KeywardTesting
import Testing

/// The `shared:` section end to end on a `bao server -dev` (DESIGN.md, "Beyond one machine"):
/// configuration errors, `openbao:` references, status and plans, a server that is away, and
/// `schedule run` following a publication. The cross-host races run on a raft cluster
/// (SharedStoreClusterTests).
@Suite("shared store on a dev server: configuration, openbao: references, status, plans, a server away, schedule run")
struct OpenBaoSharedCLITests {
    /// Runs `body` with a dev server and two hosts on it (host-b a follower when asked), stopped after.
    static func withHosts(followers: Set<Int> = [], _ body: (OpenBaoDevServer, SharedHosts) async throws -> Void) async throws {
        let server = try await OpenBaoDevServer.start()
        defer { server.stop() }
        let shared = try await SharedHosts.start(addresses: [server.address, server.address], rootToken: server.rootToken, followers: followers)
        defer { Task { await shared.stop() } }
        try await body(server, shared)
    }

    static func config(_ host: SharedHosts.Host) throws -> String {
        try String(contentsOf: host.directory.appendingPathComponent("keyward.yaml"), encoding: .utf8)
    }

    static func write(_ text: String, to host: SharedHosts.Host) throws {
        try text.write(to: host.directory.appendingPathComponent("keyward.yaml"), atomically: true, encoding: .utf8)
    }

    @Test("bad shared: sections exit 2 naming the key and its line, before the vault is unlocked or the server called")
    func badSections() async throws {
        try await Self.withHosts { server, shared in
            let host = shared.hosts[0]
            let good = try Self.config(host)
            let cases: [(String, String, String)] = [
                ("  leaseTTL: 15s\n", "  leaseTTL: 2s\n", "shared.leaseTTL"),
                // The providers' timeout is 5s: a 10s lease leaves no room for the fence.
                ("  leaseTTL: 15s\n", "  leaseTTL: 10s\n", "shared.leaseTTL"),
                ("  leaseTTL: 15s\n", "  leaseTTL: 2h\n", "shared.leaseTTL"),
                ("  mount: secret\n", "  mount: secret\n  colour: blue\n", "shared.colour"),
                ("  address: \(server.address.absoluteString)\n", "  address: http://bao.example.com:8200\n", "shared.address"),
                ("    token: env:BAO_TOKEN\n", "    token: openbao:secret/keyward/token#value\n", "shared.auth.token"),
                ("  prefix: \(shared.prefix)\n", "  prefix: ../escape\n", "shared.prefix"),
                ("    secretExpiryDays: 90\n", "    secretExpiryDays: 90\n    secretSource: elsewhere\n", "entities.FIU-ALPHA.secretSource"),
                ("    timeout: 5s\n", "    timeout: 5s\n    password: openbao:secret/creds\n", "providers.sim.password"),
            ]
            for (from, to, key) in cases {
                #expect(good.contains(from), "the fixture's configuration has \(from)")
                try Self.write(good.replacingOccurrences(of: from, with: to), to: host)
                for command in [["config", "check"], ["sync"], ["rotate", "FIU-ALPHA"]] {
                    let result = try await host.run(command, extra: ["KEYWARD_KEY_FILE": "/nonexistent/key"])
                    #expect(result.status == 2, "\(key) in \(command): \(result.all)")
                    #expect(result.stderr.contains(key), "\(key) named: \(result.stderr)")
                    #expect(result.stderr.contains("line "), "its line: \(result.stderr)")
                    #expect(!result.all.contains(server.rootToken))
                }
            }
            // Without a shared: section, secretSource: shared and openbao: references are refused.
            var plain = good
            if let start = plain.range(of: "shared:\n"), let end = plain.range(of: "providers:\n") {
                plain.removeSubrange(start.lowerBound..<end.lowerBound)
            }
            try Self.write(plain.replacingOccurrences(of: "    secretExpiryDays: 90\n", with: "    secretExpiryDays: 90\n    secretSource: shared\n"), to: host)
            let follower = try await host.run(["config", "check"])
            #expect(follower.status == 2 && follower.stderr.contains("needs a `shared:` section"), "\(follower.all)")
            try Self.write(plain.replacingOccurrences(of: "    timeout: 5s\n", with: "    timeout: 5s\n    password: openbao:secret/creds#password\n"), to: host)
            let reference = try await host.run(["config", "check"])
            #expect(reference.status == 2 && reference.stderr.contains("there is none"), "\(reference.all)")
            try Self.write(good, to: host)
        }
    }

    @Test("an openbao: reference is the provider's password: sync works with no `keyward login`; a missing key exits 2 naming it")
    func openBaoPasswordReference() async throws {
        try await Self.withHosts { server, shared in
            try await server.bao(["kv", "put", "-mount=secret", "creds/uat", "password=\(SharedHosts.password)", "other=x"])
            let host = shared.hosts[0]
            let removed = try await host.run(["vault", "rm", "providers/sim/password"])
            #expect(removed.status == 0, "\(removed.all)")
            let config = try Self.config(host)
            try Self.write(config.replacingOccurrences(of: "    timeout: 5s\n", with: "    timeout: 5s\n    password: openbao:secret/creds/uat#password\n"),
                           to: host)
            let check = try await host.run(["config", "check"])
            #expect(check.status == 0, "\(check.all)")
            let sync = try await host.run(["sync"])
            #expect(sync.status == 0, "\(sync.all)")
            try await shared.expectConverged("password from openbao:", hosts: [0])
            try Self.write(config.replacingOccurrences(of: "    timeout: 5s\n", with: "    timeout: 5s\n    password: openbao:secret/creds/uat#nokey\n"),
                           to: host)
            // A user token is cached in the vault: make the provider log in again.
            #expect(try await host.run(["vault", "rm", "providers/sim/user-token"]).status == 0)
            let missing = try await host.run(["sync"])
            #expect(missing.status == 2, "\(missing.all)")
            #expect(missing.stderr.contains("openbao:secret/creds/uat#nokey") && missing.stderr.contains("no key 'nokey'"), "\(missing.stderr)")
            #expect(LeakScanner.leaks(in: check.all + sync.all + missing.all, of: shared.secrets() + [server.rootToken]).isEmpty)
        }
    }

    @Test("status shows the lease and the publication, JSON adds a shared object; dry runs plan the lease and the publication")
    func statusAndPlans() async throws {
        try await Self.withHosts { _, shared in
            let (a, b) = (shared.hosts[0], shared.hosts[1])
            let plan = try await a.run(["sync", "--dry-run"])
            #expect(plan.status == 0, "\(plan.all)")
            #expect(plan.stdout.contains("publish"), "a first sync would publish: \(plan.stdout)")
            #expect(try await a.run(["sync"]).status == 0)
            #expect(try await b.run(["sync"]).status == 0)
            let status = try await a.run(["status", "FIU-ALPHA"])
            #expect(status.status == 0, "\(status.all)")
            #expect(status.stdout.contains("shared: lease free; published generation 1 at "), "\(status.stdout)")
            #expect(status.stdout.contains("by host-a (pid "), "\(status.stdout)")
            #expect(status.stdout.contains("this host is current"), "\(status.stdout)")

            let rotatePlan = try await a.run(["rotate", "--force", "FIU-ALPHA", "--dry-run", "--output", "json"])
            let actions = try #require(((try JSONSerialization.jsonObject(with: Data(rotatePlan.stdout.utf8)) as? [String: Any])?["plan"] as? [[String: Any]])?
                .compactMap { $0["action"] as? String })
            #expect(Array(actions.prefix(3)) == ["take lease", "reset", "publish"], "\(rotatePlan.all)")

            #expect(try await b.run(["rotate", "--force", "FIU-ALPHA"]).status == 0)
            let behind = try await a.run(["status", "--output", "json", "FIU-ALPHA"])
            let document = try #require(try JSONSerialization.jsonObject(with: Data(behind.stdout.utf8)) as? [String: Any])
            let entity = try #require((document["entities"] as? [[String: Any]])?.first)
            let sharedObject = try #require(entity["shared"] as? [String: Any])
            #expect(sharedObject["publishedGeneration"] as? Int == 2, "\(sharedObject)")
            #expect(sharedObject["behind"] as? Bool == true, "\(sharedObject)")
            #expect((sharedObject["publishedBy"] as? String)?.hasPrefix("host-b (pid ") == true, "\(sharedObject)")
            #expect((entity["warnings"] as? [String])?.contains { $0.contains("behind the shared store's generation 2") } == true, "\(entity)")
            #expect(LeakScanner.leaks(in: plan.all + status.all + rotatePlan.all + behind.all, of: shared.secrets()).isEmpty)
        }
    }

    @Test("a server that is away: rotate exits 1 and resets nothing; status still shows the vault; a follower keeps its secret")
    func serverAway() async throws {
        try await Self.withHosts(followers: [1]) { server, shared in
            let (a, b) = (shared.hosts[0], shared.hosts[1])
            #expect(try await a.run(["sync"]).status == 0)
            #expect(try await b.run(["sync"]).status == 0)
            let kept = try #require(try b.sinkSecret())
            let resets = shared.resets()
            for host in [a, b] {
                try Self.write(try Self.config(host).replacingOccurrences(of: "  timeout: 20s\n", with: "  timeout: 3s\n"), to: host)
            }
            server.stop()
            let rotate = try await a.run(["rotate", "--force", "FIU-ALPHA"])
            #expect(rotate.status == 1, "\(rotate.all)")
            #expect(shared.resets() == resets, "nothing reset while the server is away")
            #expect(rotate.stderr.contains(server.address.absoluteString), "the error names the server: \(rotate.stderr)")
            let status = try await a.run(["status", "FIU-ALPHA"])
            #expect(status.status == 0, "\(status.all)")
            #expect(status.stdout.contains("shared: cannot be read"), "\(status.stdout)")
            let follower = try await b.run(["sync"])
            #expect(follower.status == 1, "\(follower.all)")
            #expect(try b.sinkSecret() == kept)
            let token = try await b.run(["token", "FIU-ALPHA"])
            #expect(token.status == 0, "a valid cached token needs no server: \(token.all)")
            // A leader host's sync still follows the service locally; only the publication fails.
            shared.simulator.setSecret("changed+out/of=band secret", for: "FIU-ALPHA", expiresIn: 90 * 86_400)
            let local = try await a.run(["sync"])
            #expect(local.status == 5, "the publication failed, the sink was written (partial): \(local.all)")
            #expect(try a.sinkSecret() == "changed+out/of=band secret", "the file sink follows the service")
            #expect(try await a.vaultGet("entities/FIU-ALPHA/secret") == "changed+out/of=band secret")
            #expect(LeakScanner.leaks(in: rotate.all + status.all + follower.all + local.all, of: shared.secrets([kept])).isEmpty)
        }
    }

    @Test("schedule run on a follower host picks up a secret the leader host publishes within its next cycle")
    func scheduleFollowsPublication() async throws {
        try await Self.withHosts(followers: [1]) { _, shared in
            let (a, b) = (shared.hosts[0], shared.hosts[1])
            #expect(try await a.run(["sync"]).status == 0)
            let statusFile = b.directory.appendingPathComponent("schedule.json")
            let loop = try b.launch(["schedule", "run", "--status-file", statusFile.path, "--jitter", "0", "--max-sleep", "2s"])
            defer { kill(loop.0.processIdentifier, SIGKILL) }
            let cycles = { ScheduleRunCLITests.status(statusFile)?["cycles"] as? Int ?? 0 }
            #expect(try await ScheduleRunCLITests.waitFor(60) { cycles() >= 1 })
            #expect(try b.sinkSecret() == shared.simulator.currentSecret(for: "FIU-ALPHA"))
            #expect(try await a.run(["rotate", "--force", "FIU-ALPHA"]).status == 0)
            let rotated = try #require(shared.simulator.currentSecret(for: "FIU-ALPHA"))
            let after = cycles()
            #expect(try await ScheduleRunCLITests.waitFor(60) { cycles() >= after + 2 })
            #expect(try b.sinkSecret() == rotated, "the follower's sink holds the published secret")
            loop.0.terminate()
            let finished = await SharedHosts.finish(loop)
            #expect(finished.status == 0, "\(finished.all)")
            #expect(finished.all.contains("following the shared store"), "\(finished.stderr)")
            #expect(LeakScanner.leaks(in: finished.all, of: shared.secrets()).isEmpty)
        }
    }

    @Test("a rotation a taker finished by reading is recorded done on the lease: later rotations on any host reset again")
    func finishedTakeoverDoesNotBlockLaterRotations() async throws {
        try await Self.withHosts { _, shared in
            let (a, b) = (shared.hosts[0], shared.hosts[1])
            #expect(try await a.run(["sync"]).status == 0)
            #expect(try await b.run(["sync"]).status == 0)
            let before = shared.resets()
            let crashed = try await a.run(["rotate", "--force", "FIU-ALPHA"], extra: ["KEYWARD_CRASH_AT": "after-reset-answer"])
            #expect(RotateCLITests.killed.contains(crashed.status), "\(crashed.all)")
            #expect(shared.resets() == before + 1)
            try await Task.sleep(for: .seconds(SharedHosts.leaseSeconds + 1))
            let taken = try await b.run(["rotate", "--force", "FIU-ALPHA"])
            #expect(taken.status == 0 && taken.all.contains("not reset again"), "\(taken.all)")
            #expect(shared.resets() == before + 1)
            // host-a's next command finishes its own interrupted rotation first (by reading).
            let recovered = try await a.run(["sync"])
            #expect(recovered.status == 0, "\(recovered.all)")
            for (host, count) in [(b, 2), (a, 3)] {
                let again = try await host.run(["rotate", "--force", "FIU-ALPHA"])
                #expect(again.status == 0, "\(host.name): \(again.all)")
                #expect(shared.resets() == before + count, "\(host.name)'s forced rotation resets: \(again.all)")
            }
            #expect(try await b.run(["sync"]).status == 0)
            try await shared.expectConverged("after the taken-over rotation and two more")
        }
    }
}

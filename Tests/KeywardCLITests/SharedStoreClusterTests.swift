import Foundation
import KeywardSimulator
import KeywardTesting
import Testing

/// The raft cluster a suite runs against: three `bao server` nodes on loopback, started when
/// the suite starts and stopped when it ends (also when a test fails).
struct OpenBaoClusterTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let cluster = try await OpenBaoRaftCluster.start(nodes: 3)
        defer { cluster.stop() }
        try await ClusterScope.$current.withValue(cluster) { try await function() }
    }
}

extension Trait where Self == OpenBaoClusterTrait {
    /// Runs the suite against a fresh three-node OpenBao raft cluster.
    static var openBaoCluster: Self { Self() }
}

enum ClusterScope {
    @TaskLocal static var current: OpenBaoRaftCluster?

    static var cluster: OpenBaoRaftCluster {
        get throws { try #require(current, "the suite needs the .openBaoCluster trait") }
    }

    /// Two nodes' addresses that are not the leader now (standbys forward to the active node).
    static func standbys(_ cluster: OpenBaoRaftCluster) async throws -> [URL] {
        let leader = try await cluster.leader()
        return cluster.addresses.indices.filter { $0 != leader }.map { cluster.addresses[$0] }
    }
}

/// DESIGN.md, "Beyond one machine", on a real three-node OpenBao raft cluster: two hosts (two
/// working directories, two vaults, two configurations, two host names) share one entity.
/// Runs alone (`make test`'s third invocation): raft elections starve on two busy cores.
@Suite("shared store on a raft cluster: one reset across hosts, takeover by reading, fenced resets, followers",
       .serialized, .openBaoCluster)
struct SharedStoreClusterTests {
    @Test("16 `rotate --force` processes, 8 per host, started together make exactly one reset; both hosts end with the service's secret")
    func sixteenForcedRotations() async throws {
        let cluster = try ClusterScope.cluster
        let nodes = try await ClusterScope.standbys(cluster)
        var shared = try await SharedHosts.start(addresses: [nodes[0], nodes[1]], rootToken: cluster.rootToken)
        defer { Task { [shared] in await shared.stop() } }
        for host in shared.hosts {
            let sync = try await host.run(["sync"])
            #expect(sync.status == 0, "\(host.name): \(sync.all)")
        }
        let old = try #require(shared.simulator.currentSecret(for: "FIU-ALPHA"))
        let before = shared.resets()

        let launched = try (0..<16).map { index in try shared.hosts[index % 2].launch(["rotate", "--force", "FIU-ALPHA"]) }
        var results: [CommandRunner.Result] = []
        for process in launched { results.append(await SharedHosts.finish(process)) }
        #expect(shared.resets() == before + 1, "one reset between 16 processes on two hosts: \(results.map(\.all).joined(separator: "\n---\n"))")
        for result in results {
            #expect([0, 5].contains(result.status), "\(result.all)")
            #expect(LeakScanner.leaks(in: result.all, of: shared.secrets([old])).isEmpty)
        }
        let record = try #require(try await SharedHosts.publication(cluster, prefix: shared.prefix))
        #expect(record["secret"] == shared.simulator.currentSecret(for: "FIU-ALPHA"), "the publication holds the service's secret")
        // A host whose every process found the lease held adopts the publication at its next run.
        for host in shared.hosts {
            let sync = try await host.run(["sync"])
            #expect(sync.status == 0, "\(host.name): \(sync.all)")
        }
        try await shared.expectConverged("after 16 forced rotations")
        #expect(shared.resets() == before + 1)
        shared.hosts.removeAll()
    }

    @Test("the lease holder killed at each rotation step: after leaseTTL the other host finishes by reading, one reset, the dead host agrees",
          arguments: ["before-journal", "after-journal", "before-sent", "after-reset-answer", "after-store", "after-token", "after-publish",
                      "during-sinks"])
    func holderKilledAtEachStep(step: String) async throws {
        let cluster = try ClusterScope.cluster
        let nodes = try await ClusterScope.standbys(cluster)
        let shared = try await SharedHosts.start(addresses: [nodes[0], nodes[1]], rootToken: cluster.rootToken)
        defer { Task { await shared.stop() } }
        let (a, b) = (shared.hosts[0], shared.hosts[1])
        for host in [a, b] { #expect(try await host.run(["sync"]).status == 0) }
        let old = try #require(shared.simulator.currentSecret(for: "FIU-ALPHA"))
        let before = shared.resets()

        let crashed = try await a.run(["rotate", "--force", "FIU-ALPHA"], extra: ["KEYWARD_CRASH_AT": step])
        #expect(RotateCLITests.killed.contains(crashed.status), "\(step): killed by the crash hook: \(crashed.all)")
        let resetByA = shared.resets() - before
        // The other host keeps trying; the lease is held by a dead holder on another host until
        // it expires, then taken over.
        let deadline = Date().addingTimeInterval(SharedHosts.leaseSeconds + 60)
        var finished: CommandRunner.Result?
        while Date() < deadline {
            let attempt = try await b.run(["rotate", "--force", "FIU-ALPHA"])
            #expect(LeakScanner.leaks(in: attempt.all, of: shared.secrets([old])).isEmpty)
            if attempt.status == 0, !attempt.stdout.contains("skipped") {
                finished = attempt
                break
            }
            try await Task.sleep(for: .seconds(2))
        }
        let done = try #require(finished, "\(step): host-b took the rotation over within leaseTTL + 60 s")
        #expect(shared.resets() == before + 1, "\(step): one reset (host-a made \(resetByA)): \(done.all)")
        if resetByA == 1 {
            #expect(done.all.contains("not reset again"), "\(step): host-b finished host-a's rotation by reading: \(done.all)")
        }
        let record = try #require(try await SharedHosts.publication(cluster, prefix: shared.prefix))
        #expect(record["secret"] == shared.simulator.currentSecret(for: "FIU-ALPHA"))
        // The dead host's next run agrees (it finishes or closes its own journal entry first).
        let next = try await a.run(["sync"])
        #expect(next.status == 0, "\(step): \(next.all)")
        try await shared.expectConverged(step)
        #expect(shared.resets() == before + 1)
    }

    @Test("a holder paused before its fenced reset, whose lease is taken over, never resets on resuming and cannot overwrite the publication")
    func pausedHolderNeverResets() async throws {
        let cluster = try ClusterScope.cluster
        let nodes = try await ClusterScope.standbys(cluster)
        let shared = try await SharedHosts.start(addresses: [nodes[0], nodes[1]], rootToken: cluster.rootToken)
        defer { Task { await shared.stop() } }
        let (a, b) = (shared.hosts[0], shared.hosts[1])
        for host in [a, b] { #expect(try await host.run(["sync"]).status == 0) }
        let before = shared.resets()

        let paused = try a.launch(["rotate", "--force", "FIU-ALPHA"], extra: ["KEYWARD_PAUSE_AT": "before-sent"])
        #expect(try await ScheduleRunCLITests.waitFor(30) { SharedHosts.isStopped(paused.0.processIdentifier) }, "host-a paused before its reset")
        try await Task.sleep(for: .seconds(SharedHosts.leaseSeconds + 2))
        let taken = try await b.run(["rotate", "--force", "FIU-ALPHA"])
        #expect(taken.status == 0, "\(taken.all)")
        #expect(shared.resets() == before + 1, "host-b took the expired lease over and reset once")
        let published = try #require(try await SharedHosts.publication(cluster, prefix: shared.prefix))

        kill(paused.0.processIdentifier, SIGCONT)
        let resumed = await SharedHosts.finish(paused)
        #expect(resumed.status == 1, "host-a lost its lease: \(resumed.all)")
        #expect(resumed.stderr.contains("lease"), "it says why: \(resumed.stderr)")
        #expect(shared.resets() == before + 1, "host-a never reset after resuming")
        let after = try #require(try await SharedHosts.publication(cluster, prefix: shared.prefix))
        #expect(after == published, "host-a did not overwrite its successor's publication")
        #expect(after["secret"] == shared.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try await a.run(["sync"]).status == 0)
        try await shared.expectConverged("after the paused holder resumed")
    }

    @Test("a host that read the service before another host's reset and publishes late never replaces the newer publication")
    func latePublisherNeverReplacesNewer() async throws {
        let cluster = try ClusterScope.cluster
        let nodes = try await ClusterScope.standbys(cluster)
        let shared = try await SharedHosts.start(addresses: [nodes[0], nodes[1]], rootToken: cluster.rootToken)
        defer { Task { await shared.stop() } }
        let (a, b) = (shared.hosts[0], shared.hosts[1])
        #expect(try await b.run(["sync"]).status == 0)
        // host-a reads the service, then stops right before it would publish.
        let slow = try a.launch(["sync"], extra: ["KEYWARD_PAUSE_AT": "before-publish"])
        #expect(try await ScheduleRunCLITests.waitFor(30) { SharedHosts.isStopped(slow.0.processIdentifier) }, "host-a paused before publishing")
        let rotated = try await b.run(["rotate", "--force", "FIU-ALPHA"])
        #expect(rotated.status == 0, "\(rotated.all)")
        let newer = try #require(try await SharedHosts.publication(cluster, prefix: shared.prefix))
        #expect(newer["secret"] == shared.simulator.currentSecret(for: "FIU-ALPHA"))

        kill(slow.0.processIdentifier, SIGCONT)
        let late = await SharedHosts.finish(slow)
        #expect(late.status == 0, "\(late.all)")
        let after = try #require(try await SharedHosts.publication(cluster, prefix: shared.prefix))
        #expect(after == newer, "the late host published nothing over the newer secret")
        #expect(try await a.run(["sync"]).status == 0)
        try await shared.expectConverged("after the late publisher")
    }

    @Test("a follower host (secretSource: shared, no username, no password) syncs, mints and writes its sinks; it follows a rotation and never resets")
    func followerHost() async throws {
        let cluster = try ClusterScope.cluster
        let nodes = try await ClusterScope.standbys(cluster)
        let shared = try await SharedHosts.start(addresses: [nodes[0], nodes[1]], rootToken: cluster.rootToken, followers: [1])
        defer { Task { await shared.stop() } }
        let (leader, follower) = (shared.hosts[0], shared.hosts[1])
        let early = try await follower.run(["sync"])
        #expect(early.status == 1, "nothing published yet: \(early.all)")
        #expect(early.stderr.contains("no published secret"), "\(early.stderr)")

        #expect(try await leader.run(["sync"]).status == 0)
        let first = try await follower.run(["sync"])
        #expect(first.status == 0, "\(first.all)")
        try await shared.expectConverged("follower after the leader's first sync")
        #expect(try await follower.vaultGet("entities/FIU-ALPHA/token").isEmpty == false, "the follower minted its own token")

        let refused = try await follower.run(["rotate", "FIU-ALPHA"])
        #expect(refused.status == 2, "\(refused.all)")
        #expect(refused.stderr.contains("follows the shared store"))
        let all = try await follower.run(["rotate", "--all", "--force"])
        #expect(all.status == 0, "\(all.all)")
        #expect(all.all.contains("never reset here"), "\(all.all)")

        let resets = shared.resets()
        let rotated = try await leader.run(["rotate", "--force", "FIU-ALPHA"])
        #expect(rotated.status == 0, "\(rotated.all)")
        #expect(shared.resets() == resets + 1)
        let followed = try await follower.run(["sync"])
        #expect(followed.status == 0, "\(followed.all)")
        try await shared.expectConverged("follower after the leader's rotation")
        #expect(shared.resets() == resets + 1, "the follower never resets")

        // A token minted with a dead secret is refused (401): the follower reads the record
        // again, consistently, and mints with the published secret.
        #expect(try await leader.run(["rotate", "--force", "FIU-ALPHA"]).status == 0)
        let clock = ScheduleRunCLITests.moveClocks(simulator: shared.simulator, bySeconds: 25 * 3_600)
        let token = try await follower.run(["token", "FIU-ALPHA"], extra: clock)
        #expect(token.status == 0, "\(token.all)")
        #expect(try await follower.vaultGet("entities/FIU-ALPHA/secret") == shared.simulator.currentSecret(for: "FIU-ALPHA"))
        let status = try await follower.run(["status", "FIU-ALPHA"], extra: clock)
        #expect(status.stdout.contains("shared: follows the publication"), "\(status.all)")
        #expect(LeakScanner.leaks(in: [early, first, refused, all, rotated, followed, token, status].map(\.all).joined(), of: shared.secrets()).isEmpty)
    }
}

/// DESIGN.md, "Reads are consistent" and "When the server is away", on a cluster whose leader
/// is killed: a suite of its own, since it leaves the cluster with one node fewer.
@Suite("shared store on a raft cluster whose leader dies", .serialized, .openBaoCluster)
struct SharedStoreLeaderLossClusterTests {
    @Test("the raft leader killed during a rotation: one reset, nothing lost; a follower host whose server is gone exits 1 and keeps its secret")
    func leaderKilledDuringRotation() async throws {
        let cluster = try ClusterScope.cluster
        let leader = try await cluster.leader()
        let standbys = cluster.addresses.indices.filter { $0 != leader }
        // host-a and host-b talk to standbys; host-c, a follower, to the leader, which dies.
        let shared = try await SharedHosts.start(addresses: [cluster.addresses[standbys[0]], cluster.addresses[standbys[1]],
                                                             cluster.addresses[leader]], rootToken: cluster.rootToken, followers: [2])
        defer { Task { await shared.stop() } }
        let (a, b, c) = (shared.hosts[0], shared.hosts[1], shared.hosts[2])
        #expect(try await a.run(["sync"]).status == 0)
        #expect(try await b.run(["sync"]).status == 0)
        #expect(try await c.run(["sync"]).status == 0)
        let kept = try #require(try c.sinkSecret())
        let before = shared.resets()

        let paused = try a.launch(["rotate", "--force", "FIU-ALPHA"], extra: ["KEYWARD_PAUSE_AT": "before-sent"])
        #expect(try await ScheduleRunCLITests.waitFor(30) { SharedHosts.isStopped(paused.0.processIdentifier) })
        cluster.kill(node: leader)
        kill(paused.0.processIdentifier, SIGCONT)
        let rotation = await SharedHosts.finish(paused)
        if rotation.status != 0 {
            // Not finished within its timeout during the election: the next run finishes it.
            let next = try await a.run(["rotate", "FIU-ALPHA"])
            #expect([0, 1].contains(next.status), "\(next.all)")
        }
        #expect(shared.resets() <= before + 1, "never a second reset: \(rotation.all)")
        for host in [a, b] {
            let sync = try await host.run(["sync"])
            #expect(sync.status == 0, "\(host.name): \(sync.all)")
        }
        try await shared.expectConverged("after the leader died", hosts: [0, 1])
        #expect(shared.resets() <= before + 1)

        let away = try await c.run(["sync"])
        #expect(away.status == 1, "the follower's server is gone: \(away.all)")
        #expect(try c.sinkSecret() == kept, "the follower keeps its last good secret")
        #expect(try await c.vaultGet("entities/FIU-ALPHA/secret") == kept)
        #expect(LeakScanner.leaks(in: rotation.all + away.all, of: shared.secrets([kept])).isEmpty)
    }
}

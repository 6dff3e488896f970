import Foundation
import KeywardCore
import KeywardOpenBao
import KeywardTesting
import Logging
import Testing

/// The three-node raft cluster a suite runs against: started once for the suite, stopped at its
/// end. Suites using it end in `ClusterTests`: `make test` runs them alone (raft elections starve
/// on two busy cores).
struct OpenBaoRaftClusterTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let cluster = try await OpenBaoRaftCluster.start(nodes: 3)
        defer { cluster.stop() }
        try await OpenBaoRaft.$current.withValue(cluster) {
            try await function()
        }
    }
}

extension Trait where Self == OpenBaoRaftClusterTrait {
    /// Runs the suite against a fresh three-node raft cluster.
    static var openBaoRaftCluster: Self { Self() }
}

enum OpenBaoRaft {
    @TaskLocal static var current: OpenBaoRaftCluster?

    static var cluster: OpenBaoRaftCluster {
        get throws { try #require(current, "the suite needs the .openBaoRaftCluster trait") }
    }

    /// A client of one node, as root.
    static func client(_ cluster: OpenBaoRaftCluster, node: Int, timeout: Duration) throws -> OpenBaoClient {
        let settings = OpenBaoServerSettings(address: cluster.addresses[node], auth: .token(.environment("TEST_BAO_TOKEN")), timeout: timeout)
        return try OpenBaoClient(settings: settings, credentials: CredentialResolver(environment: ["TEST_BAO_TOKEN": cluster.rootToken], store: nil),
                                 logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }
}

@Suite("OpenBao client on a three-node raft cluster: standby forwarding, leader loss, sealed and dead nodes",
       .openBaoRaftCluster, .serialized)
struct OpenBaoClientClusterTests {
    let context = OperationContext()

    @Test("a write through a standby reaches the leader, and a consistent read from the other standby sees it at once")
    func writeThroughStandby() async throws {
        let cluster = try OpenBaoRaft.cluster
        let leader = try await cluster.leader()
        let standbys = cluster.addresses.indices.filter { $0 != leader }
        let writer = try OpenBaoRaft.client(cluster, node: standbys[0], timeout: .seconds(30))
        let reader = try OpenBaoRaft.client(cluster, node: standbys[1], timeout: .seconds(30))
        let path = "cluster/standby-\(UUID().uuidString.prefix(8))"
        for version in UInt64(1)...5 {
            let value = SecretValue(utf8: "value-\(version)-\(UUID().uuidString)")
            let written = try await writer.write(mount: "secret", path: path, data: ["k": value], cas: version - 1, context: context)
            #expect(written.version == version)
            let entry = try #require(try await reader.read(mount: "secret", path: path, consistent: true, context: context))
            #expect(entry.version == version)
            #expect(entry.data["k"] == value)
        }
        try await reader.checkKVv2Mount("secret", context: context)
    }

    @Test("with the leader killed, a client of a surviving node completes its consistent read and its write within its timeout once a new leader is elected")
    func leaderKilled() async throws {
        let cluster = try OpenBaoRaft.cluster
        let leader = try await cluster.leader()
        let survivor = cluster.addresses.indices.first { $0 != leader }!
        let client = try OpenBaoRaft.client(cluster, node: survivor, timeout: .seconds(60))
        let path = "cluster/failover-\(UUID().uuidString.prefix(8))"
        _ = try await client.write(mount: "secret", path: path, data: ["k": SecretValue(utf8: "before")], cas: 0, context: context)
        // A consistent read: the client now sends those to the leader's own address.
        #expect(try await client.read(mount: "secret", path: path, consistent: true, context: context)?.version == 1)

        cluster.kill(node: leader)
        let started = ContinuousClock.now
        // The dead leader's address fails: the read continues at the survivor through the election.
        let before = try #require(try await client.read(mount: "secret", path: path, consistent: true, context: context))
        #expect(before.data["k"]?.revealUTF8() == "before")
        let written = try await client.write(mount: "secret", path: path, data: ["k": SecretValue(utf8: "after")], cas: 1, context: context)
        let took = ContinuousClock.now - started
        #expect(written.version == 2)
        let newLeader = try await cluster.leader()
        #expect(newLeader != leader)
        let entry = try #require(try await client.read(mount: "secret", path: path, consistent: true, context: context))
        #expect(entry.data["k"]?.revealUTF8() == "after")
        print("leader \(leader) killed: read + write through node \(survivor) took \(took) (new leader \(newLeader))")

        try await cluster.restart(node: leader)
    }

    @Test("a client whose only node is sealed fails as sealed, and one whose only node is dead as unreachable, once its timeout is spent")
    func sealedAndDead() async throws {
        let cluster = try OpenBaoRaft.cluster
        let leader = try await cluster.leader()
        let node = cluster.addresses.indices.first { $0 != leader }!
        let timeout = Duration.seconds(3)
        let client = try OpenBaoRaft.client(cluster, node: node, timeout: timeout)

        cluster.kill(node: node)
        var started = ContinuousClock.now
        let dead = await #expect(throws: OpenBaoError.self) {
            try await client.read(mount: "secret", path: "cluster/any", consistent: true, context: context)
        }
        let deadTook = ContinuousClock.now - started
        #expect(dead?.kind == .unreachable)
        #expect(dead?.category == .operationFailed)
        #expect(deadTook >= timeout)

        try await cluster.restart(node: node, unseal: false)
        started = ContinuousClock.now
        let sealed = await #expect(throws: OpenBaoError.self) {
            try await client.write(mount: "secret", path: "cluster/any", data: ["k": SecretValue(utf8: "never-written-1234")], cas: nil,
                                   context: context)
        }
        let sealedTook = ContinuousClock.now - started
        #expect(sealed?.kind == .sealed)
        #expect(sealed?.status == 503)
        #expect(sealedTook >= timeout)
        #expect(sealed.map { LeakScanner.leaks(in: $0.description, of: ["never-written-1234", cluster.rootToken]) } == [])
        print("timeout \(timeout): dead node failed after \(deadTook), sealed node after \(sealedTook)")

        try await cluster.unseal(node)
    }
}

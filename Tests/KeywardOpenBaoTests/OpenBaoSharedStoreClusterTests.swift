import Foundation
import KeywardCore
import KeywardOpenBao
import KeywardTesting
import Logging
import Testing

/// The shared store on a three-node raft cluster, two "hosts" talking to different nodes (the
/// leader and a standby). OpenBao's standbys answer reads from their own replica, so the
/// client sends consistent reads to the active node: the standby host sees the leader host's
/// lease and publication writes at once (DESIGN.md, "Reads are consistent"), and check-and-set
/// keeps a stale `replacing` from overwriting a newer publication. Its name ends in
/// `ClusterTests`: `make test` runs it alone.
@Suite("OpenBao shared store on a three-node raft cluster: a host on a standby sees the leader host's writes at once and never overwrites a newer publication",
       .serialized)
struct OpenBaoSharedStoreClusterTests {
    static let context = OperationContext(operation: "rotation")

    @Test("ten rounds: the standby host is answered held while the leader host holds, granted right after its release with its progress and a higher token; each publication read back at once; a stale replacing conflicts")
    func leaseAndPublicationAcrossNodes() async throws {
        let cluster = try await OpenBaoRaftCluster.start()
        defer { cluster.stop() }
        let leader = try await cluster.leader()
        let standby = try #require((0..<cluster.addresses.count).first { $0 != leader })
        let prefix = "keyward-cluster/" + UUID().uuidString.lowercased()
        // A freshly enabled kv-v2 mount answers 400 "Waiting for the primary to upgrade from
        // non-versioned to versioned data" for a moment: wait until a write goes through.
        let probe = try client(cluster, node: standby)
        var writable = false
        for _ in 0..<300 where !writable {
            writable = (try? await probe.write(mount: "secret", path: prefix + "/probe", data: [:], cas: nil, context: Self.context)) != nil
            if !writable { try await Task.sleep(for: .milliseconds(200)) }
        }
        try #require(writable, "the cluster's secret/ mount never accepted a write")
        let onLeader = try store(cluster, node: leader, host: "host-a", prefix: prefix)
        let onStandby = try store(cluster, node: standby, host: "host-b", prefix: prefix)

        var published: SecretPublication?
        var previous: SecretPublication?
        for round in 0..<10 {
            let entity = try #require(EntityID("FIU-CLUSTER-\(round % 3)"))
            guard case .granted(let lease) = try await onLeader.acquire(entity, context: Self.context) else {
                Issue.record("round \(round): the leader host was answered held")
                return
            }
            try await lease.advance(to: .pending, txnId: nil, secretHash: "hash-\(round)")
            guard case .held(let holder) = try await onStandby.acquire(entity, context: Self.context) else {
                Issue.record("round \(round): the standby host was granted a lease the leader host holds")
                return
            }
            #expect(holder.hasPrefix("host-a (pid \(getpid()), rotation, lease until "), "\(holder)")
            await lease.release()
            let answer = try await onStandby.acquire(entity, context: Self.context)
            guard case .granted(let next) = answer else {
                Issue.record("round \(round): the standby host was answered \(answer) right after the release")
                return
            }
            #expect(next.fencingToken > lease.fencingToken)
            #expect(next.inherited == RotationProgress(state: .pending, secretHash: "hash-\(round)"))
            await next.release()

            let secret = SecretRecord(value: SecretValue(utf8: "secret-\(round)"), createdAt: Date(), source: "test")
            previous = published
            published = try await onLeader.publish("FIU-CLUSTER-PUB", secret: secret, fingerprint: "fp\(round)", txnId: "txn-\(round)",
                                                   replacing: published, context: Self.context)
            let read = try #require(try await onStandby.publication(of: "FIU-CLUSTER-PUB", context: Self.context))
            #expect(read.generation == UInt64(round + 1))
            #expect(read.secret == secret.value)
            #expect(read.version == published?.version)
            do {
                _ = try await onStandby.publish("FIU-CLUSTER-PUB", secret: SecretRecord(value: SecretValue(utf8: "stale"), createdAt: Date(), source: "test"),
                                                fingerprint: "stale", txnId: nil, replacing: previous, context: Self.context)
                Issue.record("round \(round): a publication replacing a stale record overwrote the newer one")
            } catch let error as OpenBaoError {
                #expect(error.kind == .casConflict)
            }
        }
    }

    private func store(_ cluster: OpenBaoRaftCluster, node: Int, host: String, prefix: String) throws -> OpenBaoSharedStore {
        let client = try client(cluster, node: node)
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        return OpenBaoSharedStore(settings: SharedStoreSettings(server: client.settings, mount: "secret", prefix: prefix, leaseTTL: .seconds(30)),
                                  client: client, local: InMemoryRotationCoordinator(), resetMargin: .zero, logger: logger, hostName: host,
                                  processID: getpid())
    }

    private func client(_ cluster: OpenBaoRaftCluster, node: Int) throws -> OpenBaoClient {
        let server = OpenBaoServerSettings(address: cluster.addresses[node], auth: .token(.environment("TEST_BAO_TOKEN")), timeout: .seconds(30))
        return try OpenBaoClient(settings: server, credentials: CredentialResolver(environment: ["TEST_BAO_TOKEN": cluster.rootToken], store: nil),
                                 logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }
}

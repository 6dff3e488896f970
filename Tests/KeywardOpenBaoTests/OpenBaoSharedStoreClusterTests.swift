import Foundation
import KeywardCore
import KeywardOpenBao
import KeywardTesting
import Logging
import Testing

/// The shared store on a three-node raft cluster, two "hosts" talking to different nodes (the
/// leader and a standby). OpenBao's standbys answer reads themselves (`disable_standby_reads`
/// is false by default) and this OpenBao ignores `X-Vault-Inconsistent`, so a read on a standby
/// can be a moment old: these tests check what check-and-set guarantees whatever a read said
/// (a held lease is never taken, a stale publication never replaces a newer one), and that the
/// standby host catches up. Its name ends in `ClusterTests`: `make test` runs it alone.
@Suite("OpenBao shared store on a three-node raft cluster: a host on a standby never takes a held lease nor overwrites a newer publication",
       .serialized)
struct OpenBaoSharedStoreClusterTests {
    static let context = OperationContext(operation: "rotation")

    @Test("ten rounds: the standby host is answered held while the leader host holds, then granted after its release with its progress and a higher token; publications read back and a stale replacing conflicts")
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
            #expect(holder.hasPrefix("host-") || holder == "another host", "\(holder)")
            await lease.release()
            let next = try await eventually("round \(round): the standby host granted after the release") { () -> (any RotationLease)? in
                if case .granted(let next) = try await onStandby.acquire(entity, context: Self.context) { next } else { nil }
            }
            #expect(next.fencingToken > lease.fencingToken)
            #expect(next.inherited == RotationProgress(state: .pending, secretHash: "hash-\(round)"))
            await next.release()

            let secret = SecretRecord(value: SecretValue(utf8: "secret-\(round)"), createdAt: Date(), source: "test")
            previous = published
            published = try await onLeader.publish("FIU-CLUSTER-PUB", secret: secret, fingerprint: "fp\(round)", txnId: "txn-\(round)",
                                                   replacing: published, context: Self.context)
            let read = try await eventually("round \(round): the standby host reads generation \(round + 1)") {
                try await onStandby.publication(of: "FIU-CLUSTER-PUB", context: Self.context).flatMap { $0.generation == UInt64(round + 1) ? $0 : nil }
            }
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

    /// `attempt` until it returns a value, 200 ms apart (a standby catches up within moments).
    private func eventually<T>(_ what: String, _ attempt: () async throws -> T?) async throws -> T {
        for _ in 0..<150 {
            if let value = try await attempt() { return value }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw KeywardError.operationFailed("never: \(what)")
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

import Foundation
import KeywardCore
import KeywardOpenBao
import KeywardTesting
import Logging
import Testing

/// The shared store on a real OpenBao dev server (DESIGN.md, "Beyond one machine": Lease,
/// Fencing the reset, Publication). Two "hosts" are two store instances with their own host
/// name and their own local coordinator, sharing one server.
@Suite("OpenBao shared store: leases and publication on a dev server", .serialized, .openBaoDevServer)
struct OpenBaoSharedStoreTests {
    static let context = OperationContext(operation: "rotation")

    @Test("the store passes the coordinator conformance suite")
    func conforms() async throws {
        try await withServer { server in
            let store = try server.store(host: "host-a")
            let failures = await RotationCoordinatorConformance.run(store)
            #expect(failures == [], "\(failures)")
        }
    }

    @Test("a second host is answered held, naming the first host, its pid, its operation and the lease's end")
    func secondHostIsHeld() async throws {
        try await withServer { server in
            let first = try server.store(host: "host-a")
            let second = try server.store(host: "host-b")
            let lease = try await granted(first.acquire("FIU-HELD", context: OperationContext(operation: "sync")))
            let answer = try await second.acquire("FIU-HELD", context: Self.context)
            guard case .held(let holder) = answer else {
                Issue.record("the second host was granted a held lease")
                return
            }
            #expect(holder.hasPrefix("host-a (pid \(getpid()), sync, lease until 20"), "\(holder)")
            #expect(holder.hasSuffix("Z)"), "\(holder)")
            await lease.release()
            let next = try await granted(second.acquire("FIU-HELD", context: Self.context))
            #expect(next.fencingToken > lease.fencingToken)
            await next.release()
        }
    }

    @Test("after leaseTTL without renewal another host takes over with a higher token, inherits the progress, and the first holder's advance throws")
    func takeoverAfterExpiry() async throws {
        try await withServer { server in
            let first = try server.store(host: "host-a")
            let second = try server.store(host: "host-b")
            let lease = try await granted(first.acquire("FIU-TAKEOVER", context: Self.context))
            try await lease.advance(to: .pending, txnId: nil, secretHash: "hash-start")
            try await lease.advance(to: .sent, txnId: "txn-1", secretHash: "hash-start")
            try #require(lease as? OpenBaoRotationLease).stopRenewing()

            let taken = try await waitForGrant(second, "FIU-TAKEOVER")
            #expect(taken.fencingToken > lease.fencingToken)
            #expect(taken.inherited == RotationProgress(state: .sent, txnId: "txn-1", secretHash: "hash-start"))
            await #expect(throws: KeywardError.self) { try await lease.advance(to: .stored, txnId: "txn-1", secretHash: "hash-start") }
            do {
                try await lease.advance(to: .stored, txnId: "txn-1", secretHash: "hash-start")
            } catch {
                #expect("\(error)".contains("FIU-TAKEOVER") && "\(error)".contains("host-b"), "\(error)")
            }
            await lease.release()
            let status = try #require(try await second.leaseStatus(of: "FIU-TAKEOVER", context: Self.context))
            #expect(status.holder == "host-b (pid \(getpid()))")
            #expect(status.released == false)
            #expect(status.fencingToken >= taken.fencingToken)
            await taken.release()
            #expect(try await second.leaseStatus(of: "FIU-TAKEOVER", context: Self.context)?.released == true)
        }
    }

    @Test("hosts racing for a free lease: exactly one is granted, each other is answered held naming a host")
    func raceForTheLease() async throws {
        try await withServer { server in
            let stores = try (0..<4).map { try server.store(host: "host-\($0)") }
            let answers = try await withThrowingTaskGroup(of: RotationGrant.self) { group in
                for store in stores { group.addTask { try await store.acquire("FIU-RACE", context: Self.context) } }
                return try await group.reduce(into: [RotationGrant]()) { $0.append($1) }
            }
            let leases = answers.compactMap { if case .granted(let lease) = $0 { lease } else { nil } }
            let holders = answers.compactMap { if case .held(let holder) = $0 { holder } else { nil } }
            #expect(leases.count == 1)
            #expect(holders.count == 3)
            #expect(holders.allSatisfy { $0.hasPrefix("host-") }, "\(holders)")
            for lease in leases { await lease.release() }
        }
    }

    @Test("a renewed lease outlives leaseTTL")
    func renewalKeepsTheLease() async throws {
        try await withServer { server in
            let first = try server.store(host: "host-a")
            let second = try server.store(host: "host-b")
            let lease = try await granted(first.acquire("FIU-RENEW", context: Self.context))
            try await Task.sleep(for: .seconds(8))
            guard case .held = try await second.acquire("FIU-RENEW", context: Self.context) else {
                Issue.record("the renewed lease was taken over after leaseTTL")
                return
            }
            #expect(try #require(lease as? OpenBaoRotationLease).version > lease.fencingToken)
            await lease.release()
        }
    }

    @Test("a lease record of this host naming a process that is gone is reclaimed at once; another host's is not")
    func sameHostReclaim() async throws {
        try await withServer { server in
            let dead = try Self.deadPID()
            let client = try server.client()
            let record: [String: String] = ["host": "host-a", "pid": "\(dead)", "holderId": "0123", "operation": "rotation",
                                            "since": "2026-12-07T03:00:00Z", "ttlSeconds": "3600", "released": "false",
                                            "state": "sent", "txnId": "txn-dead", "secretHash": "hash-dead"]
            let written = try await client.write(mount: "secret", path: server.prefix + "/leases/FIU-RECLAIM",
                                                 data: record.mapValues { SecretValue(utf8: $0) }, cas: 0, context: Self.context)
            let other = try server.store(host: "host-b")
            guard case .held(let holder) = try await other.acquire("FIU-RECLAIM", context: Self.context) else {
                Issue.record("another host took a live-looking lease of host-a")
                return
            }
            #expect(holder.hasPrefix("host-a (pid \(dead), rotation, lease until "), "\(holder)")
            let same = try server.store(host: "host-a")
            let lease = try await granted(same.acquire("FIU-RECLAIM", context: Self.context))
            #expect(lease.fencingToken == written.version + 1)
            #expect(lease.inherited == RotationProgress(state: .sent, txnId: "txn-dead", secretHash: "hash-dead"))
            await lease.release()
        }
    }

    @Test("advancing to sent throws when the reset margin is not less than leaseTTL, and succeeds with a small margin")
    func sentIsFenced() async throws {
        try await withServer { server in
            let tight = try server.store(host: "host-a", resetMargin: .seconds(5))
            let lease = try await granted(tight.acquire("FIU-FENCE", context: Self.context))
            try await lease.advance(to: .pending, txnId: nil, secretHash: "h")
            await #expect(throws: KeywardError.self) { try await lease.advance(to: .sent, txnId: nil, secretHash: "h") }
            await lease.release()

            let loose = try server.store(host: "host-a", resetMargin: .zero)
            let next = try await granted(loose.acquire("FIU-FENCE", context: Self.context))
            try await next.advance(to: .sent, txnId: nil, secretHash: "h")
            await next.release()
        }
    }

    @Test("publication: absent, then generation 1 and 2 read back; a stale replacing record is a CAS conflict; managed-by is merged")
    func publicationRoundTrip() async throws {
        try await withServer { server in
            let store = try server.store(host: "host-a")
            #expect(try await store.publication(of: "FIU-PUB", context: Self.context) == nil)
            let expires = Date(timeIntervalSince1970: 1_800_000_000.25)
            let secret = SecretRecord(value: SecretValue(utf8: "first \"secret\"\n\u{00e9}"), createdAt: Date(), expiresAt: expires, source: "test")
            let first = try await store.publish("FIU-PUB", secret: secret, fingerprint: "fp000001", txnId: "txn-1", replacing: nil, context: Self.context)
            #expect(first.generation == 1)
            let read = try #require(try await store.publication(of: "FIU-PUB", context: Self.context))
            #expect(read.secret == secret.value)
            #expect(read.secretExpiresAt == expires)
            #expect(read.generation == 1)
            #expect(read.txnId == "txn-1")
            #expect(read.fingerprint == "fp000001")
            #expect(read.updatedBy == "host-a (pid \(getpid()))")
            #expect(read.version == first.version)
            let metadata = try #require(try await server.client().metadata(mount: "secret", path: server.prefix + "/entities/FIU-PUB", context: Self.context))
            #expect(metadata.customMetadata["managed-by"] == "keyward")

            let newer = SecretRecord(value: SecretValue(utf8: "second"), createdAt: Date(), source: "test")
            let second = try await store.publish("FIU-PUB", secret: newer, fingerprint: "fp000002", txnId: nil, replacing: read, context: Self.context)
            #expect(second.generation == 2)
            let reread = try #require(try await store.publication(of: "FIU-PUB", context: Self.context))
            #expect(reread.secret == newer.value)
            #expect(reread.generation == 2)
            #expect(reread.secretExpiresAt == nil)
            #expect(reread.txnId == nil)

            await #expect(throws: OpenBaoError.self) {
                _ = try await store.publish("FIU-PUB", secret: secret, fingerprint: "fp000001", txnId: "txn-1", replacing: read, context: Self.context)
            }
            do {
                _ = try await store.publish("FIU-PUB", secret: secret, fingerprint: "fp000001", txnId: nil, replacing: nil, context: Self.context)
                Issue.record("a publication replacing nothing overwrote an existing record")
            } catch let error as OpenBaoError {
                #expect(error.kind == .casConflict)
                #expect(!"\(error)".contains("first"), "\(error)")
            }
        }
    }

    @Test("digest is SHA-256, lowercase hex")
    func digest() async throws {
        try await withServer { server in
            let store = try server.store(host: "host-a")
            #expect(store.digest(SecretValue(utf8: "abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
            #expect(store.location == "openbao \(server.address.absoluteString) secret/\(server.prefix)")
            try await store.checkReady(context: Self.context)
        }
    }

    // MARK: Helpers

    private func granted(_ grant: RotationGrant) throws -> any RotationLease {
        guard case .granted(let lease) = grant else {
            throw KeywardError.operationFailed("expected a granted lease, got \(grant)")
        }
        return lease
    }

    /// Asks for the lease once a second until granted (a lease expires after leaseTTL, 5 s).
    private func waitForGrant(_ store: OpenBaoSharedStore, _ entity: EntityID) async throws -> any RotationLease {
        for _ in 0..<120 {
            if case .granted(let lease) = try await store.acquire(entity, context: Self.context) { return lease }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw KeywardError.operationFailed("the expired lease of \(entity) was never taken over")
    }

    /// The pid of a process that has exited and been reaped.
    static func deadPID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exit 0"]
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }
}

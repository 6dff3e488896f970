import Foundation
import KeywardCore
import KeywardTesting
import KeywardVault
import Testing

/// The vault's file-lock coordinator against KeywardTesting's coordinator conformance suite,
/// and the engine driven through the seam by the in-memory fake (issue 13, items 2 and 5).
@Suite("rotation coordinator: the file lock conforms, the engine only asks the seam", .serialized)
struct RotationCoordinatorTests {
    @Test("the file-lock coordinator passes the coordinator conformance suite")
    func fileLockConforms() async throws {
        let box = try Sandbox()
        let failures = await RotationCoordinatorConformance.run(FileRotationCoordinator(directory: box.root + "/vault.db.locks"))
        #expect(failures == [], "\(failures)")
    }

    @Test("the vault's own coordinator (its lock directory) passes the suite, and locks beside the vault")
    func vaultConforms() async throws {
        let box = try Sandbox()
        let (vault, _) = try box.makeVault()
        let failures = await RotationCoordinatorConformance.run(vault)
        #expect(failures == [], "\(failures)")
        #expect(FileManager.default.fileExists(atPath: box.vaultPath + ".locks/CONFORMANCE-ADVANCE-IS-INHERITED.lock"))
    }

    @Test("a holder killed mid-rotation leaves its progress in the lock file for the next holder")
    func progressSurvivesTheHolder() async throws {
        let box = try Sandbox()
        let coordinator = FileRotationCoordinator(directory: box.root + "/locks")
        let entity = EntityID("FIU-ALPHA")
        guard case .granted(let first) = try await coordinator.acquire(entity, context: OperationContext(operation: "rotation")) else {
            Issue.record("a free entity was answered held")
            return
        }
        try await first.advance(to: .sent, txnId: "txn-1", secretHash: "abcd0123")
        let line = try String(contentsOfFile: box.root + "/locks/FIU-ALPHA.lock", encoding: .utf8)
        #expect(line.hasPrefix("operation=rotation pid=\(getpid()) since="), "\(line)")
        #expect(line.hasSuffix(" state=sent txn=txn-1 hash=abcd0123\n"), "\(line)")
        guard case .held(let holder) = try await coordinator.acquire(entity, context: OperationContext(operation: "sync")) else {
            Issue.record("a held entity was granted")
            return
        }
        #expect(holder.hasPrefix("a rotation (pid \(getpid()), since "), "\(holder)")
        await first.release()
        #expect(try String(contentsOfFile: box.root + "/locks/FIU-ALPHA.lock", encoding: .utf8) == "state=sent txn=txn-1 hash=abcd0123\n")
        guard case .granted(let second) = try await coordinator.acquire(entity, context: OperationContext(operation: "recovery")) else {
            Issue.record("a released entity was answered held")
            return
        }
        #expect(second.inherited == RotationProgress(state: .sent, txnId: "txn-1", secretHash: "abcd0123"))
        #expect(second.fencingToken == 0)
        await second.release()
    }

    // MARK: The engine through the seam

    /// A provider whose secret a reset replaces, counting resets.
    final class FakeRotator: SecretRotator, @unchecked Sendable {
        let name = "fake"
        private let lock = NSLock()
        private var current = 1
        private(set) var resets = 0

        func readSecret(for entity: EntityID, context: OperationContext) async throws -> ProvidedSecret {
            lock.withLock { Self.secret(current, now: context.clock.now) }
        }

        func resetSecret(for entity: EntityID, validityDays: Int?, context: OperationContext) async throws -> ProvidedSecret {
            lock.withLock {
                current += 1
                resets += 1
                return Self.secret(current, now: context.clock.now)
            }
        }

        static func secret(_ generation: Int, now: Date) -> ProvidedSecret {
            ProvidedSecret(record: SecretRecord(value: SecretValue(utf8: "fake-secret-\(generation)"), createdAt: now,
                                                expiresAt: now.addingTimeInterval(90 * 86_400), source: "fake", txnId: "txn-\(generation)"))
        }
    }

    static func dispatcher(_ box: Sandbox, rotator: FakeRotator, coordinator: InMemoryRotationCoordinator) async throws -> Dispatcher {
        var registry = PluginRegistry()
        registry.registerProvider(type: "fake-rotator") { _, _ in rotator }
        let config = box.root + "/keyward.yaml"
        try """
            version: 1
            providers:
              fake:
                type: fake-rotator
                baseURL: http://127.0.0.1:9/iam/v1
                username: ops@example.com
            entities:
              FIU-ALPHA: {}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let configuration = try ConfigurationLoader(registry: registry, environment: [:]).load(path: config)
        let (vault, _) = try box.makeVault()
        return Dispatcher(configuration: configuration, registry: registry, vault: vault, environment: [:]).with(vault: vault, coordinator: coordinator)
    }

    @Test("a fake coordinator sees the rotation advance pending, sent, stored, done, then the release")
    func advancesInOrder() async throws {
        let box = try Sandbox()
        let rotator = FakeRotator()
        let coordinator = InMemoryRotationCoordinator()
        let dispatcher = try await Self.dispatcher(box, rotator: rotator, coordinator: coordinator)
        let report = try await dispatcher.rotate(entities: ["FIU-ALPHA"], force: true, context: OperationContext())
        #expect(report.entities.map(\.outcome) == [.ok], "\(report.entities)")
        #expect(rotator.resets == 1)
        let entity = EntityID("FIU-ALPHA")
        #expect(coordinator.advances(of: entity) == [.pending, .sent, .stored, .done])
        #expect(coordinator.events.first == .acquired(entity, operation: "rotation", fencingToken: 1))
        #expect(coordinator.events.last == .released(entity))
        // Nothing was locked beside the vault: the engine asked the seam it was given.
        #expect(!FileManager.default.fileExists(atPath: box.vaultPath + ".locks/FIU-ALPHA.lock"))
    }

    @Test("a fake coordinator that reports the entity held: the rotation is skipped and reported, nothing reset")
    func heldIsSkipped() async throws {
        let box = try Sandbox()
        let rotator = FakeRotator()
        let coordinator = InMemoryRotationCoordinator()
        let dispatcher = try await Self.dispatcher(box, rotator: rotator, coordinator: coordinator)
        coordinator.holdAsAnotherJob("FIU-ALPHA", by: "a rotation on host b (pid 7)")
        let report = try await dispatcher.rotate(entities: ["FIU-ALPHA"], force: true, context: OperationContext())
        #expect(report.entities.map(\.outcome) == [.skipped])
        #expect(report.entities.first?.warnings == ["another job holds the rotation lock (held by a rotation on host b (pid 7)); skipped"])
        #expect(rotator.resets == 0)
        #expect(coordinator.advances(of: "FIU-ALPHA") == [])
    }

    @Test("recovery drives a crashed rotation's `sent` entry through the same steps: the fake sees a recovery lease advance stored, done")
    func recoveryThroughTheSeam() async throws {
        let box = try Sandbox()
        let rotator = FakeRotator()
        let coordinator = InMemoryRotationCoordinator()
        let dispatcher = try await Self.dispatcher(box, rotator: rotator, coordinator: coordinator)
        let context = OperationContext()
        let entity = EntityID("FIU-ALPHA")
        #expect(try await dispatcher.sync(SyncRequest(), context: context).entities.map(\.outcome) == [.ok])
        // A job that died right after its reset was answered: the entry is `sent`, the service
        // holds the new secret, the vault the old one.
        let vault = try #require(dispatcher.vault)
        let open = try await vault.beginRotation(entity: entity, context: context)
        _ = try await vault.advanceRotation(id: open.id, to: .sent, txnId: nil, context: context)
        let answer = try await rotator.resetSecret(for: entity, validityDays: nil, context: context)
        #expect(await dispatcher.recoverOpenRotations(for: [entity], context: context) == [entity])
        #expect(coordinator.events.contains(.acquired(entity, operation: "recovery", fencingToken: 2)), "after the sync's lease (token 1)")
        #expect(coordinator.advances(of: entity) == [.stored, .done])
        #expect(try await vault.read(.entitySecret(entity), label: .current, context: context)?.value == answer.record.value)
        #expect(try await vault.openRotations(context: context).isEmpty)
        #expect(rotator.resets == 1, "recovery reads, never resets")
    }
}

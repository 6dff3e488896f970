import Foundation
import KeywardCore
import KeywardTesting
import Testing

@testable import KeywardVault

/// ``EntityTokenServer`` over a real vault and the fake provider (token lifetime 1 h, refreshed
/// 600 s before expiry by default), its clock moved by hand (issue 17, item 2).
@Suite("EntityTokenServer: one mint per due token however many callers, never a token past its refresh point")
struct EntityTokenServerTests {
    static func server(_ box: Sandbox, clock: ManualClock, entities: [String] = ["FIU-FAKE-1"]) throws -> (EntityTokenServer, Vault) {
        let directory = box.root + "/fake-store"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var registry = PluginRegistry()
        FakeProvider.register(in: &registry)
        registry.registerSink(RecordingSink.descriptor) { _, _ in RecordingSink(name: "env") }
        let configuration = try ConfigurationLoader(registry: registry, environment: [:])
            .parse(yaml: FakeProviderEngineTests.yaml(directory: directory), directory: directory)
        let (vault, _) = try box.makeVault()
        let dispatcher = Dispatcher(configuration: configuration, registry: registry, vault: vault, environment: [:])
        let context = OperationContext(clock: clock)
        return (EntityTokenServer(dispatcher: dispatcher, context: context, entities: entities.compactMap { EntityID($0) }), vault)
    }

    /// `count` concurrent requests; the distinct tokens they got.
    static func burst(_ server: EntityTokenServer, _ count: Int) async throws -> Set<String> {
        let id = try #require(EntityID("FIU-FAKE-1"))
        return try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<count { group.addTask { try await server.token(for: id).value.revealUTF8() } }
            var tokens: Set<String> = []
            for try await token in group { tokens.insert(token) }
            return tokens
        }
    }

    @Test("64 concurrent callers with no token: one mint, one audit row; again once the clock passes the refresh point; none before it")
    func singleFlight() async throws {
        let box = try Sandbox()
        let clock = ManualClock(now: Date(timeIntervalSince1970: 1_800_000_000))
        let (server, vault) = try Self.server(box, clock: clock)
        let first = try await Self.burst(server, 64)
        #expect(first.count == 1)
        // 2,999 s on, the token has 601 s left: still fresh, served from memory.
        clock.advance(by: 2_999)
        #expect(try await Self.burst(server, 64) == first)
        // 2 s more: 599 s left, inside tokenRefreshBefore (600 s): never served again.
        clock.advance(by: 2)
        let second = try await Self.burst(server, 64)
        #expect(second.count == 1)
        #expect(second != first)
        let rows = try await vault.entries(since: nil).filter { $0.operation == "token" && $0.entity == "FIU-FAKE-1" }
        #expect(rows.count == 2, "one audit row per mint: \(rows)")
        #expect(rows.allSatisfy { $0.outcome == "ok" })
    }

    @Test("an entity not served is refused without touching the vault or the provider")
    func notServed() async throws {
        let box = try Sandbox()
        let (server, vault) = try Self.server(box, clock: ManualClock(), entities: [])
        await #expect(throws: TokenServingError.self) { try await server.token(for: "FIU-FAKE-1") }
        #expect(try await vault.entries(since: nil).isEmpty)
    }
}

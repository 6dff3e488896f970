import Foundation
import KeywardCore
import KeywardTesting
import Testing

@testable import KeywardVault

/// A second provider type (`fake`, from KeywardTesting) loaded from YAML drives the engine over
/// a real vault, with Core unchanged (issue 13, item 1). Lives here, not in the Core tests,
/// because the engine is handed a whole vault (store, journal, coordinator, locks).
@Suite("a second provider type drives the engine")
struct FakeProviderEngineTests {
    static func yaml(directory: String, provider: [String] = []) -> String {
        """
        version: 1
        providers:
          local:
            type: fake
            directory: \(directory)
        \(provider.map { "    \($0)\n" }.joined())entities:
          FIU-FAKE-1:
            provider: local
        sinks:
          env:
            type: recording
            path: fake.env
            entities: [FIU-FAKE-1]
        """
    }

    @Test("a sync through the Dispatcher delivers its secret and token to a recording sink; failAfter fails the entity")
    func drivesTheEngine() async throws {
        let box = try Sandbox()
        let directory = box.root + "/fake-store"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let sink = RecordingSink(name: "env")
        var registry = PluginRegistry()
        FakeProvider.register(in: &registry)
        registry.registerSink(RecordingSink.descriptor) { _, _ in sink }
        let configuration = try ConfigurationLoader(registry: registry, environment: [:]).parse(yaml: Self.yaml(directory: directory), directory: directory)
        let (vault, _) = try box.makeVault()
        let dispatcher = Dispatcher(configuration: configuration, registry: registry, vault: vault, environment: [:])
        let context = OperationContext(clock: ManualClock(now: Date(timeIntervalSince1970: 1_800_000_000)))
        let report = try await dispatcher.sync(SyncRequest(), context: context)
        #expect(report.entities.map { "\($0.outcome)" } == ["ok"], "\(report.entities)")
        let written = try #require(sink.recorded.last?.first)
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/FIU-FAKE-1.json"))) as? [String: Any])
        #expect(written.secret.value == SecretValue(utf8: try #require(stored["secret"] as? String)))
        #expect(written.token?.value.revealUTF8().hasPrefix("fake-token.") == true)
        #expect(written.secret.expiresAt == Date(timeIntervalSince1970: 1_800_000_000 + 30 * 86_400))
        let kept = try await vault.read(SecretName("entities/FIU-FAKE-1/secret"), label: .current, context: context)
        #expect(kept?.value == written.secret.value, "the vault keeps what the fake provided")

        // failAfter: 0 fails the first call; the sync reports the entity failed, naming the fake.
        let failing = try ConfigurationLoader(registry: registry, environment: [:]).parse(yaml: Self.yaml(directory: directory, provider: ["failAfter: 0"]), directory: directory)
        let other = try Sandbox()
        let (otherVault, _) = try other.makeVault()
        let failed = try await Dispatcher(configuration: failing, registry: registry, vault: otherVault, environment: [:]).sync(SyncRequest(), context: context)
        #expect(failed.entities.map { "\($0.outcome)" } == ["failed"])
        #expect(failed.entities.first?.error?.message.contains("failing after 0 calls (failAfter)") == true, "\(failed.entities)")
    }
}

import Foundation
import KeywardCore
import KeywardTesting
import Testing

/// A second provider type (`fake`, from KeywardTesting) with options of its own, loaded from
/// YAML and driving the engine, with Core unchanged (issue 13, item 1).
@Suite("a second provider type plugs in through its descriptor")
struct FakeProviderTests {
    /// `fake` and the token service's rules side by side, and one shared recording sink.
    static func registry(sink: RecordingSink) -> PluginRegistry {
        var registry = recordingRegistry()
        FakeProvider.register(in: &registry)
        registry.registerSink(RecordingSink.descriptor) { _, _ in sink }
        return registry
    }

    static func yaml(directory: String, provider: [String] = [], entity: [String] = []) -> String {
        """
        version: 1
        providers:
          local:
            type: fake
            directory: \(directory)
        \(provider.map { "    \($0)\n" }.joined())entities:
          FIU-FAKE-1:
            provider: local
        \(entity.map { "    \($0)\n" }.joined())sinks:
          env:
            type: recording
            path: fake.env
            entities: [FIU-FAKE-1]
        """
    }

    static func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-fake-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("its options load from YAML, parsed by its descriptor; the validity it grants reaches the entity")
    func loads() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let loader = ConfigurationLoader(registry: Self.registry(sink: RecordingSink(name: "env")))
        let configuration = try loader.parse(yaml: Self.yaml(directory: directory, provider: ["failAfter: 7"]), directory: "/")
        let provider = try #require(configuration.providers["local"])
        #expect(provider.type == "fake")
        #expect(provider.options == ["directory": .string(directory), "failAfter": .integer(7)])
        #expect(provider.optionLines == ["directory": 5, "failAfter": 6])
        #expect(FakeProvider.Options.parse(provider).options == FakeProvider.Options(directory: directory, failAfter: 7))
        #expect(configuration.entities["FIU-FAKE-1"]?.grantedValidityDays == 30, "the fake's default, not the token service's")
        #expect(loader.registry.providerSettings(provider).endpoint == directory)
    }

    struct BadCase: Sendable, CustomTestStringConvertible {
        var label: String
        var provider: [String] = []
        var entity: [String] = []
        var directory = "/tmp/fake"
        var keyPath: String
        var line: Int
        var message: String
        var testDescription: String { label }
    }

    @Test("a bad option of the fake is the loader's normal error, naming the key and its line", arguments: [
        BadCase(label: "failAfter of the wrong kind", provider: ["failAfter: often"], keyPath: "providers.local.failAfter", line: 6,
                message: "expected a whole number"),
        BadCase(label: "failAfter below 0 (the type's own rule)", provider: ["failAfter: -1"], keyPath: "providers.local.failAfter", line: 6,
                message: "must be 0 or more"),
        BadCase(label: "a relative directory", directory: "secrets", keyPath: "providers.local.directory", line: 5, message: "must be an absolute path"),
        BadCase(label: "a token service key in a fake section", provider: ["baseURL: uat"], keyPath: "providers.local.baseURL", line: 6,
                message: "unknown key (known keys: type, directory, failAfter)"),
        BadCase(label: "an entity asking more validity than the fake grants (its rule sees the whole configuration)", entity: ["secretExpiryDays: 90"],
                keyPath: "entities.FIU-FAKE-1.secretExpiryDays", line: 9, message: "a fake secret lives at most 60 days"),
        BadCase(label: "tokenRefreshBefore as long as the fake's tokens live (its lifetime, not the token service's)", entity: ["tokenRefreshBefore: 1h"],
                keyPath: "entities.FIU-FAKE-1.tokenRefreshBefore", line: 9, message: "must be shorter than an entity token's 1 h lifetime"),
    ])
    func badOption(_ example: BadCase) throws {
        let loader = ConfigurationLoader(registry: Self.registry(sink: RecordingSink(name: "env")))
        let error = try #require(throws: ConfigurationError.self) {
            try loader.parse(yaml: Self.yaml(directory: example.directory, provider: example.provider, entity: example.entity), file: "keyward.yaml",
                             directory: "/")
        }
        #expect(error.problems.map(\.keyPath) == [example.keyPath])
        #expect(error.problems.first?.line == example.line)
        #expect(error.problems.first?.message == example.message)
        #expect(error.description == "configuration error: keyward.yaml: line \(example.line), column \(error.problems[0].column ?? 0): \(example.keyPath): \(example.message)")
    }

    @Test("it drives the engine: a sync through the Dispatcher delivers its secret and token to a recording sink; failAfter fails the entity")
    func drivesTheEngine() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sink = RecordingSink(name: "env")
        let registry = Self.registry(sink: sink)
        let configuration = try ConfigurationLoader(registry: registry).parse(yaml: Self.yaml(directory: directory), directory: directory)
        let store = RecordingVault()
        let dispatcher = Dispatcher(configuration: configuration, registry: registry, vault: store, environment: [:])
        let context = OperationContext(clock: ManualClock(now: Date(timeIntervalSince1970: 1_800_000_000)))
        let report = try await dispatcher.sync(SyncRequest(), context: context)
        #expect(report.entities.map { "\($0.outcome)" } == ["ok"], "\(report.entities)")
        let written = try #require(sink.recorded.last?.first)
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/FIU-FAKE-1.json"))) as? [String: Any])
        #expect(written.secret.value == SecretValue(utf8: try #require(stored["secret"] as? String)))
        #expect(written.token?.value.revealUTF8().hasPrefix("fake-token.") == true)
        #expect(written.secret.expiresAt == Date(timeIntervalSince1970: 1_800_000_000 + 30 * 86_400))

        // failAfter: 0 fails the first call; the sync reports the entity failed, naming the fake.
        let failing = try ConfigurationLoader(registry: registry).parse(yaml: Self.yaml(directory: directory, provider: ["failAfter: 0"]), directory: directory)
        let failed = try await Dispatcher(configuration: failing, registry: registry, vault: RecordingVault(), environment: [:]).sync(SyncRequest(), context: context)
        #expect(failed.entities.map { "\($0.outcome)" } == ["failed"])
        #expect(failed.entities.first?.error?.message.contains("failing after 0 calls (failAfter)") == true, "\(failed.entities)")
    }

    @Test("the fake passes the provider conformance suite")
    func conformance() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let provider = FakeProvider(name: "p", options: .init(directory: directory))
        let context = OperationContext(clock: ManualClock(now: Date(timeIntervalSince1970: 1_800_000_000)))
        let failures = await ProviderConformance(provider: provider, descriptor: FakeProvider.descriptor, entity: "FIU-FAKE-1",
                                                 options: ["directory: \(directory)"]).run(context: context)
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test("the suite reports a provider that breaks the contract, case by case")
    func conformanceCatchesBreakage() async throws {
        let leaky = LeakyProvider()
        let failures = await ProviderConformance(provider: leaky, descriptor: ProviderTypeDescriptor(type: "leaky", options: nil), entity: "FIU-FAKE-1",
                                                 options: []).run(context: OperationContext(clock: ManualClock()))
        #expect(failures.map(\.testCase) == [
            "provider: fetch returns a secret whose description never shows its bytes",
            "provider: a second fetch returns the same secret",
            "provider: the descriptor rejects unknown options",
            "provider: the descriptor declares its options",
        ])
    }
}

/// A provider whose every fetch is a new secret, echoed in its warnings.
private struct LeakyProvider: SecretProvider {
    var name: String { "leaky" }

    func readSecret(for entity: EntityID, context: OperationContext) async throws -> ProvidedSecret {
        let value = "leaky-\(UUID().uuidString)"
        return ProvidedSecret(record: SecretRecord(value: SecretValue(utf8: value), createdAt: context.clock.now, source: "leaky"),
                              warnings: ["fetched \(value)"])
    }
}

/// The in-memory store with an audit log, as the engine needs a vault.
private final class RecordingVault: SecretStore, Fingerprinter, AuditLog, @unchecked Sendable {
    private let store = InMemorySecretStore()
    private let lock = NSLock()
    private var audit: [AuditEntry] = []

    func read(_ name: SecretName, label: VersionLabel, context: OperationContext) async throws -> SecretRecord? {
        try await store.read(name, label: label, context: context)
    }

    func write(_ name: SecretName, record: SecretRecord, label: VersionLabel, context: OperationContext) async throws -> SecretRecord {
        try await store.write(name, record: record, label: label, context: context)
    }

    func list(prefix: String, context: OperationContext) async throws -> [SecretName] {
        try await store.list(prefix: prefix, context: context)
    }

    func remove(_ name: SecretName, context: OperationContext) async throws {
        try await store.remove(name, context: context)
    }

    func fingerprint(_ value: SecretValue) -> String { store.fingerprint(value) }

    func record(_ entry: AuditEntry) async throws { lock.withLock { audit.append(entry) } }

    func entries(since: Date?) async throws -> [AuditEntry] { lock.withLock { audit } }
}

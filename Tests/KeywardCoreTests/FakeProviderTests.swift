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

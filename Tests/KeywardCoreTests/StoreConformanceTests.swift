import KeywardCore
import KeywardTesting
import Testing

@Suite("InMemorySecretStore passes the store conformance suite it offers")
struct InMemoryStoreConformanceTests {
    @Test("put/get, versions and labels, delete and list")
    func conformance() async {
        let failures = await StoreConformance { InMemorySecretStore() }.run()
        #expect(failures.isEmpty, "\(failures.map(\.description).joined(separator: "\n"))")
    }

    @Test("a store that forgets what it was given fails the suite, naming the cases")
    func detectsABrokenStore() async {
        let failures = await StoreConformance { ForgetfulStore() }.run()
        #expect(Set(failures.map(\.testCase)) == [
            "store: a value put is read back byte for byte with its metadata", "store: versions and labels",
            "store: delete removes every version", "store: list by prefix, sorted",
        ])
    }
}

/// Accepts every write and keeps nothing.
private struct ForgetfulStore: SecretStore {
    func read(_ name: SecretName, label: VersionLabel, context: OperationContext) async throws -> SecretRecord? { nil }
    func write(_ name: SecretName, record: SecretRecord, label: VersionLabel, context: OperationContext) async throws -> SecretRecord { record }
    func list(prefix: String, context: OperationContext) async throws -> [SecretName] { [] }
    func remove(_ name: SecretName, context: OperationContext) async throws {}
}

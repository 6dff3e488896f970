import Foundation
import KeywardCore
import KeywardOpenBao
import KeywardTesting
import Logging

/// The suite's `bao server -dev` (its `secret/` mount is KV v2) as one test uses it: a prefix of its own.
struct SharedStoreTestServer {
    let address: URL
    let token: String
    /// A fresh prefix per test.
    let prefix = "keyward-test/" + UUID().uuidString.lowercased()

    func client() throws -> OpenBaoClient {
        try OpenBaoClient(settings: OpenBaoServerSettings(address: address, auth: .token(.environment("KEYWARD_TEST_BAO_TOKEN")), timeout: .seconds(30)),
                          credentials: CredentialResolver(environment: ["KEYWARD_TEST_BAO_TOKEN": token], store: nil),
                          logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// A store as `host` with its own in-memory local coordinator, leaseTTL 5 s (no reset
    /// margin unless given, so no test depends on how fast a write is).
    func store(host: String, resetMargin: Duration = .zero) throws -> OpenBaoSharedStore {
        let settings = SharedStoreSettings(server: OpenBaoServerSettings(address: address, auth: .token(.environment("KEYWARD_TEST_BAO_TOKEN")), timeout: .seconds(30)),
                                           mount: "secret", prefix: prefix, leaseTTL: .seconds(5))
        return OpenBaoSharedStore(settings: settings, client: try client(), local: InMemoryRotationCoordinator(), resetMargin: resetMargin,
                                  logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), hostName: host, processID: getpid())
    }
}

/// Runs `body` against the suite's dev server (``OpenBaoDevServerTrait``) with a fresh prefix.
func withServer(_ body: (SharedStoreTestServer) async throws -> Void) async throws {
    let dev = try OpenBaoDev.server
    try await body(SharedStoreTestServer(address: dev.address, token: dev.rootToken))
}

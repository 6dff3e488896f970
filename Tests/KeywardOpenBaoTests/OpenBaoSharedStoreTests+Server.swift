import Foundation
import KeywardCore
import KeywardOpenBao
import KeywardTesting
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `bao server -dev` for one test (its `secret/` mount is KV v2), stopped when the test ends.
struct SharedStoreTestServer {
    let address: URL
    let token: String
    /// A fresh prefix per test.
    let prefix = "keyward-test/" + UUID().uuidString.lowercased()

    func client() throws -> OpenBaoClient {
        try OpenBaoClient(settings: OpenBaoServerSettings(address: address, auth: .token(.environment("KEYWARD_TEST_BAO_TOKEN"))),
                          credentials: CredentialResolver(environment: ["KEYWARD_TEST_BAO_TOKEN": token], store: nil),
                          logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// A store as `host` with its own in-memory local coordinator, leaseTTL 5 s (no reset
    /// margin unless given, so no test depends on how fast a write is).
    func store(host: String, resetMargin: Duration = .zero) throws -> OpenBaoSharedStore {
        let settings = SharedStoreSettings(server: OpenBaoServerSettings(address: address, auth: .token(.environment("KEYWARD_TEST_BAO_TOKEN"))),
                                           mount: "secret", prefix: prefix, leaseTTL: .seconds(5))
        return OpenBaoSharedStore(settings: settings, client: try client(), local: InMemoryRotationCoordinator(), resetMargin: resetMargin,
                                  logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), hostName: host, processID: getpid())
    }
}

/// Runs `body` against a dev server started for it.
func withServer(_ body: (SharedStoreTestServer) async throws -> Void) async throws {
    let port = try freeLoopbackPort()
    let token = "keyward-test-" + UUID().uuidString.lowercased()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["bao", "server", "-dev", "-dev-root-token-id=\(token)", "-dev-listen-address=127.0.0.1:\(port)"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    defer {
        process.terminate()
        process.waitUntilExit()
    }
    let server = SharedStoreTestServer(address: URL(string: "http://127.0.0.1:\(port)")!, token: token)
    let client = try server.client()
    var ready = false
    for _ in 0..<300 where process.isRunning {
        if (try? await client.checkKVv2Mount("secret", context: OperationContext())) != nil {
            ready = true
            break
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    guard ready else { throw KeywardError.operationFailed("the OpenBao dev server did not start on port \(port)") }
    try await body(server)
    await client.shutdown()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freeLoopbackPort() throws -> Int {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw KeywardError.operationFailed("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw KeywardError.operationFailed("bind failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

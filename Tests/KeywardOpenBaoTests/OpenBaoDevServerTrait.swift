import Foundation
import KeywardCore
import KeywardOpenBao
import KeywardTesting
import Logging
import Testing

/// The dev server a suite runs against: started once when the suite starts, stopped when it
/// ends (also when a test fails), reached through ``OpenBaoDev/server``.
struct OpenBaoDevServerTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try await OpenBaoDevServer.start()
        defer { server.stop() }
        try await OpenBaoDev.$current.withValue(server) {
            try await function()
        }
    }
}

extension Trait where Self == OpenBaoDevServerTrait {
    /// Runs the suite against a fresh `bao server -dev`.
    static var openBaoDevServer: Self { Self() }
}

enum OpenBaoDev {
    @TaskLocal static var current: OpenBaoDevServer?

    /// The suite's server (the suite must carry `.openBaoDevServer`).
    static var server: OpenBaoDevServer {
        get throws { try #require(current, "the suite needs the .openBaoDevServer trait") }
    }

    /// A client of `server` authenticating with `token` (the root token unless given), read from
    /// an injected environment variable. The timeout is 30 s unless given: on a 2-core CI machine
    /// starting several servers at once, a first request once took more than 10 s.
    static func client(_ server: OpenBaoDevServer, token: String? = nil, timeout: Duration = testTimeout,
                       logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) throws -> OpenBaoClient
    {
        let settings = OpenBaoServerSettings(address: server.address, auth: .token(.environment("TEST_BAO_TOKEN")), timeout: timeout)
        return try OpenBaoClient(settings: settings,
                                 credentials: CredentialResolver(environment: ["TEST_BAO_TOKEN": token ?? server.rootToken], store: nil),
                                 logger: logger)
    }

    /// How long a test's client waits for a server (the product's default is 10 s).
    static let testTimeout: Duration = .seconds(30)

    /// A unique path for one test.
    static func path(_ name: String) -> String { "tests/\(name)-\(UUID().uuidString.prefix(8))" }
}

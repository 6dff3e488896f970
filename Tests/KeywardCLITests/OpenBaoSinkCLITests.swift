import Foundation
import KeywardSimulator
import KeywardTesting
import Testing

/// A `bao server -dev` on a free loopback port for one test, and the real `bao` CLI pointed at it.
private final class BaoDevServer: @unchecked Sendable {
    static let rootToken = "keyward-cli-tests-root"
    let address: String
    private let process: Process

    private init(address: String, process: Process) {
        self.address = address
        self.process = process
    }

    static func start() async throws -> BaoDevServer {
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...45_000)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["bao", "server", "-dev", "-dev-root-token-id=\(rootToken)", "-dev-listen-address=127.0.0.1:\(port)", "-dev-no-store-token"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let server = BaoDevServer(address: "http://127.0.0.1:\(port)", process: process)
            for _ in 0..<300 where process.isRunning {
                if (try? await server.bao(["status"]))?.status == 0 { return server }
                try await Task.sleep(for: .milliseconds(100))
            }
            server.stop()
        }
        throw CocoaError(.featureUnsupported)
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }

    @discardableResult
    func bao(_ arguments: [String], token: String = rootToken) async throws -> (status: Int32, stdout: Data) {
        let address = address
        return try await CommandRunner.offPool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["bao"] + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(["BAO_ADDR": address, "BAO_TOKEN": token]) { $1 }
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, data)
        }
    }

    /// `bao kv get -format=json`: the entry's data, or `nil` when absent.
    func kvGet(_ mount: String, _ path: String) async throws -> [String: String]? {
        let output = try await bao(["kv", "get", "-format=json", "-mount=\(mount)", path])
        guard output.status == 0 else { return nil }
        let object = try JSONSerialization.jsonObject(with: output.stdout) as? [String: Any]
        return ((object?["data"] as? [String: Any])?["data"] as? [String: Any])?.compactMapValues { $0 as? String }
    }

    func currentVersion(_ mount: String, _ path: String) async throws -> Int? {
        let output = try await bao(["kv", "metadata", "get", "-format=json", "-mount=\(mount)", path])
        guard output.status == 0 else { return nil }
        let object = try JSONSerialization.jsonObject(with: output.stdout) as? [String: Any]
        return (object?["data"] as? [String: Any])?["current_version"] as? Int
    }

    /// A token whose only policy denies everything under `secret/`.
    func deniedToken() async throws -> String {
        let policy = FileManager.default.temporaryDirectory.appendingPathComponent("deny-\(UUID().uuidString).hcl")
        try #"path "secret/*" { capabilities = ["deny"] }"#.write(to: policy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: policy) }
        #expect(try await bao(["policy", "write", "deny-secret", policy.path]).status == 0)
        let created = try await bao(["token", "create", "-format=json", "-no-default-policy", "-policy=deny-secret"])
        let object = try JSONSerialization.jsonObject(with: created.stdout) as? [String: Any]
        return try #require((object?["auth"] as? [String: Any])?["client_token"] as? String)
    }
}

@Suite("openbao-kv sink through the CLI, on a real OpenBao dev server", .serialized)
struct OpenBaoSinkCLITests {
    private static func sinkSection(address: String, mount: String = "secret", path: String = "apps/alpha") -> String {
        """
        sinks:
          bao:
            type: openbao-kv
            entities: [FIU-ALPHA]
            mount: \(mount)
            path: \(path)
            address: \(address)
            auth: {token: "env:BAO_TOKEN"}
            keys:
              AA_CLIENT_ID: "{entity.id}"
              AA_CLIENT_SECRET: "{entity.secret}"
              AA_AUTH: "Bearer {entity.token}"
        """
    }

    @Test("keyward sync writes the entry, read back by `bao kv get`; a second sync writes nothing")
    func syncWritesEntry() async throws {
        let server = try await BaoDevServer.start()
        defer { server.stop() }
        try await server.bao(["kv", "put", "-mount=secret", "apps/alpha", "OTHER=from another writer"])
        let fixture = try await EngineFixture.start(extraConfig: Self.sinkSection(address: server.address))
        defer { Task { await fixture.stop() } }
        let token = ["BAO_TOKEN": BaoDevServer.rootToken]

        let result = try await fixture.run(["sync"], extraEnvironment: token)
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("sink bao: written"), "\(result.stdout)")
        let alpha = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        let entry = try #require(try await server.kvGet("secret", "apps/alpha"))
        #expect(entry["AA_CLIENT_SECRET"] == alpha)
        #expect(entry["AA_CLIENT_ID"] == "FIU-ALPHA")
        #expect(entry["AA_AUTH"] == "Bearer " + (try await fixture.vaultGet("entities/FIU-ALPHA/token")))
        #expect(entry["OTHER"] == "from another writer", "merge keeps another writer's key")
        let version = try await server.currentVersion("secret", "apps/alpha")
        #expect(version == 2)

        let again = try await fixture.run(["sync"], extraEnvironment: token)
        #expect(again.status == 0, "\(again.all)")
        #expect(again.stdout.contains("sink bao: unchanged"), "\(again.stdout)")
        #expect(try await server.currentVersion("secret", "apps/alpha") == version)
        for output in [result.all, again.all] {
            #expect(LeakScanner.leaks(in: output, of: fixture.secrets() + [BaoDevServer.rootToken]).isEmpty)
        }
    }

    @Test("a KV v1 mount exits 2, naming the mount, printing no value")
    func kvVersion1() async throws {
        let server = try await BaoDevServer.start()
        defer { server.stop() }
        #expect(try await server.bao(["secrets", "enable", "-path=kv1", "-version=1", "kv"]).status == 0)
        let fixture = try await EngineFixture.start(extraConfig: Self.sinkSection(address: server.address, mount: "kv1"))
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["sync"], extraEnvironment: ["BAO_TOKEN": BaoDevServer.rootToken])
        #expect(result.status == 2, "\(result.all)")
        #expect(result.stderr.contains("kv1"), "\(result.stderr)")
        #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets() + [BaoDevServer.rootToken]).isEmpty)
        #expect(try await server.bao(["kv", "list", "-mount=kv1"]).status != 0, "nothing written to the KV v1 mount")
    }

    @Test("a missing mount exits 2, naming the mount, printing no value")
    func missingMount() async throws {
        let server = try await BaoDevServer.start()
        defer { server.stop() }
        let fixture = try await EngineFixture.start(extraConfig: Self.sinkSection(address: server.address, mount: "no-such-mount"))
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["sync"], extraEnvironment: ["BAO_TOKEN": BaoDevServer.rootToken])
        #expect(result.status == 2, "\(result.all)")
        #expect(result.stderr.contains("no-such-mount"), "\(result.stderr)")
        #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets() + [BaoDevServer.rootToken]).isEmpty)
    }

    @Test("a token whose policy denies the path (403) exits 3, printing no value or token")
    func forbidden() async throws {
        let server = try await BaoDevServer.start()
        defer { server.stop() }
        let denied = try await server.deniedToken()
        let fixture = try await EngineFixture.start(extraConfig: Self.sinkSection(address: server.address))
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["sync"], extraEnvironment: ["BAO_TOKEN": denied])
        #expect(result.status == 3, "\(result.all)")
        #expect(result.stderr.contains("403"), "\(result.stderr)")
        #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets() + [BaoDevServer.rootToken, denied]).isEmpty)
        #expect(try await server.kvGet("secret", "apps/alpha") == nil)
    }
}

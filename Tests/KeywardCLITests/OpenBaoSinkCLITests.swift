import Foundation
import KeywardSimulator
import KeywardTesting
import Testing

/// KeywardTesting's ``OpenBaoDevServer`` for one test, and the real `bao` CLI pointed at it.
private struct BaoDevServer: Sendable {
    let base: OpenBaoDevServer
    var address: String { base.address.absoluteString }
    var rootToken: String { base.rootToken }

    static func start() async throws -> BaoDevServer { BaoDevServer(base: try await OpenBaoDevServer.start()) }

    func stop() { base.stop() }

    @discardableResult
    func bao(_ arguments: [String], token: String? = nil) async throws -> (status: Int32, stdout: Data) {
        let base = base
        return try await CommandRunner.offPool {
            let result = try OpenBaoCLI.run(arguments, address: base.address, token: token ?? base.rootToken)
            return (result.status, Data(result.stdout.utf8))
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

    @Test("keyward sync writes the entry, read back by `bao kv get`; a second sync and a dry run write nothing")
    func syncWritesEntry() async throws {
        let server = try await BaoDevServer.start()
        defer { server.stop() }
        try await server.bao(["kv", "put", "-mount=secret", "apps/alpha", "OTHER=from another writer"])
        let fixture = try await EngineFixture.start(extraConfig: Self.sinkSection(address: server.address))
        defer { Task { await fixture.stop() } }
        let token = ["BAO_TOKEN": server.rootToken]

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

        fixture.simulator.setSecret("changed+elsewhere/$HOME", for: "FIU-ALPHA", expiresIn: 80 * 86_400)
        let dryRun = try await fixture.run(["sync", "--dry-run"], extraEnvironment: token)
        #expect(dryRun.status == 0, "\(dryRun.all)")
        #expect(dryRun.stdout.contains("write sink bao"), "\(dryRun.stdout)")
        #expect(try await server.currentVersion("secret", "apps/alpha") == version, "a dry run wrote")
        #expect(try await server.kvGet("secret", "apps/alpha")?["AA_CLIENT_SECRET"] == alpha)
        for output in [result.all, again.all, dryRun.all] {
            #expect(LeakScanner.leaks(in: output, of: fixture.secrets() + [server.rootToken, alpha]).isEmpty)
        }
    }

    @Test("a sink without address writes through the shared: section's connection")
    func throughShared() async throws {
        let server = try await BaoDevServer.start()
        defer { server.stop() }
        let config = """
            shared:
              type: openbao
              address: \(server.address)
              auth: {token: "env:BAO_TOKEN"}
              mount: secret
              prefix: keyward/cli-tests
            sinks:
              bao:
                type: openbao-kv
                entities: [FIU-ALPHA]
                mount: secret
                path: apps/through-shared
                keys:
                  AA_CLIENT_SECRET: "{entity.secret}"
            """
        let fixture = try await EngineFixture.start(extraConfig: config)
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["sync"], extraEnvironment: ["BAO_TOKEN": server.rootToken])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("sink bao: written"), "\(result.stdout)")
        let entry = try #require(try await server.kvGet("secret", "apps/through-shared"))
        #expect(entry == ["AA_CLIENT_SECRET": try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))])
        #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets() + [server.rootToken]).isEmpty)
    }

    @Test("a KV v1 mount exits 2, naming the mount, printing no value")
    func kvVersion1() async throws {
        let server = try await BaoDevServer.start()
        defer { server.stop() }
        #expect(try await server.bao(["secrets", "enable", "-path=kv1", "-version=1", "kv"]).status == 0)
        let fixture = try await EngineFixture.start(extraConfig: Self.sinkSection(address: server.address, mount: "kv1"))
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["sync"], extraEnvironment: ["BAO_TOKEN": server.rootToken])
        #expect(result.status == 2, "\(result.all)")
        #expect(result.stderr.contains("kv1"), "\(result.stderr)")
        #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets() + [server.rootToken]).isEmpty)
        #expect(try await server.bao(["kv", "list", "-mount=kv1"]).status != 0, "nothing written to the KV v1 mount")
    }

    @Test("a missing mount exits 2, naming the mount, printing no value")
    func missingMount() async throws {
        let server = try await BaoDevServer.start()
        defer { server.stop() }
        let fixture = try await EngineFixture.start(extraConfig: Self.sinkSection(address: server.address, mount: "no-such-mount"))
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["sync"], extraEnvironment: ["BAO_TOKEN": server.rootToken])
        #expect(result.status == 2, "\(result.all)")
        #expect(result.stderr.contains("no-such-mount"), "\(result.stderr)")
        #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets() + [server.rootToken]).isEmpty)
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
        #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets() + [server.rootToken, denied]).isEmpty)
        #expect(try await server.kvGet("secret", "apps/alpha") == nil)
    }
}

import Foundation
import KeywardCore
@testable import KeywardOpenBao
import KeywardTesting
import Logging
import Testing

// MARK: - a dev server and the real `bao` CLI

/// The suite's dev server (KeywardTesting's ``OpenBaoDevServer``, started by the
/// `.openBaoDevServer` trait), and the real `bao` CLI pointed at it: the independent reader
/// every assertion goes through.
struct SinkDevServer: Sendable {
    let base: OpenBaoDevServer
    var address: URL { base.address }
    var rootToken: String { base.rootToken }

    /// The server of the running suite.
    static var current: SinkDevServer {
        get throws { SinkDevServer(base: try OpenBaoDev.server) }
    }

    struct Output: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// Runs `bao ARGS…` against this server with `token` (the root token by default).
    @discardableResult
    func bao(_ arguments: [String], token: String? = nil) async throws -> Output {
        try await offPool { [self] in try baoNow(arguments, token: token) }
    }

    /// ``bao(_:token:)``, blocking the calling thread (for synchronous readers).
    func baoNow(_ arguments: [String], token: String? = nil) throws -> Output {
        let result = try OpenBaoCLI.run(arguments, address: address, token: token ?? rootToken)
        return Output(status: result.status, stdout: Data(result.stdout.utf8), stderr: result.stderr)
    }

    /// `bao kv get -format=json`: the entry's data, each value's UTF-8 bytes; `nil` when absent.
    func kvGet(_ mount: String, _ path: String) async throws -> [String: [UInt8]]? {
        try await offPool { [self] in try kvGetNow(mount, path) }
    }

    func kvGetNow(_ mount: String, _ path: String) throws -> [String: [UInt8]]? {
        let output = try baoNow(["kv", "get", "-format=json", "-mount=\(mount)", path])
        guard output.status == 0 else { return nil }
        let object = try JSONSerialization.jsonObject(with: output.stdout) as? [String: Any]
        let data = (object?["data"] as? [String: Any])?["data"] as? [String: Any] ?? [:]
        return data.compactMapValues { ($0 as? String).map { Array($0.utf8) } }
    }

    /// `bao kv metadata get -format=json`: the current version and `custom_metadata`.
    func kvMetadata(_ mount: String, _ path: String) async throws -> (version: Int, custom: [String: String])? {
        let output = try await bao(["kv", "metadata", "get", "-format=json", "-mount=\(mount)", path])
        guard output.status == 0 else { return nil }
        let object = try JSONSerialization.jsonObject(with: output.stdout) as? [String: Any]
        let data = object?["data"] as? [String: Any] ?? [:]
        return ((data["current_version"] as? Int) ?? -1, (data["custom_metadata"] as? [String: String]) ?? [:])
    }

    /// A new token whose only policy denies everything under `secret/` (DESIGN.md: a 403 is exit 3).
    func deniedToken() async throws -> String {
        let policy = FileManager.default.temporaryDirectory.appendingPathComponent("deny-\(UUID().uuidString).hcl")
        try #"path "secret/*" { capabilities = ["deny"] }"#.write(to: policy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: policy) }
        let written = try await bao(["policy", "write", "deny-secret", policy.path])
        guard written.status == 0 else { throw KeywardError.operationFailed("bao policy write: \(written.stderr)") }
        let created = try await bao(["token", "create", "-format=json", "-no-default-policy", "-policy=deny-secret"])
        let object = try JSONSerialization.jsonObject(with: created.stdout) as? [String: Any]
        guard let token = (object?["auth"] as? [String: Any])?["client_token"] as? String else {
            throw KeywardError.operationFailed("bao token create: \(created.stderr)")
        }
        return token
    }

    /// A client with the root token (given through the environment, as a user would).
    func client() throws -> OpenBaoClient {
        try OpenBaoClient(settings: OpenBaoServerSettings(address: address, auth: .token(.environment("BAO_TOKEN")), timeout: .seconds(30)),
                          credentials: CredentialResolver(environment: ["BAO_TOKEN": rootToken], store: nil),
                          logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }
}

// MARK: - helpers

private let entity: EntityID = "FIU-KV-1"

private func material(secret: [UInt8], token: [UInt8] = Array("token-value".utf8)) -> [EntityMaterial] {
    let created = Date(timeIntervalSince1970: 1_750_000_000)
    return [EntityMaterial(
        id: entity,
        secret: SecretRecord(value: SecretValue(bytes: secret), createdAt: created, expiresAt: Date(timeIntervalSince1970: 1_760_000_000), source: "test"),
        token: SecretRecord(value: SecretValue(bytes: token), createdAt: created, expiresAt: Date(timeIntervalSince1970: 1_750_086_400), source: "test"))]
}

private func keys(_ names: [String: KeyTemplate.Placeholder]) -> [(key: String, template: KeyTemplate)] {
    names.sorted { $0.key < $1.key }.map { ($0.key, KeyTemplate($0.value)) }
}

private func uniquePath(_ name: String) -> String { "keyward-tests/\(name)-\(UUID().uuidString.prefix(8))" }

/// The hostile values written and read back byte for byte.
private let hostileValues: [(name: String, value: [UInt8])] = [
    ("newlines", Array("line one\nline two\r\n\nend\n".utf8)),
    ("quotes", Array("it's 'single' and \"double\" \\\" \\\\".utf8)),
    ("dollar signs", Array("$HOME ${PATH} $(id) `id` $$ cost: $".utf8)),
    ("unicode", Array("ключ 秘密 🔑 e\u{301} \u{200B}zero-width \u{FEFF}bom".utf8)),
    ("JSON-looking", Array("{\"data\":{\"x\":1}, \"\\u0000\": null}".utf8)),
    ("64 KiB", (0..<65_536).map { UInt8(ascii: "a") + UInt8($0 % 26) }),
]

// MARK: - tests on a dev server

@Suite("openbao-kv sink on a real OpenBao dev server, read back by the real bao CLI", .serialized, .openBaoDevServer)
struct OpenBaoKVSinkTests {
    let server: SinkDevServer

    init() throws {
        server = try SinkDevServer.current
    }

    private func sink(_ path: String, keys names: [String: KeyTemplate.Placeholder] = ["SECRET": .secret, "TOKEN": .token, "ID": .id],
                      mode: OpenBaoKVSink.MergeMode = .merge, mount: String = "secret") throws -> OpenBaoKVSink {
        OpenBaoKVSink(name: "kv", mount: mount, path: path, keys: keys(names), mode: mode, client: try server.client())
    }

    @Test("hostile values (newlines, quotes, $, unicode, 64 KiB) are read back byte for byte by `bao kv get -format=json`")
    func hostileRoundTrip() async throws {
        let path = uniquePath("hostile")
        let sink = try sink(path)
        for hostile in hostileValues {
            // The token: the same text backwards, by characters (so still UTF-8).
            let token = Array(String(String(decoding: hostile.value, as: UTF8.self).reversed()).utf8)
            let outcome = try await sink.write(material(secret: hostile.value, token: token), context: OperationContext())
            #expect(outcome == .written, "\(hostile.name)")
            let read = try #require(try await server.kvGet("secret", path))
            #expect(read["SECRET"] == hostile.value, "\(hostile.name): SECRET differs")
            #expect(read["TOKEN"] == token, "\(hostile.name): TOKEN differs")
            #expect(read["ID"] == Array(entity.rawValue.utf8))
            #expect(read.keys.sorted() == ["ID", "SECRET", "TOKEN"])
        }
    }

    @Test("merge: a key another writer added survives; replace: it is removed")
    func mergeAndReplace() async throws {
        let path = uniquePath("merge")
        try await server.bao(["kv", "put", "-mount=secret", path, "OTHER=kept by merge", "SECRET=old"])
        #expect(try await sink(path).write(material(secret: Array("s1".utf8)), context: OperationContext()) == .written)
        var read = try #require(try await server.kvGet("secret", path))
        #expect(read == ["OTHER": Array("kept by merge".utf8), "SECRET": Array("s1".utf8), "TOKEN": Array("token-value".utf8), "ID": Array(entity.rawValue.utf8)])

        #expect(try await sink(path, mode: .replace).write(material(secret: Array("s1".utf8)), context: OperationContext()) == .written)
        read = try #require(try await server.kvGet("secret", path))
        #expect(read == ["SECRET": Array("s1".utf8), "TOKEN": Array("token-value".utf8), "ID": Array(entity.rawValue.utf8)])
    }

    @Test("merge: a key the sink stopped writing is removed, another writer's key is kept")
    func stoppedKeyRemoved() async throws {
        let path = uniquePath("stopped")
        #expect(try await sink(path, keys: ["A_SECRET": .secret, "A_TOKEN": .token]).write(material(secret: Array("s".utf8)), context: OperationContext()) == .written)
        #expect(try await server.kvMetadata("secret", path)?.custom["keyward-keys"] == "A_SECRET,A_TOKEN")
        try await server.bao(["kv", "patch", "-mount=secret", path, "OTHER=theirs"])
        #expect(try await sink(path, keys: ["A_SECRET": .secret]).write(material(secret: Array("s".utf8)), context: OperationContext()) == .written)
        let read = try #require(try await server.kvGet("secret", path))
        #expect(read == ["A_SECRET": Array("s".utf8), "OTHER": Array("theirs".utf8)])
        #expect(try await server.kvMetadata("secret", path)?.custom["keyward-keys"] == "A_SECRET")
    }

    @Test("unchanged values write nothing: the KV version stays; plan agrees with write; a dry run writes nothing")
    func unchangedWritesNothing() async throws {
        let path = uniquePath("unchanged")
        let sink = try sink(path)
        #expect(try await sink.plan(material(secret: Array("v".utf8)), context: OperationContext()) == .written)
        #expect(try await sink.write(material(secret: Array("v".utf8)), context: OperationContext(dryRun: true)) == .written)
        #expect(try await server.kvMetadata("secret", path) == nil, "a dry run wrote")
        #expect(try await sink.write(material(secret: Array("v".utf8)), context: OperationContext()) == .written)
        #expect(try await server.kvMetadata("secret", path)?.version == 1)
        #expect(try await sink.plan(material(secret: Array("v".utf8)), context: OperationContext()) == .unchanged)
        #expect(try await sink.write(material(secret: Array("v".utf8)), context: OperationContext()) == .unchanged)
        #expect(try await server.kvMetadata("secret", path)?.version == 1)
        #expect(try await sink.plan(material(secret: Array("w".utf8)), context: OperationContext()) == .written)
        #expect(try await sink.write(material(secret: Array("w".utf8)), context: OperationContext(dryRun: true)) == .written)
        #expect(try await server.kvMetadata("secret", path)?.version == 1)
        #expect(try await sink.write(material(secret: Array("w".utf8)), context: OperationContext()) == .written)
        #expect(try await server.kvMetadata("secret", path)?.version == 2)
    }

    @Test("a CAS conflict injected between read and write is retried; the other writer's key survives")
    func casConflictRetried() async throws {
        let path = uniquePath("cas")
        try await server.bao(["kv", "put", "-mount=secret", path, "SEED=1"])
        var sink = try sink(path)
        let calls = Counter()
        let server = server
        sink.afterRead = {
            if calls.next() == 1 { try await server.bao(["kv", "patch", "-mount=secret", path, "OTHER=written in between"]) }
        }
        #expect(try await sink.write(material(secret: Array("mine".utf8)), context: OperationContext()) == .written)
        #expect(calls.value == 2, "one conflict, one retry")
        let read = try #require(try await server.kvGet("secret", path))
        #expect(read["OTHER"] == Array("written in between".utf8))
        #expect(read["SEED"] == Array("1".utf8))
        #expect(read["SECRET"] == Array("mine".utf8))
        #expect(try await server.kvMetadata("secret", path)?.version == 3)
    }

    @Test("a conflict on every attempt fails after 3 retries, naming the path and no value")
    func casConflictExhausted() async throws {
        let path = uniquePath("cas-exhausted")
        var sink = try sink(path)
        let calls = Counter()
        let server = server
        sink.afterRead = {
            try await server.bao(["kv", "put", "-mount=secret", path, "OTHER=attempt-\(calls.next())"])
        }
        let error = await #expect(throws: OpenBaoError.self) {
            try await sink.write(material(secret: Array("my-hidden-value".utf8)), context: OperationContext())
        }
        #expect(calls.value == 4, "the first attempt and 3 retries")
        #expect(error?.kind == .casConflict)
        #expect(error?.category == .operationFailed)
        let text = error?.description ?? ""
        #expect(text.contains("secret/data/\(path)"), "\(text)")
        #expect(!text.contains("my-hidden-value") && !text.contains("token-value"))
        #expect(try await server.kvGet("secret", path)?["SECRET"] == nil)
    }

    @Test("custom_metadata gets managed-by: keyward and keyward-keys; other metadata keys are kept")
    func metadataMerged() async throws {
        let path = uniquePath("metadata")
        try await server.bao(["kv", "metadata", "put", "-mount=secret", "-custom-metadata=owner=team-a", "-custom-metadata=managed-by=someone", path])
        #expect(try await sink(path).write(material(secret: Array("s".utf8)), context: OperationContext()) == .written)
        let metadata = try #require(try await server.kvMetadata("secret", path))
        #expect(metadata.custom == ["owner": "team-a", "managed-by": "keyward", "keyward-keys": "ID,SECRET,TOKEN"])
    }

    @Test("an entry whose current version was deleted is written with CAS against that version")
    func deletedCurrentVersion() async throws {
        let path = uniquePath("deleted")
        try await server.bao(["kv", "put", "-mount=secret", path, "OLD=1"])
        try await server.bao(["kv", "delete", "-mount=secret", path])
        #expect(try await sink(path).write(material(secret: Array("s".utf8)), context: OperationContext()) == .written)
        #expect(try await server.kvGet("secret", path)?["SECRET"] == Array("s".utf8))
        #expect(try await server.kvMetadata("secret", path)?.version == 2)
    }

    @Test("checkReady and write refuse a KV v1 mount and a missing mount; a denied token is forbidden")
    func mountsAndPolicy() async throws {
        try await server.bao(["secrets", "enable", "-path=kv1", "-version=1", "kv"])
        let v1 = try sink("app", mount: "kv1")
        await #expect(throws: OpenBaoError.self) { try await v1.checkReady(context: OperationContext()) }
        let v1Error = await #expect(throws: OpenBaoError.self) { try await v1.write(material(secret: Array("s".utf8)), context: OperationContext()) }
        #expect(v1Error?.kind == .kvVersion1)
        #expect(try await server.bao(["kv", "list", "-mount=kv1"]).status != 0, "nothing was written to the KV v1 mount")

        let missing = try sink("app", mount: "no-such-mount")
        let missingError = await #expect(throws: OpenBaoError.self) { try await missing.checkReady(context: OperationContext()) }
        #expect(missingError?.kind == .mountNotFound)
    }

    @Test("without its own address, the sink uses the shared: section's connection")
    func sharedConnection() async throws {
        let path = uniquePath("shared")
        let (section, registry) = try loadKVSink(["mount: secret", "path: \(path)", "keys: {SECRET: '{entity.secret}'}"])
        let shared = SharedStoreConfiguration(
            type: "openbao",
            options: ["address": .string(server.address.absoluteString), "auth": .map(["token": .string("env:SHARED_BAO_TOKEN")]),
                      "mount": .string("secret"), "prefix": .string("keyward/tests")],
            directory: NSTemporaryDirectory())
        let environment = PluginEnvironment(store: nil, credentials: CredentialResolver(environment: ["SHARED_BAO_TOKEN": server.rootToken], store: nil),
                                            shared: shared)
        let sink = try registry.makeSink(section, environment: environment)
        #expect(sink.destination == "\(server.address.absoluteString) secret/\(path)")
        #expect(try await sink.write(material(secret: Array("through shared".utf8)), context: OperationContext()) == .written)
        #expect(try await server.kvGet("secret", path) == ["SECRET": Array("through shared".utf8)])
    }

    @Test("a token whose policy denies the path: forbidden (exit 3), naming the server and path, no value")
    func deniedToken() async throws {
        let token = try await server.deniedToken()
        let client = try OpenBaoClient(settings: OpenBaoServerSettings(address: server.address, auth: .token(.environment("BAO_TOKEN"))),
                                       credentials: CredentialResolver(environment: ["BAO_TOKEN": token], store: nil),
                                       logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let sink = OpenBaoKVSink(name: "kv", mount: "secret", path: "denied/app", keys: keys(["SECRET": .secret]), client: client)
        let error = await #expect(throws: OpenBaoError.self) { try await sink.write(material(secret: Array("my-hidden-value".utf8)), context: OperationContext()) }
        #expect(error?.kind == .forbidden)
        #expect(error?.category == .authentication)
        let ready = await #expect(throws: OpenBaoError.self) { try await sink.checkReady(context: OperationContext()) }
        #expect(ready?.kind == .forbidden, "the readiness check reads the entry, so a denied path stops the run before anything is written")
        let text = error?.description ?? ""
        #expect(text.contains(server.address.absoluteString) && !text.contains("my-hidden-value") && !text.contains(token), "\(text)")
    }
}

@Suite("openbao-kv sink: KeywardTesting's sink conformance suite on a dev server", .serialized, .openBaoDevServer)
struct OpenBaoKVSinkConformanceTests {
    @Test("built through the loader and the registry, hostile values read back by `bao kv get`, unchanged, dry run, bad options refused")
    func conformance() async throws {
        let server = try SinkDevServer.current
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-kv-conformance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: directory) }
        let tokenFile = directory.appendingPathComponent("bao-token")
        try (server.rootToken + "\n").write(to: tokenFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokenFile.path)
        let path = uniquePath("conformance")
        let connection = ["address: \(server.address.absoluteString)", "auth: {token: \"file:\(tokenFile.path)\"}"]
        let valid = ["mount: secret", "path: \(path)"] + connection
        let failures = await SinkConformance(
            descriptor: OpenBaoKVSink.descriptor, directory: directory.path, register: { OpenBaoKVSink.register(in: &$0) },
            options: valid,
            invalidOptions: [
                "a path with a '..' segment": ["mount: secret", "path: apps/../other"] + connection,
                "a path starting with '/'": ["mount: secret", "path: /apps"] + connection,
                "a mount with a trailing '/'": ["mount: secret/", "path: apps"] + connection,
                "no mount": ["path: apps"] + connection,
                "no path": ["mount: secret"] + connection,
                "auth without address": ["mount: secret", "path: apps", connection[1]],
                "a key holding a comma": valid + ["keys: {'A,B': '{entity.secret}'}"],
                "no address and no shared: section": ["mount: secret", "path: apps"],
            ],
            readBack: { _ in try server.kvGetNow("secret", path) ?? [:] }).run()
        #expect(failures.isEmpty, "\(failures.map(\.description).joined(separator: "\n"))")
    }
}

/// A thread-safe call counter for test hooks.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    /// Counts one call and returns its number (1, 2, …).
    func next() -> Int { lock.withLock { count += 1; return count } }
    var value: Int { lock.withLock { count } }
}

import Foundation
import KeywardCore
import KeywardOpenBao
import KeywardTesting
import Logging
import Testing

@Suite("OpenBao client against a real dev server: KV v2 data, check-and-set, metadata, mounts, authentication",
       .serialized, .openBaoDevServer)
struct OpenBaoClientTests {
    let context = OperationContext()

    /// Values a secret may hold that break naive JSON or shell handling.
    static let hostileValues: [String: SecretValue] = [
        "newlines": SecretValue(utf8: "line one\nline two\r\nline three\n"),
        "quotes": SecretValue(utf8: #"a "double" and 'single' \ backslash \" and {"json": true}"#),
        "unicode": SecretValue(utf8: "pässwörd 🔑 中文 \u{200B}zero-width \u{0}nul"),
        "large": SecretValue(utf8: String(repeating: "0123456789abcdef", count: 4096)),  // 64 KiB
        "empty": SecretValue(utf8: ""),
    ]

    @Test("hostile values (newlines, quotes, unicode, NUL, 64 KiB, empty) are written and read back byte-exact, also by `bao kv get`")
    func roundTrip() async throws {
        let server = try OpenBaoDev.server
        let client = try OpenBaoDev.client(server)
        let path = OpenBaoDev.path("round-trip")
        let written = try await client.write(mount: "secret", path: path, data: Self.hostileValues, cas: 0, context: context)
        #expect(written.version == 1)
        #expect(written.serverDate != nil)

        let entry = try #require(try await client.read(mount: "secret", path: path, consistent: true, context: context))
        #expect(entry.version == 1)
        #expect(entry.createdTime == written.createdTime)
        #expect(entry.customMetadata.isEmpty)
        #expect(Set(entry.data.keys) == Set(Self.hostileValues.keys))
        for (key, value) in Self.hostileValues {
            #expect(entry.data[key]?.revealBytes() == value.revealBytes(), "key \(key)")
        }

        let cli = try await server.bao(["kv", "get", "-format=json", "-mount=secret", path])
        struct Got: Decodable {
            struct Data: Decodable { var data: [String: String] }
            var data: Data
        }
        let got = try JSONDecoder().decode(Got.self, from: Data(cli.stdout.utf8))
        for (key, value) in Self.hostileValues {
            #expect(got.data.data[key].map { Array($0.utf8) } == value.revealBytes(), "bao kv get, key \(key)")
        }
    }

    @Test("a value that is not valid UTF-8 is refused before anything is sent (KV values are JSON strings)")
    func invalidUTF8() async throws {
        let client = try OpenBaoDev.client(try OpenBaoDev.server)
        let path = OpenBaoDev.path("bytes")
        let error = await #expect(throws: OpenBaoError.self) {
            try await client.write(mount: "secret", path: path, data: ["k": SecretValue(bytes: [0xff, 0xfe, 0x41])], cas: nil, context: context)
        }
        #expect(error?.kind == .usage)
        #expect(try await client.read(mount: "secret", path: path, consistent: false, context: context) == nil)
    }

    @Test("a path that was never written reads as nil, and so does one whose current version was deleted or destroyed")
    func missingAndDeleted() async throws {
        let server = try OpenBaoDev.server
        let client = try OpenBaoDev.client(server)
        #expect(try await client.read(mount: "secret", path: OpenBaoDev.path("never"), consistent: true, context: context) == nil)
        #expect(try await client.metadata(mount: "secret", path: OpenBaoDev.path("never"), context: context) == nil)

        let deleted = OpenBaoDev.path("deleted")
        _ = try await client.write(mount: "secret", path: deleted, data: ["k": SecretValue(utf8: "v")], cas: nil, context: context)
        try await server.bao(["kv", "delete", "-mount=secret", deleted])
        #expect(try await client.read(mount: "secret", path: deleted, consistent: false, context: context) == nil)

        let destroyed = OpenBaoDev.path("destroyed")
        _ = try await client.write(mount: "secret", path: destroyed, data: ["k": SecretValue(utf8: "v")], cas: nil, context: context)
        try await server.bao(["kv", "destroy", "-mount=secret", "-versions=1", destroyed])
        #expect(try await client.read(mount: "secret", path: destroyed, consistent: false, context: context) == nil)
        // The metadata survives a delete: the next check-and-set must name version 1.
        #expect(try await client.metadata(mount: "secret", path: deleted, context: context)?.currentVersion == 1)
    }

    @Test("check-and-set: 0 on an existing entry and a stale version both fail with casConflict; the current version succeeds")
    func checkAndSet() async throws {
        let client = try OpenBaoDev.client(try OpenBaoDev.server)
        let path = OpenBaoDev.path("cas")
        let first = try await client.write(mount: "secret", path: path, data: ["k": SecretValue(utf8: "one")], cas: 0, context: context)
        #expect(first.version == 1)

        let again = await #expect(throws: OpenBaoError.self) {
            try await client.write(mount: "secret", path: path, data: ["k": SecretValue(utf8: "two")], cas: 0, context: context)
        }
        #expect(again?.kind == .casConflict)
        #expect(again?.status == 400)

        let second = try await client.write(mount: "secret", path: path, data: ["k": SecretValue(utf8: "two")], cas: 1, context: context)
        #expect(second.version == 2)

        let stale = await #expect(throws: OpenBaoError.self) {
            try await client.write(mount: "secret", path: path, data: ["k": SecretValue(utf8: "three")], cas: 1, context: context)
        }
        #expect(stale?.kind == .casConflict)
        #expect(stale?.path == "secret/data/\(path)")
        #expect(stale.map { LeakScanner.leaks(in: $0.description, of: ["three", "two"]) } == [])

        let entry = try #require(try await client.read(mount: "secret", path: path, consistent: true, context: context))
        #expect(entry.version == 2)
        #expect(entry.data["k"]?.revealUTF8() == "two")

        let unconditional = try await client.write(mount: "secret", path: path, data: ["k": SecretValue(utf8: "four")], cas: nil, context: context)
        #expect(unconditional.version == 3)
    }

    @Test("custom_metadata merge: keys set by another writer are kept, a key given as nil is removed")
    func metadataMerge() async throws {
        let server = try OpenBaoDev.server
        let client = try OpenBaoDev.client(server)
        let path = OpenBaoDev.path("metadata")
        _ = try await client.write(mount: "secret", path: path, data: ["k": SecretValue(utf8: "v")], cas: 0, context: context)
        try await server.bao(["kv", "metadata", "put", "-mount=secret", "-custom-metadata=owner=platform", path])

        try await client.mergeCustomMetadata(mount: "secret", path: path, ["managed-by": "keyward", "keys": "a,b"], context: context)
        var metadata = try #require(try await client.metadata(mount: "secret", path: path, context: context))
        #expect(metadata.currentVersion == 1)
        #expect(metadata.customMetadata == ["owner": "platform", "managed-by": "keyward", "keys": "a,b"])

        try await client.mergeCustomMetadata(mount: "secret", path: path, ["keys": nil], context: context)
        metadata = try #require(try await client.metadata(mount: "secret", path: path, context: context))
        #expect(metadata.customMetadata == ["owner": "platform", "managed-by": "keyward"])

        let entry = try #require(try await client.read(mount: "secret", path: path, consistent: false, context: context))
        #expect(entry.customMetadata == ["owner": "platform", "managed-by": "keyward"])
    }

    @Test("custom_metadata merged into an entry that does not exist yet creates its metadata")
    func metadataOnNewEntry() async throws {
        let client = try OpenBaoDev.client(try OpenBaoDev.server)
        let path = OpenBaoDev.path("metadata-new")
        try await client.mergeCustomMetadata(mount: "secret", path: path, ["managed-by": "keyward", "gone": nil], context: context)
        let metadata = try #require(try await client.metadata(mount: "secret", path: path, context: context))
        #expect(metadata.currentVersion == 0)
        #expect(metadata.customMetadata == ["managed-by": "keyward"])
    }

    @Test("mount check: KV v2 passes, a KV v1 mount is kvVersion1, a missing mount is mountNotFound, a transit mount is usage")
    func mounts() async throws {
        let server = try OpenBaoDev.server
        let client = try OpenBaoDev.client(server)
        try await client.checkKVv2Mount("secret", context: context)

        try await server.bao(["secrets", "enable", "-path=kv1", "-version=1", "kv"])
        let v1 = await #expect(throws: OpenBaoError.self) { try await client.checkKVv2Mount("kv1", context: context) }
        #expect(v1?.kind == .kvVersion1)
        #expect(v1?.category == .usage)

        let missing = await #expect(throws: OpenBaoError.self) { try await client.checkKVv2Mount("no-such-mount", context: context) }
        #expect(missing?.kind == .mountNotFound)
        #expect(missing?.description.contains("no-such-mount") == true)

        let readMissing = await #expect(throws: OpenBaoError.self) {
            try await client.read(mount: "no-such-mount", path: "x", consistent: false, context: context)
        }
        #expect(readMissing?.kind == .mountNotFound)

        try await server.bao(["secrets", "enable", "-path=transit-test", "transit"])
        let transit = await #expect(throws: OpenBaoError.self) { try await client.checkKVv2Mount("transit-test", context: context) }
        #expect(transit?.kind == .usage)
    }

    @Test("a token whose policy does not cover the path is forbidden (403), and the error holds neither the token nor a value")
    func forbiddenByPolicy() async throws {
        let server = try OpenBaoDev.server
        let root = try OpenBaoDev.client(server)
        let allowed = OpenBaoDev.path("allowed"), denied = OpenBaoDev.path("denied")
        let secret = SecretValue(utf8: "the-denied-secret-\(UUID().uuidString)")
        _ = try await root.write(mount: "secret", path: denied, data: ["k": secret], cas: nil, context: context)
        let policy = "path \"secret/data/\(allowed)\" { capabilities = [\"create\", \"read\", \"update\"] }\n"
        try await server.bao(["policy", "write", "only-allowed", "-"], stdin: policy)
        let token = try await Self.createToken(server, ["-policy=only-allowed"])

        let limited = try OpenBaoDev.client(server, token: token)
        _ = try await limited.write(mount: "secret", path: allowed, data: ["k": SecretValue(utf8: "fine")], cas: nil, context: context)
        #expect(try await limited.read(mount: "secret", path: allowed, consistent: false, context: context)?.data["k"]?.revealUTF8() == "fine")

        var descriptions: [String] = []
        let read = await #expect(throws: OpenBaoError.self) {
            try await limited.read(mount: "secret", path: denied, consistent: true, context: context)
        }
        #expect(read?.kind == .forbidden)
        #expect(read?.status == 403)
        #expect(read?.category == .authentication)
        descriptions.append(read?.description ?? "")
        let write = await #expect(throws: OpenBaoError.self) {
            try await limited.write(mount: "secret", path: denied, data: ["k": secret], cas: nil, context: context)
        }
        #expect(write?.kind == .forbidden)
        descriptions.append(write?.description ?? "")
        for text in descriptions {
            #expect(LeakScanner.leaks(in: text, of: [token, server.rootToken]) == [])
            #expect(LeakScanner.leaks(in: text, of: [secret]) == [])
        }
    }

    @Test("a revoked token is forbidden (403); the error does not hold it")
    func revokedToken() async throws {
        let server = try OpenBaoDev.server
        let token = try await Self.createToken(server, ["-policy=default"])
        try await server.bao(["token", "revoke", token])
        let client = try OpenBaoDev.client(server, token: token)
        let error = await #expect(throws: OpenBaoError.self) {
            try await client.read(mount: "secret", path: OpenBaoDev.path("any"), consistent: false, context: context)
        }
        #expect(error?.kind == .forbidden)
        #expect(error?.status == 403)
        #expect(error.map { LeakScanner.leaks(in: $0.description, of: [token]) } == [])
    }

    @Test("a renewable token is renewed (renew-self) by the first request made when under a third of its TTL is left")
    func tokenRenewal() async throws {
        let server = try OpenBaoDev.server
        let policy = "path \"secret/data/renewal/*\" { capabilities = [\"create\", \"read\", \"update\"] }\n"
        try await server.bao(["policy", "write", "renewal", "-"], stdin: policy)
        // 90 s: room for a loaded machine (10 s and 30 s tokens expired before their renewal
        // window under a CI test process that stalled for ~10 s).
        let token = try await Self.createToken(server, ["-policy=renewal", "-ttl=90s", "-explicit-max-ttl=1h"])
        let client = try OpenBaoDev.client(server, token: token)
        let path = "renewal/\(UUID().uuidString.prefix(8))"
        _ = try await client.write(mount: "secret", path: path, data: ["k": SecretValue(utf8: "v")], cas: nil, context: context)
        // 62 s later under 30 s of the 90 s TTL are left: this read renews first.
        try await Task.sleep(for: .seconds(62))
        #expect(try await client.read(mount: "secret", path: path, consistent: false, context: context) != nil)
        struct Lookup: Decodable {
            struct Data: Decodable { var ttl: Int }
            var data: Data
        }
        let lookup = try await server.bao(["token", "lookup", "-format=json", token])
        let ttl = try JSONDecoder().decode(Lookup.self, from: Data(lookup.stdout.utf8)).data.ttl
        // Without renewal at most 28 s would be left; renew-self restores the 90 s TTL.
        #expect(ttl >= 45, "renewed: \(ttl) s left")
    }

    @Test("AppRole: the client logs in with role_id and secret_id, reads and writes, and logs in again after its token is revoked")
    func appRole() async throws {
        let server = try OpenBaoDev.server
        try await server.bao(["auth", "enable", "approle"])
        let policy = "path \"secret/data/approle/*\" { capabilities = [\"create\", \"read\", \"update\"] }\n"
        try await server.bao(["policy", "write", "approle-test", "-"], stdin: policy)
        try await server.bao(["write", "auth/approle/role/keyward", "token_policies=approle-test", "token_ttl=1h", "secret_id_num_uses=0"])
        let roleID = try await server.bao(["read", "-field=role_id", "auth/approle/role/keyward/role-id"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let secretID = try await server.bao(["write", "-f", "-field=secret_id", "auth/approle/role/keyward/secret-id"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)

        let settings = OpenBaoServerSettings(address: server.address,
                                             auth: .appRole(roleID: .environment("ROLE_ID"), secretID: .environment("SECRET_ID"), mount: "approle"))
        let client = try OpenBaoClient(settings: settings,
                                       credentials: CredentialResolver(environment: ["ROLE_ID": roleID, "SECRET_ID": secretID], store: nil),
                                       logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let path = "approle/\(UUID().uuidString.prefix(8))"
        _ = try await client.write(mount: "secret", path: path, data: ["k": SecretValue(utf8: "v")], cas: 0, context: context)
        #expect(try await client.read(mount: "secret", path: path, consistent: true, context: context)?.data["k"]?.revealUTF8() == "v")

        // Revoke every token of the role: the next request gets 403, logs in again, succeeds.
        try await server.bao(["write", "-f", "sys/leases/revoke-prefix/auth/approle/login"])
        #expect(try await client.read(mount: "secret", path: path, consistent: true, context: context)?.version == 1)

        let wrong = OpenBaoServerSettings(address: server.address,
                                          auth: .appRole(roleID: .environment("ROLE_ID"), secretID: .environment("SECRET_ID"), mount: "approle"))
        let refused = try OpenBaoClient(settings: wrong,
                                        credentials: CredentialResolver(environment: ["ROLE_ID": roleID, "SECRET_ID": "wrong-secret-id-1234"], store: nil),
                                        logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let error = await #expect(throws: OpenBaoError.self) {
            try await refused.read(mount: "secret", path: path, consistent: false, context: context)
        }
        #expect(error?.kind == .forbidden)
        #expect(error.map { LeakScanner.leaks(in: $0.description, of: [roleID, secretID, "wrong-secret-id-1234"]) } == [])
    }

    @Test("http:// is refused off loopback (a token would cross the network in clear); loopback forms and https:// are accepted")
    func plainHTTPOffLoopback() throws {
        let credentials = CredentialResolver(environment: [:], store: nil)
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        for address in ["http://bao.internal:8200", "http://10.0.0.5:8200", "http://128.0.0.1:8200", "ftp://127.0.0.1:8200"] {
            let settings = OpenBaoServerSettings(address: URL(string: address)!, auth: .token(.environment("T")))
            let error = #expect(throws: OpenBaoError.self, "\(address)") { try OpenBaoClient(settings: settings, credentials: credentials, logger: logger) }
            #expect(error?.kind == .usage)
        }
        for address in ["http://127.0.0.1:8200", "http://127.1.2.3:8200", "http://localhost:8200", "http://[::1]:8200", "https://bao.internal:8200"] {
            let settings = OpenBaoServerSettings(address: URL(string: address)!, auth: .token(.environment("T")))
            #expect(throws: Never.self, "\(address)") { try OpenBaoClient(settings: settings, credentials: credentials, logger: logger) }
        }
    }

    @Test("path segments that are empty, '.' or '..' are refused before any request")
    func badPaths() async throws {
        let client = try OpenBaoDev.client(try OpenBaoDev.server)
        for path in ["a//b", "../sys/seal", "a/./b", "", "a/"] {
            let error = await #expect(throws: OpenBaoError.self, "\(path)") {
                try await client.read(mount: "secret", path: path, consistent: false, context: context)
            }
            #expect(error?.kind == .usage)
        }
    }

    @Test("a server that does not answer fails as unreachable once the timeout is spent")
    func unreachable() async throws {
        let port = try OpenBaoCLI.freePort()
        let settings = OpenBaoServerSettings(address: URL(string: "http://127.0.0.1:\(port)")!, auth: .token(.environment("T")),
                                             timeout: .seconds(1))
        let client = try OpenBaoClient(settings: settings, credentials: CredentialResolver(environment: ["T": "some-token"], store: nil),
                                       logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let error = await #expect(throws: OpenBaoError.self) {
            try await client.read(mount: "secret", path: "x", consistent: false, context: context)
        }
        #expect(error?.kind == .unreachable)
        #expect(error?.server == "http://127.0.0.1:\(port)")
        #expect(error?.description.contains("some-token") == false)
    }

    @Test("logs of a run with values and tokens hold neither")
    func logsHoldNoSecrets() async throws {
        let server = try OpenBaoDev.server
        let capture = CapturingLogHandler()
        let client = try OpenBaoDev.client(server, logger: capture.logger())
        let path = OpenBaoDev.path("logs")
        let value = SecretValue(utf8: "log-leak-canary-\(UUID().uuidString)")
        _ = try await client.write(mount: "secret", path: path, data: ["k": value], cas: 0, context: OperationContext(logger: capture.logger()))
        _ = try? await client.write(mount: "secret", path: path, data: ["k": value], cas: 0, context: OperationContext(logger: capture.logger()))
        _ = try await client.read(mount: "secret", path: path, consistent: true, context: OperationContext(logger: capture.logger()))
        let text = capture.captured.joined(separator: "\n")
        #expect(LeakScanner.leaks(in: text, of: [value]) == [])
        #expect(LeakScanner.leaks(in: text, of: [server.rootToken]) == [])
    }

    /// `bao token create ARGS -format=json`'s client token.
    static func createToken(_ server: OpenBaoDevServer, _ arguments: [String]) async throws -> String {
        struct Created: Decodable {
            struct Auth: Decodable { var client_token: String }
            var auth: Auth
        }
        let output = try await server.bao(["token", "create", "-format=json"] + arguments)
        return try JSONDecoder().decode(Created.self, from: Data(output.stdout.utf8)).auth.client_token
    }
}

@Suite("OpenBao client over https: a caFile is trusted, a certificate it does not vouch for fails at once", .serialized)
struct OpenBaoClientTLSTests {
    @Test("with the dev server's CA as caFile the client reads and writes; without it the TLS failure is unreachable, before the timeout")
    func caFile() async throws {
        let server = try await OpenBaoDevServer.start(tls: true)
        defer { server.stop() }
        let caFile = try #require(server.caFile)
        let context = OperationContext()
        let credentials = CredentialResolver(environment: ["T": server.rootToken], store: nil)
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

        let trusting = try OpenBaoClient(settings: OpenBaoServerSettings(address: server.address, auth: .token(.environment("T")), caFile: caFile),
                                         credentials: credentials, logger: logger)
        _ = try await trusting.write(mount: "secret", path: "tls/x", data: ["k": SecretValue(utf8: "v")], cas: 0, context: context)
        #expect(try await trusting.read(mount: "secret", path: "tls/x", consistent: true, context: context)?.data["k"]?.revealUTF8() == "v")

        let timeout = Duration.seconds(30)
        let system = try OpenBaoClient(settings: OpenBaoServerSettings(address: server.address, auth: .token(.environment("T")), timeout: timeout),
                                       credentials: credentials, logger: logger)
        let error = await #expect(throws: OpenBaoError.self) {
            try await system.read(mount: "secret", path: "tls/x", consistent: false, context: context)
        }
        #expect(error?.kind == .unreachable)
        // Not retried until the timeout (a certificate does not fix itself): the TLS cause, not "no usable answer within".
        #expect(error?.detail.hasPrefix("TLS failed") == true)

        let unreadable = OpenBaoServerSettings(address: server.address, auth: .token(.environment("T")), caFile: "/nonexistent/ca.pem")
        let refused = #expect(throws: OpenBaoError.self) { try OpenBaoClient(settings: unreadable, credentials: credentials, logger: logger) }
        #expect(refused?.kind == .usage)
    }
}

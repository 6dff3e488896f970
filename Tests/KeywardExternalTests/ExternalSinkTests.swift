import Foundation
@testable import KeywardCore
@testable import KeywardExternal
import Logging
import Testing

@Suite("External sink")
struct ExternalSinkTests {
    /// A sink keeping entries in store.json in its directory, recording each request in last.json.
    static let storeSink = """
        #!/usr/bin/env python3
        import json, os, sys
        request = json.load(sys.stdin)
        with open("last.json", "w") as f:
            json.dump(request, f)
        operation = request["operation"]
        store = json.load(open("store.json")) if os.path.exists("store.json") else None
        if operation == "write":
            new = dict(store or {})
            for entry in request["entries"]:
                new[entry["key"]] = entry["value"]
            with open("store.json", "w") as f:
                json.dump(new, f)
            print(json.dumps({"protocol": 1, "outcome": "unchanged" if new == store else "written"}))
        elif operation == "read":
            if store is None:
                print(json.dumps({"protocol": 1, "error": {"code": "notFound", "message": "nothing stored"}}))
            else:
                print(json.dumps({"protocol": 1, "entries": [{"key": e["key"], "value": store[e["key"]]} for e in request["entries"] if e["key"] in store]}))
        """

    static let description = ExternalPluginDescription(kind: .sink, name: "store", protocols: [1], capabilities: ["write", "read"],
                                                       options: ["path": .init(kind: .string, required: true)])

    static func material(_ id: EntityID, secret: [UInt8], token: [UInt8]? = nil) -> EntityMaterial {
        let expiry = Date(timeIntervalSince1970: 1_900_000_000)
        return EntityMaterial(id: id, secret: SecretRecord(value: SecretValue(bytes: secret), createdAt: expiry, expiresAt: expiry, source: "t"),
                              token: token.map { SecretRecord(value: SecretValue(bytes: $0), createdAt: expiry, expiresAt: nil, source: "t") })
    }

    static func lastRequest(_ scripts: PluginScripts) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: scripts.directory.appendingPathComponent("last.json")))
    }

    @Test("hostile values go through write and come back byte-exact through read")
    func roundTrip() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("keyward-sink-store", Self.storeSink)
        let sink = ExternalSink(name: "out", plugin: scripts.plugin(path), description: Self.description,
                                keys: [("SECRET", KeyTemplate(.secret))])
        let context = OperationContext()
        let hostile: [String] = [
            "line one\nline two\r\n", #"she said "hi" \ and \\ left"#, String(repeating: "x", count: 64 * 1024),
            "emoji 🔑🚀 and e\u{301} and \u{1}\u{7}\u{1b}[31m\u{7f}\u{2028}", "$(rm -rf /) `id` ${HOME} '", " ",
        ]
        for value in hostile {
            let material = [Self.material("FIU-1", secret: Array(value.utf8))]
            #expect(try await sink.write(material, context: context) == .written)
            #expect(try await sink.read(material, context: context) == ["SECRET": Array(value.utf8)])
            #expect(try await sink.plan(material, context: context) == .unchanged)
            #expect(try await sink.write(material, context: context) == .unchanged)
        }
    }

    @Test("a write sends the pairs the built-in sinks write, with entity, field, options and dryRun false")
    func request() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("keyward-sink-store", Self.storeSink)
        let sink = ExternalSink(name: "out", plugin: scripts.plugin(path), description: Self.description,
                                options: ["path": .string("a/b"), "every": .duration(.seconds(900)), "tags": .list([.string("x"), .string("y")]),
                                          "count": .integer(3), "on": .boolean(true), "password": .credential(.environment("SINK_PASSWORD"))],
                                credentials: CredentialResolver(environment: ["SINK_PASSWORD": "pw-123"], store: nil))
        let material = [Self.material("FIU-1", secret: Array("s1".utf8), token: Array("t1".utf8))]
        #expect(try await sink.write(material, context: OperationContext()) == .written)
        let expected: [String] = try SinkKeys.pairs(for: material, keys: nil).map(\.key)
        #expect(expected == ["FIU_1_ENTITY_ID", "FIU_1_SECRET", "FIU_1_ACCESS_TOKEN", "FIU_1_SECRET_EXPIRES_AT", "FIU_1_TOKEN_EXPIRES_AT"])
        func entry(_ key: String, _ value: String, _ field: String) -> JSONValue {
            .object(["key": .string(key), "value": .string(value), "entity": .string("FIU-1"), "field": .string(field)])
        }
        #expect(try Self.lastRequest(scripts) == .object([
            "protocol": .integer(1), "operation": .string("write"), "dryRun": .bool(false),
            "sink": .object(["name": .string("out"), "options": .object([
                "path": .string("a/b"), "every": .integer(900), "tags": .array([.string("x"), .string("y")]), "count": .integer(3),
                "on": .bool(true), "password": .string("pw-123")])]),
            "entries": .array([entry("FIU_1_ENTITY_ID", "FIU-1", "id"), entry("FIU_1_SECRET", "s1", "secret"), entry("FIU_1_ACCESS_TOKEN", "t1", "token"),
                               entry("FIU_1_SECRET_EXPIRES_AT", "2030-03-17T17:46:40Z", "secretExpiresAt"), entry("FIU_1_TOKEN_EXPIRES_AT", "", "tokenExpiresAt")]),
        ]))
    }

    @Test("a template's field: secret or token when it holds one, else its first placeholder")
    func fields() throws {
        #expect(ExternalSink.field(of: try KeyTemplate(parsing: "{entity.id}:{entity.secret}")) == "secret")
        #expect(ExternalSink.field(of: try KeyTemplate(parsing: "Bearer {entity.token}")) == "token")
        #expect(ExternalSink.field(of: try KeyTemplate(parsing: "until {entity.tokenExpiresAt}")) == "tokenExpiresAt")
        #expect(ExternalSink.field(of: try KeyTemplate(parsing: "fixed")) == "id")
    }

    @Test("a value that is not UTF-8 fails the sink naming the key, never the value, and calls nothing")
    func notUTF8() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("keyward-sink-store", Self.storeSink)
        let sink = ExternalSink(name: "out", plugin: scripts.plugin(path), description: Self.description, keys: [("SECRET", KeyTemplate(.secret))])
        let error = await #expect(throws: KeywardError.self) {
            try await sink.write([Self.material("FIU-1", secret: [0x61, 0xff, 0x62])], context: OperationContext())
        }
        #expect(error?.description == KeywardError.operationFailed("sink out: refusing to send the value of SECRET: it is not valid UTF-8, which protocol 1 (JSON strings) cannot carry").description)
        #expect(error?.category == .operationFailed)
        #expect(!FileManager.default.fileExists(atPath: scripts.directory.appendingPathComponent("last.json").path))
    }

    @Test("plan: written when nothing is stored (notFound) or a value differs; a dry-run write never writes")
    func plan() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("keyward-sink-store", Self.storeSink)
        let sink = ExternalSink(name: "out", plugin: scripts.plugin(path), description: Self.description, keys: [("SECRET", KeyTemplate(.secret))])
        let old = [Self.material("FIU-1", secret: Array("old".utf8))]
        let new = [Self.material("FIU-1", secret: Array("new".utf8))]
        #expect(try await sink.plan(old, context: OperationContext()) == .written)
        await #expect(throws: ExternalPluginError(plugin: path, code: .notFound, message: "nothing stored")) {
            try await sink.read(old, context: OperationContext())
        }
        #expect(try await sink.write(old, context: OperationContext()) == .written)
        #expect(try await sink.write(new, context: OperationContext(dryRun: true)) == .written)
        #expect(try await sink.read(old, context: OperationContext()) == ["SECRET": Array("old".utf8)])
        #expect(try await sink.plan(old, context: OperationContext(dryRun: true)) == .unchanged)
    }

    @Test("without the read capability plan says written and read is refused")
    func noRead() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("keyward-sink-store", Self.storeSink)
        var description = Self.description
        description.capabilities = ["write"]
        let sink = ExternalSink(name: "out", plugin: scripts.plugin(path), description: description, keys: [("SECRET", KeyTemplate(.secret))])
        let material = [Self.material("FIU-1", secret: Array("v".utf8))]
        #expect(try await sink.write(material, context: OperationContext()) == .written)
        #expect(try await sink.plan(material, context: OperationContext()) == .written)
        await #expect(throws: ExternalPluginError(plugin: path, code: .protocolViolation, message: "does not claim the \"read\" capability")) {
            try await sink.read(material, context: OperationContext())
        }
    }

    @Test("an answer without an outcome is a protocol violation")
    func noOutcome() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\ncat >/dev/null\necho '{\"protocol\":1,\"outcome\":\"done\"}'\n")
        let sink = ExternalSink(name: "out", plugin: scripts.plugin(path), description: Self.description, keys: [("SECRET", KeyTemplate(.secret))])
        await #expect(throws: ExternalPluginError(plugin: path, code: .protocolViolation, message: "answered write without an \"outcome\" \"written\" or \"unchanged\"")) {
            try await sink.write([Self.material("FIU-1", secret: Array("v".utf8))], context: OperationContext())
        }
    }

    @Test("makeSink runs the plugin in the configuration's directory with the entry's keys, timeout and env names")
    func makeSink() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("keyward-sink-store", Self.storeSink)
        var configuration = SinkConfiguration(name: "out", type: "store", path: nil, entities: ["FIU-1"], onChange: nil,
                                              keys: [("K", KeyTemplate(.secret))], mode: 0o600, options: ["path": .string("p")])
        configuration.directory = scripts.directory.path
        let reference = ExternalPluginReference(kind: .sink, type: "store", command: [path], timeout: .seconds(9), environmentNames: ["REGION"],
                                                description: Self.description)
        let environment = PluginEnvironment(store: nil, credentials: CredentialResolver(store: nil), processEnvironment: ["REGION": "eu", "PATH": "/usr/bin:/bin"])
        let sink = try #require(try ExternalPlugins().makeSink(configuration, reference: reference, environment: environment) as? ExternalSink)
        #expect(sink.destination == path)
        #expect(sink.plugin.directory == scripts.directory.path)
        #expect(sink.plugin.timeout == .seconds(9))
        #expect(sink.plugin.environmentNames == ["REGION"])
        #expect(try await sink.write([Self.material("FIU-1", secret: Array("v".utf8))], context: OperationContext()) == .written)
        #expect(try await sink.read([Self.material("FIU-1", secret: Array("v".utf8))], context: OperationContext()) == ["K": Array("v".utf8)])
    }
}

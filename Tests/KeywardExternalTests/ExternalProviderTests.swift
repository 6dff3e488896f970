import Foundation
import KeywardCore
@testable import KeywardExternal
import Logging
import Testing

@Suite("External provider")
struct ExternalProviderTests {
    /// A provider keeping one secret per entity in state.json, recording each request in last.json.
    static let provider = """
        #!/usr/bin/env python3
        import json, os, sys
        request = json.load(sys.stdin)
        with open("last.json", "w") as f:
            json.dump(request, f)
        state = json.load(open("state.json")) if os.path.exists("state.json") else {}
        entity = request["entity"]
        operation = request["operation"]
        if operation == "fetch":
            print(json.dumps({"protocol": 1, "secret": state.get(entity, "initial-" + entity), "expiresAt": "2030-01-02T03:04:05Z"}))
        elif operation == "reset":
            state[entity] = "reset-%d" % (len(state) + 1)
            json.dump(state, open("state.json", "w"))
            print(json.dumps({"protocol": 1, "secret": state[entity], "expiresAt": None}))
        elif operation == "token":
            print(json.dumps({"protocol": 1, "token": "tok-" + request["secret"], "expiresAt": "2030-01-02T03:04:05.5+01:00"}))
        """

    static func make(_ scripts: PluginScripts, capabilities: [String], options: [String: ConfigurationValue] = [:],
                     environment: [String: String] = [:]) throws -> any SecretProvider {
        let path = try scripts.script("keyward-provider-files", Self.provider)
        let reference = ExternalPluginReference(kind: .provider, type: "files", command: [path],
                                                description: ExternalPluginDescription(kind: .provider, name: "files", protocols: [1], capabilities: capabilities, options: [:]))
        let plugins = PluginEnvironment(store: nil, credentials: CredentialResolver(environment: environment, store: nil), processEnvironment: ProcessInfo.processInfo.environment)
        var configuration = ProviderConfiguration(name: "files-prov", type: "files", options: options)
        configuration.directory = scripts.directory.path  // where state.json and last.json are
        let provider = try ExternalPlugins().makeProvider(configuration, reference: reference, environment: plugins)
        return provider
    }

    static func lastRequest(_ scripts: PluginScripts) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: scripts.directory.appendingPathComponent("last.json")))
    }

    @Test("makeProvider picks the type by capability: reset makes a SecretRotator, token an AccessTokenIssuer")
    func types() throws {
        let scripts = try PluginScripts()
        #expect(try Self.make(scripts, capabilities: ["fetch"]) is ExternalProvider)
        #expect(try Self.make(scripts, capabilities: ["fetch", "reset"]) is ExternalRotatingProvider)
        #expect(try Self.make(scripts, capabilities: ["fetch", "token"]) is ExternalTokenProvider)
        #expect(try Self.make(scripts, capabilities: ["token", "fetch", "reset"]) is ExternalRotatingTokenProvider)
        #expect(!(try Self.make(scripts, capabilities: ["fetch"]) is any SecretRotator))
        #expect(!(try Self.make(scripts, capabilities: ["fetch", "reset"]) is any AccessTokenIssuer))
        #expect(!(try Self.make(scripts, capabilities: ["fetch", "token"]) is any SecretRotator))
    }

    @Test("fetch sends entity and options, and gives a record like the token service's")
    func fetch() async throws {
        let scripts = try PluginScripts()
        let provider = try Self.make(scripts, capabilities: ["fetch"],
                                     options: ["store": .string("s"), "password": .credential(.environment("PW")), "every": .duration(.seconds(3600))],
                                     environment: ["PW": "pw-1"])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let context = OperationContext(clock: SystemClock(offsetSeconds: now.timeIntervalSinceNow))
        let answer = try await provider.readSecret(for: "FIU-1", context: context)
        #expect(answer.record.value.revealBytes() == Array("initial-FIU-1".utf8))
        #expect(answer.record.expiresAt == Date(timeIntervalSince1970: 1_893_553_445))
        #expect(answer.record.source == "files-prov")
        #expect(abs(answer.record.createdAt.timeIntervalSince(now)) < 60)
        #expect(answer.warnings == [])
        #expect(try Self.lastRequest(scripts) == .object(["protocol": .integer(1), "operation": .string("fetch"), "entity": .string("FIU-1"),
                                                         "options": .object(["store": .string("s"), "password": .string("pw-1"), "every": .integer(3600)])]))
    }

    @Test("reset sends secretExpiryDays when a validity is asked, and a null expiresAt means no expiry")
    func reset() async throws {
        let scripts = try PluginScripts()
        let provider = try #require(try Self.make(scripts, capabilities: ["fetch", "reset"]) as? any SecretRotator)
        let first = try await provider.resetSecret(for: "FIU-1", validityDays: 90, context: OperationContext())
        #expect(first.record.value.revealBytes() == Array("reset-1".utf8))
        #expect(first.record.expiresAt == nil)
        #expect(try Self.lastRequest(scripts).objectValue?["secretExpiryDays"] == .integer(90))
        _ = try await provider.resetSecret(for: "FIU-2", validityDays: nil, context: OperationContext())
        #expect(try Self.lastRequest(scripts).objectValue?["secretExpiryDays"] == nil)
        #expect(try await provider.readSecret(for: "FIU-1", context: OperationContext()).record.value.revealBytes() == Array("reset-1".utf8))
    }

    @Test("token sends the secret and gives the token with its expiry")
    func token() async throws {
        let scripts = try PluginScripts()
        let provider = try #require(try Self.make(scripts, capabilities: ["fetch", "token"]) as? any AccessTokenIssuer)
        let answer = try await provider.issueAccessToken(for: "FIU-1", secret: SecretValue(bytes: Array("sec".utf8)), context: OperationContext())
        #expect(answer.record.value.revealBytes() == Array("tok-sec".utf8))
        #expect(answer.record.expiresAt == Date(timeIntervalSince1970: 1_893_549_845.5))
        #expect(answer.record.source == "files-prov")
        #expect(try Self.lastRequest(scripts).objectValue?["secret"] == .string("sec"))
    }

    @Test("malformed answers are protocol violations naming the field", arguments: [
        (#"{"protocol":1,"expiresAt":null}"#, "fetch", "answered fetch without a \"secret\" string"),
        (#"{"protocol":1,"secret":42}"#, "fetch", "answered fetch without a \"secret\" string"),
        (#"{"protocol":1,"secret":"s","expiresAt":"tomorrow"}"#, "fetch", "answered fetch with an \"expiresAt\" that is not an RFC 3339 date-time"),
        (#"{"protocol":1,"secret":"s","expiresAt":1893553445}"#, "reset", "answered reset with an \"expiresAt\" that is not an RFC 3339 date-time"),
        (#"{"protocol":1,"expiresAt":"2030-01-02T03:04:05Z"}"#, "token", "answered token without a \"token\" string"),
        (#"{"protocol":1,"token":"t"}"#, "token", "answered token without \"expiresAt\""),
        (#"{"protocol":1,"secret":"a\u0000b","expiresAt":null}"#, "fetch", "answered fetch with a \"secret\" holding a NUL character, which no sink can deliver"),
        (#"{"protocol":1,"token":"t\u0000","expiresAt":"2030-01-02T03:04:05Z"}"#, "token", "answered token with a \"token\" holding a NUL character, which no sink can deliver"),
        (#"{"protocol":1,"token":"t","expiresAt":"2001-01-01T00:00:00Z"}"#, "token",
         "answered token with an \"expiresAt\" that has passed (2001-01-01T00:00:00Z): the access token is already expired"),
    ])
    func malformed(answer: String, operation: String, message: String) async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\ncat >/dev/null\ncat <<'JSON'\n\(answer)\nJSON\n")
        let reference = ExternalPluginReference(kind: .provider, type: "x", command: [path],
                                                description: ExternalPluginDescription(kind: .provider, name: "x", protocols: [1], capabilities: ["fetch", "reset", "token"], options: [:]))
        let provider = try ExternalPlugins().makeProvider(ProviderConfiguration(name: "x", type: "x"), reference: reference,
                                                          environment: PluginEnvironment(store: nil, credentials: CredentialResolver(store: nil)))
        let typed = try #require(provider as? ExternalRotatingTokenProvider)
        await #expect(throws: ExternalPluginError(plugin: path, code: .protocolViolation, message: message)) {
            switch operation {
            case "fetch": _ = try await typed.readSecret(for: "FIU-1", context: OperationContext())
            case "reset": _ = try await typed.resetSecret(for: "FIU-1", validityDays: nil, context: OperationContext())
            default: _ = try await typed.issueAccessToken(for: "FIU-1", secret: SecretValue(bytes: Array("s".utf8)), context: OperationContext())
            }
        }
    }

    @Test("a reset that times out is thrown at once, never sent again")
    func resetTimeout() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\ncat >/dev/null\necho x >> resets\nsleep 1000\n")
        let reference = ExternalPluginReference(kind: .provider, type: "x", command: [path], timeout: .milliseconds(300),
                                                description: ExternalPluginDescription(kind: .provider, name: "x", protocols: [1], capabilities: ["fetch", "reset"], options: [:]))
        var configuration = ProviderConfiguration(name: "x", type: "x")
        configuration.directory = scripts.directory.path
        let provider = try #require(try ExternalPlugins().makeProvider(configuration, reference: reference,
                                                                        environment: PluginEnvironment(store: nil, credentials: CredentialResolver(store: nil))) as? ExternalRotatingProvider)
        await #expect(throws: ExternalPluginError.self) {
            try await provider.resetSecret(for: "FIU-1", validityDays: 30, context: OperationContext())
        }
        #expect(try String(contentsOf: scripts.directory.appendingPathComponent("resets"), encoding: .utf8) == "x\n")
    }
}

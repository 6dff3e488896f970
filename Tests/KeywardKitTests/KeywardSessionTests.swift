import Foundation
import KeywardCore
import KeywardKit
import KeywardTesting
import KeywardVault
import Testing

/// A private directory with a key file, removed at the end.
private final class Sandbox: @unchecked Sendable {
    let root: String
    init() throws {
        root = FileManager.default.temporaryDirectory.path + "/keyward-session-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// A vault at `root/vault.db` unlocked by the key file `root/vault.key`; the environment that unlocks it.
    func makeVault() throws -> [String: String] {
        let key = root + "/vault.key"
        try VaultKeySource.createKeyFile(at: key)
        let environment = ["KEYWARD_KEY_FILE": key, "XDG_STATE_HOME": root + "/state"]
        let anchors = VaultOptions.defaultAnchorDirectory(environment: environment)
        _ = try Vault.create(at: root + "/vault.db", keySource: .keyFile(key), options: VaultOptions(anchorDirectory: anchors))
        return environment
    }

    func write(_ text: String, to name: String) throws -> String {
        let path = root + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// What a key source is, for comparison (VaultKeySource is not Equatable: it holds a secret).
private func shown(_ source: VaultKeySource) -> String {
    switch source {
    case .keyFile(let path): "key file \(path)"
    case .passphrase(let value): "passphrase " + value.withRevealedBytes { String(decoding: $0, as: UTF8.self) }
    }
}

@Suite("KeywardSession: the session rules, in the library")
struct KeywardSessionTests {
    @Test("the vault path: --vault, else $KEYWARD_VAULT, else vault.path, else $XDG_DATA_HOME/keyward/vault.db")
    func vaultPathPrecedence() {
        let environment = ["KEYWARD_VAULT": "/env/vault.db", "XDG_DATA_HOME": "/data"]
        #expect(VaultLocation.resolveWithSource(flag: "/flag.db", configured: "/config.db", environment: environment) == ("/flag.db", .flag))
        #expect(VaultLocation.resolveWithSource(flag: nil, configured: "/config.db", environment: environment) == ("/env/vault.db", .env))
        #expect(VaultLocation.resolveWithSource(flag: "", configured: "/config.db", environment: ["XDG_DATA_HOME": "/data"]) == ("/config.db", .config))
        #expect(VaultLocation.resolveWithSource(flag: nil, configured: nil, environment: ["XDG_DATA_HOME": "/data"]) == ("/data/keyward/vault.db", .default))
        #expect(VaultLocation.resolve(flag: "relative.db", configured: nil, environment: [:]) == FileManager.default.currentDirectoryPath + "/relative.db")
    }

    @Test("the unlock order: key file, passphrase, passphrase file, then the prompt; none is exit 4 naming them")
    func unlockOrder() throws {
        let sandbox = try Sandbox()
        let key = sandbox.root + "/k.key"
        try VaultKeySource.createKeyFile(at: key)
        let passphraseFile = try sandbox.write("from the file\n", to: "pass")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: passphraseFile)
        let prompted: @Sendable (String) throws -> SecretValue? = { _ in SecretValue(utf8: "typed") }
        let all = ["KEYWARD_KEY_FILE": key, "KEYWARD_PASSPHRASE": "from the variable", "KEYWARD_PASSPHRASE_FILE": passphraseFile]

        #expect(try shown(VaultUnlock.keySource(environment: all, prompt: prompted)) == "key file \(key)")
        #expect(try shown(VaultUnlock.keySource(environment: all.filter { $0.key != "KEYWARD_KEY_FILE" }, prompt: prompted))
            == "passphrase from the variable")
        #expect(try shown(VaultUnlock.keySource(environment: ["KEYWARD_PASSPHRASE_FILE": passphraseFile], prompt: prompted))
            == "passphrase from the file")
        #expect(try shown(VaultUnlock.keySource(environment: [:], prompt: prompted)) == "passphrase typed")

        let none = #expect(throws: VaultError.self) { try VaultUnlock.keySource(environment: [:], prompt: { _ in nil }) }
        #expect(none?.category == .vault)
        #expect(none?.description.contains("KEYWARD_KEY_FILE") == true && none?.description.contains("KEYWARD_PASSPHRASE_FILE") == true)
        let empty = #expect(throws: VaultError.self) { try VaultUnlock.keySource(environment: ["KEYWARD_PASSPHRASE": ""], prompt: prompted) }
        #expect(empty?.description == "empty passphrase: KEYWARD_PASSPHRASE is set but empty; nothing was unlocked")
    }

    @Test("a program's own sink type is loaded from keyward.yaml beside the built-in ones")
    func ownSinkType() throws {
        let sandbox = try Sandbox()
        var registry = BuiltInPlugins.registry()
        RecordingSink.register(in: &registry)
        let config = try sandbox.write("""
            version: 1
            providers:
              uat:
                baseURL: uat
                username: ops@example.com
            entities:
              FIU-EXAMPLE-1: {}
            sinks:
              mine:
                type: recording
                path: out.rec
                entities: [FIU-EXAMPLE-1]
                flavour: fancy
              env:
                type: dotenv
                path: out.env
                entities: [FIU-EXAMPLE-1]
            """, to: "keyward.yaml")
        let dispatcher = try KeywardSession.loadConfiguration(.init(configPath: config, environment: [:], registry: registry))
        #expect(dispatcher.configuration.sinks.mapValues(\.type) == ["mine": "recording", "env": "dotenv"])
        #expect(throws: ConfigurationError.self) {
            try KeywardSession.loadConfiguration(.init(configPath: config, environment: [:], registry: BuiltInPlugins.registry()))
        }
    }

    @Test("a vault session: entries read and written through the Dispatcher, each audited once; a missing configuration or vault refused")
    func vaultThroughTheDispatcher() async throws {
        let sandbox = try Sandbox()
        var environment = try sandbox.makeVault()
        environment["KEYWARD_VAULT"] = sandbox.root + "/vault.db"
        let context = OperationContext()
        let options = KeywardSession.Options(configPath: nil, environment: environment)

        let session = try KeywardSession.openVault(options, context: context)
        let name: SecretName = "providers/uat/password"
        let stored = try await session.dispatcher.vaultPut(name, value: SecretValue(utf8: "pa$$ word\n"), context: context)
        #expect(stored.record.version == 1)
        #expect(stored.fingerprint == session.vault.fingerprint(SecretValue(utf8: "pa$$ word\n")))
        #expect(try await session.dispatcher.vaultGet(name, context: context).value == SecretValue(utf8: "pa$$ word\n"))
        await #expect(throws: (any Error).self) { try await session.dispatcher.vaultGet(name, label: .pending, context: context) }
        #expect(try await session.dispatcher.vaultList(context: context) == [name])
        #expect(try await session.dispatcher.vaultHistory(name, context: context).map(\.labels) == [[.current]])
        try await session.dispatcher.vaultRemove(name, context: context)
        let rows = try await session.vault.entries(since: nil).map { [$0.operation, $0.entity ?? "-", $0.outcome] }
        #expect(rows == [
            ["vault put", name.rawValue, "ok"], ["vault get", name.rawValue, "ok"], ["vault get", name.rawValue, "failed"],
            ["vault rm", name.rawValue, "ok"],
        ])

        // A configuration that was named must exist: exit 2 before anything is unlocked.
        let missing = KeywardSession.Options(configPath: sandbox.root + "/missing.yaml", environment: environment)
        #expect(throws: ConfigurationError.self) { try KeywardSession.openVault(missing, context: context) }
        // No vault there: exit 4 before any key is asked for.
        let elsewhere = KeywardSession.Options(vaultPath: sandbox.root + "/none.db", environment: [:])
        let error = #expect(throws: VaultError.self) { try KeywardSession.openVault(elsewhere, context: context) }
        #expect(error?.category == .vault)
    }

    @Test("a session and its options never show the environment's unlock secrets: description, reflection, dump")
    func noLeak() throws {
        let sandbox = try Sandbox()
        var environment = try sandbox.makeVault()
        environment["KEYWARD_VAULT"] = sandbox.root + "/vault.db"
        environment["KEYWARD_PASSPHRASE"] = "hunter2-passphrase-value"
        environment["KEYWARD_PASSPHRASE_FILE"] = "/secret/path-value"
        let options = KeywardSession.Options(environment: environment)
        let session = try KeywardSession.openVault(options, context: OperationContext())
        for value in [options as Any, session as Any] {
            var dumped = ""
            dump(value, to: &dumped)
            for text in ["\(value)", String(reflecting: value), dumped] {
                #expect(!text.contains("hunter2-passphrase-value") && !text.contains("/secret/path-value"), "\(text)")
            }
        }
    }
}

import ArgumentParser
import Foundation
import KeywardCore
import KeywardKit
import KeywardSimulator
import KeywardVault

/// `keyward quickstart`: the whole flow that exists, on the embedded simulator, in a temporary
/// directory that is removed afterwards.
struct QuickstartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Run the whole flow on the embedded token service simulator, in a temporary directory.",
        discussion: """
            Starts the simulator (a test double) on a free loopback port; creates a throw-away \
            vault (key-file unlock) and keyward.yaml for two demo entities with a dotenv and a \
            JSON sink; logs in; syncs both entities (secret read, entity token minted, sinks \
            written) through the same engine a real deployment uses; prints the status and the \
            paths it wrote; then removes everything unless --keep is given. Prints no secret. \
            Exits 0 when all of it worked.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Keep the temporary directory and print its path.")
    var keep = false

    func run() async throws {
        let context = global.makeContext()
        // A fresh random password for the demo user: it exists only in this process.
        let password = String((0..<24).map { _ in "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789+/=".randomElement()! })
        let simulator = TokenServiceSimulator(seed: .demo(password: password))
        let baseURL = try await simulator.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-quickstart-\(UUID().uuidString.prefix(8))")
        defer {
            if !keep { try? FileManager.default.removeItem(at: directory) }
        }
        do {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("deploy"), withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let configPath = directory.appendingPathComponent("keyward.yaml").path
            let yaml = """
                version: 1
                vault:
                  path: vault/vault.db
                providers:
                  sim:
                    type: token-service
                    baseURL: \(baseURL.absoluteString)
                    username: ops@example.com
                    timeout: 5s
                entities:
                  FIU-EXAMPLE-1:
                    provider: sim
                    secretExpiryDays: 90
                  FIU-EXAMPLE-2:
                    provider: sim
                sinks:
                  app-env:
                    type: dotenv
                    path: deploy/app.env
                    entities: [FIU-EXAMPLE-1, FIU-EXAMPLE-2]
                  app-json:
                    type: json
                    path: deploy/credentials.json
                    entities: [FIU-EXAMPLE-1]
                    pretty: true

                """
            try Data(yaml.utf8).write(to: URL(fileURLWithPath: configPath))
            let loaded = try Dispatcher.load(configPath: configPath, registry: BuiltInPlugins.registry())
            let keyFile = directory.appendingPathComponent("vault.key").path
            try VaultKeySource.createKeyFile(at: keyFile)
            let vault = try Vault.create(at: loaded.configuration.vault.path!, keySource: .keyFile(keyFile),
                                         options: VaultOptions(logger: context.logger, clock: context.clock))
            let dispatcher = loaded.with(vault: vault)
            // Text lines as each step finishes; with --output json, one document at the end.
            let text = global.output == .text
            func say(_ line: String) { if text { Output.print(line) } }
            say("simulator:     \(baseURL.absoluteString) (a test double)")
            say("configuration: \(configPath)")
            say("vault:         \(vault.path) (unlocked with the key file \(keyFile))")

            try await dispatcher.login(provider: "sim", password: SecretValue(utf8: password), context: context)
            say("login:         password for ops@example.com checked and stored in the vault")

            let report = try await dispatcher.sync(SyncRequest(), context: context)
            say("\nkeyward sync")
            say(SyncCommand.render(report).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            if let category = report.failureCategory {
                if !text { try Output.printJSON(QuickstartDocument(simulator: baseURL.absoluteString, configuration: configPath, vault: vault.path,
                                                                    keyFile: keyFile, sync: report, status: nil, calls: [:], written: [],
                                                                    directory: directory.path, kept: keep)) }
                let failures = report.entities.filter { $0.outcome == .failed }.map { "entity \($0.id): \($0.error?.message ?? "failed")" }
                    + report.sinks.filter { $0.outcome == .failed }.map { "sink \($0.name): \($0.error?.message ?? "failed")" }
                throw KeywardError(category, (["quickstart: the sync did not complete"] + failures).joined(separator: "\nkeyward: "))
            }
            let status = try await dispatcher.status(context: context)
            say("\nkeyward status")
            say(StatusCommand.render(status).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))

            let counters = simulator.counters()
            let written = report.sinks.compactMap(\.path)
            say("\ntoken service calls: userToken \(counters[.userToken] ?? 0), secretRead \(counters[.secretRead] ?? 0), entityToken \(counters[.entityToken] ?? 0), secretReset \(counters[.secretReset] ?? 0)")
            say("written: " + written.joined(separator: ", "))
            say(keep ? "kept: \(directory.path) (try: KEYWARD_KEY_FILE=\(keyFile) keyward status --config \(configPath))" : "cleaned up: \(directory.path)")
            if !text {
                let calls = Dictionary(uniqueKeysWithValues: [SimulatorEndpoint.userToken, .secretRead, .entityToken, .secretReset].map {
                    ($0.rawValue, counters[$0] ?? 0)
                })
                try Output.printJSON(QuickstartDocument(simulator: baseURL.absoluteString, configuration: configPath, vault: vault.path, keyFile: keyFile,
                                                        sync: report, status: status, calls: calls, written: written, directory: directory.path,
                                                        kept: keep))
            }
            await simulator.stop()
        } catch {
            await simulator.stop()
            throw error
        }
    }
}

/// `quickstart --output json`: what the text shows, as one document. `sync` and `status` are
/// the documents those commands print; `calls` counts the simulator's calls by endpoint;
/// `directory` is removed afterwards unless `kept`.
struct QuickstartDocument: Encodable {
    var version = 1
    var simulator: String
    var configuration: String
    var vault: String
    var keyFile: String
    var sync: SyncReport
    var status: StatusReport?
    var calls: [String: Int]
    var written: [String]
    var directory: String
    var kept: Bool

    init(simulator: String, configuration: String, vault: String, keyFile: String, sync: SyncReport, status: StatusReport?,
         calls: [String: Int], written: [String], directory: String, kept: Bool) {
        self.simulator = simulator
        self.configuration = configuration
        self.vault = vault
        self.keyFile = keyFile
        self.sync = sync
        self.status = status
        self.calls = calls
        self.written = written
        self.directory = directory
        self.kept = kept
    }
}

import ArgumentParser
import Foundation
import KeywardCore
import KeywardSimulator

/// `keyward quickstart`: the whole flow that exists, on the embedded simulator, in a temporary
/// directory that is removed afterwards.
struct QuickstartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Run the whole flow on the embedded token service simulator, in a temporary directory.",
        discussion: """
            Starts the simulator (a test double) on a free loopback port, writes a throw-away \
            keyward.yaml for two demo entities, checks it, then for each entity reads its secret \
            and mints an entity access token through the same client and configuration a real \
            deployment uses. Prints expiries and txnIds, never a secret. Exits 0 when all of \
            it worked.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Keep the temporary directory and print its path.")
    var keep = false

    func run() async throws {
        let context = global.makeContext()
        // A fresh random password for the demo user: it exists only in this process.
        let password = (0..<24).map { _ in "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789+/=".randomElement()! }
        let passwordVariable = "KEYWARD_QUICKSTART_PASSWORD"
        let simulator = TokenServiceSimulator(seed: .demo(password: String(password)))
        let baseURL = try await simulator.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-quickstart-\(UUID().uuidString.prefix(8))")
        defer {
            if !keep { try? FileManager.default.removeItem(at: directory) }
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let configPath = directory.appendingPathComponent("keyward.yaml").path
            let yaml = """
                version: 1
                vault:
                  path: vault.db
                providers:
                  sim:
                    type: token-service
                    baseURL: \(baseURL.absoluteString)
                    username: ops@example.com
                    password: env:\(passwordVariable)
                    timeout: 5s
                entities:
                  FIU-EXAMPLE-1:
                    provider: sim
                    secretExpiryDays: 90
                  FIU-EXAMPLE-2:
                    provider: sim

                """
            try Data(yaml.utf8).write(to: URL(fileURLWithPath: configPath))
            var environment = ProcessInfo.processInfo.environment
            environment[passwordVariable] = String(password)
            let dispatcher = try Dispatcher.load(configPath: configPath, registry: BuiltInPlugins.registry(), environment: environment)
            let summary = try dispatcher.checkConfiguration()
            Output.print("simulator: \(baseURL.absoluteString) (a test double)")
            Output.print("configuration: \(configPath): \(summary.providers.count) provider, \(summary.entities.count) entities")
            for entity in summary.entities {
                let id = EntityID(entity.id)!
                let result = try await dispatcher.probe(entity: id, context: context)
                let secretExpiry = result.secretExpiresAt.map { "expires \(Timestamps.format($0)) (\(Self.relative($0, from: context.clock.now)))" } ?? "no expiry"
                let tokenExpiry = result.tokenExpiresAt.map { "expires \(Timestamps.format($0)) (\(Self.relative($0, from: context.clock.now)))" } ?? "not minted"
                Output.print("\(id): secret read (\(result.secretLength) bytes, \(secretExpiry)); entity token minted (\(tokenExpiry)); txnIds \(result.txnIds.joined(separator: ", "))")
                for warning in result.warnings { Output.warn("\(id): \(warning)") }
            }
            let counters = simulator.counters()
            Output.print("token service calls: userToken \(counters[.userToken] ?? 0), secretRead \(counters[.secretRead] ?? 0), entityToken \(counters[.entityToken] ?? 0), secretReset \(counters[.secretReset] ?? 0)")
            Output.print(keep ? "kept: \(directory.path)" : "cleaned up: \(directory.path)")
            await simulator.stop()
        } catch {
            await simulator.stop()
            throw error
        }
    }

    static func relative(_ date: Date, from now: Date) -> String {
        let seconds = date.timeIntervalSince(now)
        if abs(seconds) >= 2 * 86_400 { return "in \(Int((seconds / 86_400).rounded())) days" }
        if abs(seconds) >= 3_600 { return "in \(Int((seconds / 3_600).rounded())) hours" }
        return "in \(Int((seconds / 60).rounded())) minutes"
    }
}

import Foundation
import KeywardSimulator
import Testing

/// The SwiftPM command plugin, run from Keyward's own package the way a service's package runs it.
@Suite("swift package keyward-export", .serialized)
struct PluginTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `swift package … keyward-export ARGS` in Keyward's package. `--ignore-lock`: the
    /// `swift test` running this test holds the build lock; the plugin only reads the build.
    func runPlugin(_ arguments: [String], environment: [String: String]) async throws -> CommandRunner.Result {
        try await CommandRunner.run(
            ["--ignore-lock", "--allow-writing-to-package-directory", "keyward-export"] + arguments,
            environment: environment.merging(["HOME": ProcessInfo.processInfo.environment["HOME"] ?? "/root"]) { $1 },
            directory: nil, executable: "swift", subcommand: "package", workingDirectory: Self.packageRoot)
    }

    @Test("writes the sinks of a package's keyward.yaml, and fails with a SwiftPM error when the vault is locked")
    func plugin() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        try (try String(contentsOf: config, encoding: .utf8)
            + "sinks:\n  dev-env:\n    type: dotenv\n    path: \(fixture.directory.path)/dev.env\n    entities: [FIU-ALPHA]\n")
            .write(to: config, atomically: true, encoding: .utf8)
        let vault = fixture.directory.appendingPathComponent("state/vault.db").path

        let locked = try await runPlugin(["--config", config.path], environment: ["KEYWARD_VAULT": vault])
        #expect(locked.status != 0)
        #expect(locked.all.contains("error: keyward-export: the vault is locked"), "\(locked.all)")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("dev.env").path))

        let result = try await runPlugin(["--config", config.path], environment: fixture.environment.merging(["KEYWARD_VAULT": vault]) { $1 })
        #expect(result.status == 0, "\(result.all)")
        let written = try await readWithPythonDotenv(fixture.directory.appendingPathComponent("dev.env").path)
        #expect(written["FIU_ALPHA_SECRET"] == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(fixture.secrets().filter { result.all.contains($0) }.isEmpty)
    }
}

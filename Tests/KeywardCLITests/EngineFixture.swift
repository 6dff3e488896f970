import Foundation
import KeywardSimulator
import Testing

/// A temporary project: an in-process simulator with three entities (the user may manage two of
/// them... and a third it may not), a key-file vault made by `keyward vault init`, and a
/// keyward.yaml pointing at the simulator.
struct EngineFixture {
    static let password = "Adm1n pass+/=&%'\"$HOME"
    let directory: URL
    let simulator: TokenServiceSimulator
    let baseURL: URL
    var environment: [String: String]

    /// - Parameter prepare: runs on the fresh directory before anything is created in it (the
    ///   disk-fault tests mount their small disks at `state/` and `deploy/` there).
    static func start(extraConfig: String = "", forbidden: Bool = false, prepare: (URL) throws -> Void = { _ in }) async throws -> EngineFixture {
        let directory = try CommandRunner.temporaryDirectory()
        try prepare(directory)
        let allowed = ["FIU-ALPHA", "FIU-BETA"] + (forbidden ? [] : ["FIU-GAMMA"])
        let seed = SimulatorSeed(
            users: [.init(username: "ops@example.com", password: password, entities: allowed)],
            entities: [
                .init(id: "FIU-ALPHA", secret: "alpha+secret/with=\"quotes\" and $dollars", expiresIn: 90 * 86_400),
                .init(id: "FIU-BETA", expiresIn: 40 * 86_400),
                .init(id: "FIU-GAMMA", expiresIn: nil),
            ])
        let simulator = TokenServiceSimulator(seed: seed)
        let baseURL = try await simulator.start()
        let config = """
            version: 1
            vault:
              path: state/vault.db
            providers:
              sim:
                baseURL: \(baseURL.absoluteString)
                username: ops@example.com
                timeout: 30s
            entities:
              FIU-ALPHA:
                secretExpiryDays: 90
              FIU-BETA: {}
              FIU-GAMMA: {}
            \(extraConfig)
            """
        try config.write(to: directory.appendingPathComponent("keyward.yaml"), atomically: true, encoding: .utf8)
        var fixture = EngineFixture(directory: directory, simulator: simulator, baseURL: baseURL,
                                    environment: ["KEYWARD_KEY_FILE": directory.appendingPathComponent("vault.key").path])
        let initResult = try await fixture.run(["vault", "init", "--new-key-file", directory.appendingPathComponent("vault.key").path])
        #expect(initResult.status == 0, "\(initResult.all)")
        let login = try await fixture.run(["login", "sim"], stdin: password + "\n")
        #expect(login.status == 0, "\(login.all)")
        fixture.environment["KEYWARD_KEY_FILE"] = directory.appendingPathComponent("vault.key").path
        return fixture
    }

    func run(_ arguments: [String], stdin: String? = nil, extraEnvironment: [String: String] = [:]) async throws -> CommandRunner.Result {
        try await CommandRunner.run(arguments, environment: environment.merging(extraEnvironment) { $1 }, stdin: stdin, directory: directory)
    }

    func counter(_ endpoint: SimulatorEndpoint) -> Int { simulator.counters()[endpoint] ?? 0 }

    /// Every secret value in play: the password and each entity's current secret.
    func secrets() -> [String] {
        [Self.password] + ["FIU-ALPHA", "FIU-BETA", "FIU-GAMMA"].compactMap { simulator.currentSecret(for: $0) }
    }

    /// The exact bytes `keyward vault get NAME` prints.
    func vaultGet(_ name: String) async throws -> String {
        let result = try await run(["vault", "get", name])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout
    }

    func stop() async {
        await simulator.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

import Foundation
import KeywardSimulator
import KeywardTesting
import Testing

/// Several "hosts" sharing one entity through an OpenBao store (DESIGN.md, "Beyond one
/// machine"): each host is a working directory with its own vault, key file, configuration and
/// host name (`KEYWARD_HOSTNAME`, what its leases record), all talking to one in-process token
/// service simulator and to the OpenBao node the test gives it.
struct SharedHosts {
    static let password = EngineFixture.password
    /// A provider timeout short enough that a lease of ``leaseTTL`` leaves room for a reset
    /// (the fence needs the provider's timeout plus 5 s of lease left after advancing to `sent`).
    static let providerTimeout = "5s"
    static let leaseTTL = "15s"
    static let leaseSeconds: Double = 15

    let simulator: TokenServiceSimulator
    let prefix: String
    var hosts: [Host]

    struct Host {
        let name: String
        let directory: URL
        var environment: [String: String]

        func run(_ arguments: [String], stdin: String? = nil, extra: [String: String] = [:]) async throws -> CommandRunner.Result {
            try await CommandRunner.run(arguments, environment: environment.merging(extra) { $1 }, stdin: stdin, directory: directory)
        }

        /// A `keyward` process started now (not waited for), its stdout and stderr piped.
        func launch(_ arguments: [String], extra: [String: String] = [:]) throws -> (Process, Pipe, Pipe) {
            let process = Process()
            process.executableURL = CommandRunner.binary
            process.arguments = arguments
            process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "NO_COLOR": "1",
                                   "HOME": directory.path, "XDG_DATA_HOME": directory.appendingPathComponent("data").path,
                                   "XDG_STATE_HOME": directory.appendingPathComponent("state").path]
                .merging(environment) { $1 }.merging(extra) { $1 }
            process.currentDirectoryURL = directory
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            return (process, out, err)
        }

        /// The secret the host's `app` sink holds.
        func sinkSecret() throws -> String? {
            let data = try Data(contentsOf: directory.appendingPathComponent("deploy/app.json"))
            return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["AA_CLIENT_SECRET"] as? String
        }

        /// The exact bytes `keyward vault get NAME` prints.
        func vaultGet(_ name: String) async throws -> String {
            let result = try await run(["vault", "get", name])
            #expect(result.status == 0, "\(name) on \(self.name): \(result.stderr)")
            return result.stdout
        }
    }

    /// Starts the simulator and makes one host per entry of `addresses` (host `i` talks to
    /// `addresses[i]`); `followers` lists the hosts whose FIU-ALPHA follows the shared store
    /// (no username, no password, `secretSource: shared`).
    static func start(addresses: [URL], rootToken: String, followers: Set<Int> = []) async throws -> SharedHosts {
        let seed = SimulatorSeed(
            users: [.init(username: "ops@example.com", password: password, entities: ["FIU-ALPHA"])],
            entities: [.init(id: "FIU-ALPHA", secret: "alpha+secret/with=\"quotes\" and $dollars", expiresIn: 90 * 86_400)])
        let simulator = TokenServiceSimulator(seed: seed)
        let baseURL = try await simulator.start()
        let prefix = "keyward/test-\(UUID().uuidString.prefix(8).lowercased())"
        var hosts: [Host] = []
        for (index, address) in addresses.enumerated() {
            let directory = try CommandRunner.temporaryDirectory()
            let follower = followers.contains(index)
            let config = """
                version: 1
                vault:
                  path: state/vault.db
                shared:
                  type: openbao
                  address: \(address.absoluteString)
                  auth:
                    token: env:BAO_TOKEN
                  mount: secret
                  prefix: \(prefix)
                  leaseTTL: \(leaseTTL)
                  timeout: 20s
                providers:
                  sim:
                    baseURL: \(baseURL.absoluteString)
                \(follower ? "" : "    username: ops@example.com\n")    timeout: \(providerTimeout)
                entities:
                  FIU-ALPHA:
                    secretExpiryDays: 90
                \(follower ? "    secretSource: shared\n" : "")sinks:
                  app:
                    type: json
                    path: deploy/app.json
                    entities: [FIU-ALPHA]
                    keys:
                      AA_CLIENT_ID: "{entity.id}"
                      AA_CLIENT_SECRET: "{entity.secret}"
                      AA_TOKEN: "{entity.token}"
                """
            try config.write(to: directory.appendingPathComponent("keyward.yaml"), atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("deploy"), withIntermediateDirectories: true)
            let key = directory.appendingPathComponent("vault.key").path
            var host = Host(name: "host-\(Character(UnicodeScalar(UInt8(97 + index))))", directory: directory,
                            environment: ["BAO_TOKEN": rootToken])
            host.environment["KEYWARD_HOSTNAME"] = host.name
            let made = try await host.run(["vault", "init", "--new-key-file", key])
            #expect(made.status == 0, "\(made.all)")
            host.environment["KEYWARD_KEY_FILE"] = key
            if !follower {
                let login = try await host.run(["login", "sim"], stdin: password + "\n")
                #expect(login.status == 0, "\(login.all)")
            }
            hosts.append(host)
        }
        return SharedHosts(simulator: simulator, prefix: prefix, hosts: hosts)
    }

    func resets() -> Int { simulator.counters()[.secretReset] ?? 0 }

    /// Every secret in play: the password, the service's secret and every earlier one.
    func secrets(_ more: [String] = []) -> [String] {
        [Self.password] + [simulator.currentSecret(for: "FIU-ALPHA")].compactMap { $0 } + more
    }

    /// The publication record as the real `bao kv get -format=json` reads it: its data.
    static func publication(_ cluster: OpenBaoRaftCluster, prefix: String) async throws -> [String: String]? {
        try await publication(address: cluster.addresses[try await cluster.leader()], token: cluster.rootToken, prefix: prefix)
    }

    /// The same on any server (run off Swift's cooperative pool: `bao` is waited for).
    static func publication(address: URL, token: String, prefix: String) async throws -> [String: String]? {
        let result = try await CommandRunner.offPool {
            try OpenBaoCLI.run(["kv", "get", "-format=json", "-mount=secret", "\(prefix)/entities/FIU-ALPHA"], address: address, token: token)
        }
        guard result.status == 0 else { return nil }
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return (document?["data"] as? [String: Any])?["data"] as? [String: String]
    }

    /// Every host's vault and sink hold the service's current secret.
    func expectConverged(_ note: String, hosts chosen: [Int]? = nil) async throws {
        let server = try #require(simulator.currentSecret(for: "FIU-ALPHA"))
        for index in chosen ?? Array(hosts.indices) {
            let host = hosts[index]
            #expect(try await host.vaultGet("entities/FIU-ALPHA/secret") == server, "\(note): \(host.name)'s vault follows the service")
            #expect(try host.sinkSecret() == server, "\(note): \(host.name)'s sink holds the service's secret")
        }
    }

    func stop() async {
        await simulator.stop()
        for host in hosts { try? FileManager.default.removeItem(at: host.directory) }
    }
}

extension SharedHosts {
    /// Waits for `process` and returns its status and output.
    static func finish(_ launched: (Process, Pipe, Pipe)) async -> CommandRunner.Result {
        let (process, out, err) = launched
        async let stdout = RotateCLITests.readAll(out)
        async let stderr = RotateCLITests.readAll(err)
        let (o, e) = await (stdout, stderr)
        let status = await RotateCLITests.wait(process)
        return CommandRunner.Result(status: status, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Whether the process is stopped (SIGSTOP): `T` in /proc/PID/stat.
    static func isStopped(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)] == "T"
    }
}

import ArgumentParser
import Foundation
import KeywardCore
import KeywardSimulator
import Logging

/// `keyward simulator`: run the token service simulator on loopback (DESIGN.md, "The simulator").
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "Run the token service simulator (a test double) on loopback.",
        discussion: """
            A TEST DOUBLE of the IAM token service, for tests, demos and the quickstart; never \
            point it at real credentials. It serves the four token service calls under \
            http://HOST:PORT/iam/v1 (use that as a provider's baseURL) and an admin API that \
            reveals every secret it holds:

              GET    /_sim/counters        calls per endpoint
              POST   /_sim/counters/reset  zero the counters
              GET    /_sim/secrets         entity id -> current secret
              POST   /_sim/clock           {"advanceSeconds": N}
              POST   /_sim/faults          {"endpoint": E, "kind": K, "count": N}
              DELETE /_sim/faults          forget queued faults
              POST   /_sim/revoke-user-tokens  refuse every user token minted so far \
            (401, as after a restart)
              POST   /_sim/config          {"expiresOnUnit": "s" or "ms"}
              POST   /_sim/entities/ID/expiry  {"expiresInSeconds": N or null}: the \
            secret's expiry changes in place, its bytes stay (null: never expires)

            E: userToken, secretRead, secretReset, entityToken or any. K: latency \
            (with "ms"), status500, html502, rateLimit429 (with "retryAfter", default \
            1), drop, truncate, dropAfterApplying (the server acts, then drops), oversized \
            (the server acts, then answers 2 MiB).

            Once ready it prints exactly one line on stdout, `listening on http://127.0.0.1:PORT`; \
            logs go to stderr. SIGTERM or SIGINT stop it cleanly (exit 0).

            Without --seed it uses a demo seed: user ops@example.com, allowed for FIU-EXAMPLE-1 \
            (secret valid 180 days) and FIU-EXAMPLE-2 (90 days), both generated at start. The \
            demo user's password is read from the KEYWARD_SIM_PASSWORD environment variable, \
            or is "demo-password" when that is unset. It is never printed.

            Seed file (YAML):
              users:
                - username: ops@example.com
                  password: "..."
                  entities: [FIU-EXAMPLE-1]
              entities:
                - id: FIU-EXAMPLE-1
                  secret: "..."          # optional: generated when absent
                  expiresIn: 180d        # optional: never expires when absent
              userTokenLifetime: 180d    # optional (default 180d)
              entityTokenLifetime: 24h   # optional (default 24h)
            """
    )

    /// Where the demo seed's password comes from when no seed file is given.
    static let demoPasswordVariable = "KEYWARD_SIM_PASSWORD"
    static let demoPasswordDefault = "demo-password"

    @Option(name: .long, help: "The TCP port to listen on; 0 picks a free one.")
    var port: Int = 0

    @Option(name: .long, help: ArgumentHelp("A seed file (YAML) of users and entities; without it, the demo seed.", valueName: "file"))
    var seed: String?

    @Option(name: .long, help: "The loopback address to bind: 127.0.0.1, ::1 or localhost.")
    var host: String = "127.0.0.1"

    @Flag(name: .long, help: "Log every call on stderr (never secret values).")
    var verbose = false

    @Flag(name: .long, help: "Log only errors on stderr.")
    var quiet = false

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard Self.isLoopback(host) else {
            throw ValidationError("--host must be a loopback address (127.0.0.1, ::1 or localhost): the simulator is a test double that reveals its secrets")
        }
        if quiet && verbose { throw ValidationError("--quiet and --verbose cannot be used together") }
    }

    func run() async throws {
        let seed = try loadSeed()
        var logger = Logger(label: "keyward.simulator", factory: { _ in DiagnosticLogHandler() })
        logger.logLevel = verbose ? .debug : (quiet ? .error : .info)
        let simulator = TokenServiceSimulator(seed: seed, logger: logger)
        do {
            try await simulator.run(host: host, port: port) { baseURL in
                guard let port = baseURL.port else { return }
                let hostPart = baseURL.host.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "127.0.0.1"
                // The one line a script waits for; flushed at once, stdout may be a pipe.
                Output.print("listening on http://\(hostPart):\(port)")
            }
            logger.info("token service simulator stopped")
        } catch let error as SimulatorError {
            throw KeywardError.operationFailed(error.description, underlying: error)
        }
    }

    private func loadSeed() throws -> SimulatorSeed {
        guard let path = seed else {
            let password = ProcessInfo.processInfo.environment[Self.demoPasswordVariable] ?? Self.demoPasswordDefault
            return SimulatorSeed.demo(password: password)
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw KeywardError.usage("cannot read the seed file \(path): \(Self.reason(error))")
        }
        do {
            return try SimulatorSeed.load(yaml: text)
        } catch let error as SimulatorSeedError {
            throw KeywardError.usage("\(path): \(error.description)")
        }
    }

    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if nsError.domain == NSCocoaErrorDomain {
            switch nsError.code {
            case NSFileReadNoSuchFileError: return "no such file"
            case NSFileReadNoPermissionError: return "permission denied"
            case NSFileReadInapplicableStringEncodingError: return "not UTF-8 text"
            default: break
            }
        }
        return "unreadable"
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets[0] == "127" else { return false }
        return octets.allSatisfy { UInt8($0) != nil }
    }
}

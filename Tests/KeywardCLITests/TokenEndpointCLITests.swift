import Foundation
import KeywardCore
import KeywardSimulator
import KeywardTesting
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The token endpoint (issue 17, item 2; DESIGN.md "Operability"): `schedule run
/// --token-listen … --serve-token-file …` against the in-process simulator, its clock and
/// Keyward's moved together while the service runs (`KEYWARD_CLOCK_OFFSET_FILE`, a debug-build
/// hook read at every clock reading).
@Suite("token endpoint: schedule run --token-listen", .serialized)
struct TokenEndpointCLITests {
    static let serveToken = "serve-token-\(UUID().uuidString)"

    /// The stderr of a running process, collected as it comes.
    final class Collector: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        init(_ pipe: Pipe) {
            let handle = pipe.fileHandleForReading
            Thread {
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { return }
                    self.lock.withLock { self.data.append(chunk) }
                }
            }.start()
        }
        var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
    }

    /// A running `schedule run` with the endpoint.
    struct Service {
        let process: Process
        let stderr: Collector
        /// `http://127.0.0.1:PORT` or `unix:PATH`.
        let url: String
        let offsetFile: URL

        func stop() async -> Int32 {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            return await RotateCLITests.wait(process)
        }
    }

    /// Writes the serve token file (mode `mode`) and returns its path.
    static func tokenFile(_ fixture: EngineFixture, mode: mode_t = 0o600) throws -> String {
        let path = fixture.directory.appendingPathComponent("serve.token").path
        try (serveToken + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(chmod(path, mode) == 0)
        return path
    }

    /// Moves the simulator's clock and the running service's (through its offset file) by `seconds`.
    static func moveClocks(_ fixture: EngineFixture, _ service: Service, bySeconds seconds: Int) throws {
        fixture.simulator.advanceClock(bySeconds: TimeInterval(seconds))
        let offset = Int(fixture.simulator.clockOffset.rounded())
        try String(offset).write(to: service.offsetFile, atomically: true, encoding: .utf8)
    }

    /// Launches `schedule run ARGS --token-listen LISTEN --serve-token-file …` and waits for the
    /// listening line on stderr.
    static func launch(_ fixture: EngineFixture, listen: String = "127.0.0.1:0", arguments: [String] = ["FIU-ALPHA"]) async throws -> Service {
        let offsetFile = fixture.directory.appendingPathComponent("clock-offset")
        try String(Int(fixture.simulator.clockOffset.rounded())).write(to: offsetFile, atomically: true, encoding: .utf8)
        var moved = fixture
        moved.environment["KEYWARD_CLOCK_OFFSET_FILE"] = offsetFile.path
        let pipe = Pipe()
        let process = try RotateCLITests.launch(["schedule", "run"] + arguments + ["--token-listen", listen, "--serve-token-file", try tokenFile(fixture)],
                                                fixture: moved, stderr: pipe)
        let collector = Collector(pipe)
        let marker = "keyward: tokens served on "
        _ = try await ScheduleRunCLITests.waitFor(60) { collector.text.contains(marker) || !process.isRunning }
        let line = try #require(collector.text.split(separator: "\n").first { $0.hasPrefix(marker) }, "\(collector.text)")
        return Service(process: process, stderr: collector, url: String(line.dropFirst(marker.count)), offsetFile: offsetFile)
    }

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: Data
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
    }

    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 16
        configuration.urlCache = nil
        return URLSession(configuration: configuration)
    }()

    /// One request; `bearer` and `header` say which of the two required headers are sent.
    static func get(_ base: String, _ path: String, bearer: String? = serveToken, header: Bool = true, method: String = "GET") async throws -> Answer {
        var request = URLRequest(url: try #require(URL(string: base + path)))
        request.httpMethod = method
        if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        if header { request.setValue("true", forHTTPHeaderField: "X-Keyward-Request") }
        let (data, response) = try await session.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields { headers[String(describing: key).lowercased()] = String(describing: value) }
        return Answer(status: http.statusCode, headers: headers, body: data)
    }

    /// The `sub` claim of a JWT.
    static func subject(ofJWT token: String) -> String? {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        guard let data = Data(base64Encoded: payload), let claims = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return claims["sub"] as? String
    }

    static func auditRows(_ fixture: EngineFixture, operation: String, entity: String) async throws -> [[String: Any]] {
        let audit = try await fixture.run(["audit", "--output", "json"])
        let entries = try #require((try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [String: Any])?["entries"] as? [[String: Any]])
        return entries.filter { $0["operation"] as? String == operation && $0["entity"] as? String == entity }
    }

    @Test("refused at start with exit 2: a non-loopback bind, either option alone, a serve token file others can read")
    func refusedAtStart() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let file = try Self.tokenFile(fixture)
        for address in ["0.0.0.0:0", "10.1.2.3:80", "example.com:80", "127.0.0.1", "[::]:0", "unix:"] {
            let result = try await fixture.run(["schedule", "run", "--token-listen", address, "--serve-token-file", file])
            #expect(result.status == 2, "\(address): \(result.all)")
            #expect(result.stderr.contains("--token-listen"), "\(result.stderr)")
            #expect(!result.stderr.contains("cycle"))
        }
        let alone = try await fixture.run(["schedule", "run", "--token-listen", "127.0.0.1:0"])
        #expect(alone.status == 2, "\(alone.all)")
        let fileAlone = try await fixture.run(["schedule", "run", "--serve-token-file", file])
        #expect(fileAlone.status == 2, "\(fileAlone.all)")

        #expect(chmod(file, 0o644) == 0)
        let open = try await fixture.run(["schedule", "run", "--token-listen", "127.0.0.1:0", "--serve-token-file", file])
        #expect(open.status == 2, "\(open.all)")
        #expect(open.stderr.contains("chmod 600 \(file)"), "\(open.stderr)")
        #expect(!open.stderr.contains("tokens served on"))
        #expect(!open.all.contains(Self.serveToken))

        try "\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(chmod(file, 0o600) == 0)
        let empty = try await fixture.run(["schedule", "run", "--token-listen", "127.0.0.1:0", "--serve-token-file", file])
        #expect(empty.status == 2, "\(empty.all)")
        #expect(empty.stderr.contains("is empty"), "\(empty.stderr)")
        // Contents no caller could present, or could guess: refused, naming what is wrong.
        let unusable: [(String, String)] = [
            ("   \n\t\n", "must be one line of letters, digits"), ("first-line-token-0123\nsecond-line\n", "must be one line of letters, digits"),
            ("token with spaces 0123456789", "must be one line of letters, digits"), ("t\u{0}ken-0123456789abcdef", "must be one line of letters, digits"),
            ("short", "is 5 characters long; use at least 16"), (String(repeating: "a", count: 5_000), "holds more than 4096 bytes"),
        ]
        try "".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(chmod(file, 0o600) == 0)
        let nothing = try await fixture.run(["schedule", "run", "--token-listen", "127.0.0.1:0", "--serve-token-file", file])
        #expect(nothing.status == 2, "\(nothing.all)")
        #expect(nothing.stderr.contains("is empty"), "\(nothing.stderr)")
        for (contents, problem) in unusable {
            try contents.write(toFile: file, atomically: true, encoding: .utf8)
            #expect(chmod(file, 0o600) == 0)
            let result = try await fixture.run(["schedule", "run", "--token-listen", "127.0.0.1:0", "--serve-token-file", file])
            #expect(result.status == 2, "\(result.all)")
            #expect(result.stderr.contains(problem), "\(result.stderr)")
        }
        #expect(fixture.counter(.entityToken) == 0, "no cycle ran")
    }

    @Test("401 without or with a wrong bearer, 412 without the header, 404 for secrets, other paths and entities not served; 200 with a valid token and no-store")
    func checks() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let service = try await Self.launch(fixture)
        defer { if service.process.isRunning { kill(service.process.processIdentifier, SIGKILL) } }
        let base = service.url
        #expect(base.hasPrefix("http://127.0.0.1:"), "\(base)")
        let path = "/v1/entities/FIU-ALPHA/token"

        let noBearer = try await Self.get(base, path, bearer: nil)
        #expect(noBearer.status == 401)
        #expect(noBearer.headers["www-authenticate"] == "Bearer")
        #expect(noBearer.json?["error"] is String)
        let wrong = try await Self.get(base, path, bearer: Self.serveToken + "x")
        #expect(wrong.status == 401)
        #expect(try await Self.get(base, path, bearer: String(Self.serveToken.dropLast())).status == 401)
        #expect(try await Self.get(base, path, bearer: "").status == 401)
        let noHeader = try await Self.get(base, path, header: false)
        #expect(noHeader.status == 412)
        #expect(noHeader.headers["cache-control"] == "no-store")

        let secret = try await Self.get(base, "/v1/entities/FIU-ALPHA/secret")
        #expect(secret.status == 404)
        #expect(secret.headers["content-type"] == "application/json")
        #expect(try await Self.get(base, "/v1/entities/FIU-ALPHA/secret", bearer: nil).status == 404, "unknown paths: 404 before auth")
        #expect(try await Self.get(base, "/").status == 404)
        #expect(try await Self.get(base, "/v1/entities/FIU-ALPHA/token/extra").status == 404)
        #expect(try await Self.get(base, "/v1/entities/FIU-NOPE/token").status == 404)
        #expect(try await Self.get(base, "/v1/entities/FIU-NOPE/token", bearer: nil).status == 401, "ids cannot be probed without the bearer")
        #expect(try await Self.get(base, "/v1/entities/FIU-BETA/token").status == 404, "configured but not scheduled here: not served")
        let post = try await Self.get(base, path, method: "POST")
        #expect(post.status == 405)
        #expect(post.headers["allow"] == "GET")

        let ok = try await Self.get(base, path)
        #expect(ok.status == 200)
        #expect(ok.headers["cache-control"] == "no-store")
        #expect(ok.headers["content-type"] == "application/json")
        let json = try #require(ok.json)
        #expect(Set(json.keys) == ["token", "expiresAt"])
        let token = try #require(json["token"] as? String)
        #expect(Self.subject(ofJWT: token) == "FIU-ALPHA")
        let expiresAt = try #require((json["expiresAt"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        #expect(expiresAt > fixture.simulator.now)
        #expect(try #require(ProcessCLITests.expiry(ofJWT: token)) > fixture.simulator.now)
        #expect(token == (try await fixture.vaultGet("entities/FIU-ALPHA/token")).trimmingCharacters(in: .newlines), "the vault's fresh token, not a new mint")
        #expect(fixture.counter(.entityToken) == 1, "the sync's mint only")

        #expect(await service.stop() == 0)
        let log = service.stderr.text
        let values = (fixture.secrets() + [token, Self.serveToken]).map { SecretValue(utf8: $0) }
        #expect(LeakScanner.leaks(in: log, of: values).isEmpty, "no secret, token or serve token on stderr")
    }

    @Test("1,000 requests from 16 clients over 2 token expiries: exactly 2 mints and 2 audit rows; every token valid when it arrived")
    func thousandRequestsTwoMints() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try ProcessCLITests.patientProvider(fixture)
        #expect(try await fixture.run(["token", "FIU-ALPHA"]).status == 0)
        let rowsBefore = try await Self.auditRows(fixture, operation: "token", entity: "FIU-ALPHA").count
        let service = try await Self.launch(fixture)
        defer { if service.process.isRunning { kill(service.process.processIdentifier, SIGKILL) } }
        fixture.simulator.resetCounters()

        /// `count` requests from 16 clients; each token checked against the simulator's clock
        /// when its answer arrived. Returns the distinct tokens.
        func burst(_ count: Int) async throws -> Set<String> {
            try await withThrowingTaskGroup(of: [String].self) { group in
                for client in 0..<16 {
                    group.addTask {
                        var tokens: [String] = []
                        for _ in stride(from: client, to: count, by: 16) {
                            let answer = try await Self.get(service.url, "/v1/entities/FIU-ALPHA/token")
                            let now = fixture.simulator.now
                            #expect(answer.status == 200)
                            let token = answer.json?["token"] as? String ?? ""
                            let expiresAt = (answer.json?["expiresAt"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
                            #expect(ProcessCLITests.expiry(ofJWT: token).map { $0 > now } == true, "valid when it arrived")
                            #expect(expiresAt.map { $0 > now } == true)
                            tokens.append(token)
                        }
                        return tokens
                    }
                }
                var all: Set<String> = []
                for try await tokens in group { all.formUnion(tokens) }
                return all
            }
        }
        // The entity token lives 24 h and is refreshed 600 s (the default tokenRefreshBefore)
        // before it expires: each move makes the served token due (540 s left).
        let step = 86_400 - 540
        var tokens = try await burst(334)
        #expect(fixture.counter(.entityToken) == 0, "the vault's token, fresh: no mint")
        try Self.moveClocks(fixture, service, bySeconds: step)
        tokens.formUnion(try await burst(333))
        #expect(fixture.counter(.entityToken) == 1)
        try Self.moveClocks(fixture, service, bySeconds: step)
        tokens.formUnion(try await burst(333))
        #expect(fixture.counter(.entityToken) == 2, "one mint per expiry, however many callers")
        #expect(tokens.count == 3)
        #expect(try await Self.auditRows(fixture, operation: "token", entity: "FIU-ALPHA").count == rowsBefore + 2, "one audit row per mint")
        #expect(await service.stop() == 0)
    }

    @Test("the endpoint and keyward token processes racing over a due token make one mint")
    func raceWithTokenCommand() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try ProcessCLITests.patientProvider(fixture)
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let service = try await Self.launch(fixture)
        defer { if service.process.isRunning { kill(service.process.processIdentifier, SIGKILL) } }
        try Self.moveClocks(fixture, service, bySeconds: 86_400 - 300)
        fixture.simulator.resetCounters()
        let environment = ["KEYWARD_CLOCK_OFFSET_FILE": service.offsetFile.path]
        let (answers, commands) = try await (
            withThrowingTaskGroup(of: Answer.self) { group in
                for _ in 0..<8 { group.addTask { try await Self.get(service.url, "/v1/entities/FIU-ALPHA/token") } }
                var all: [Answer] = []
                for try await answer in group { all.append(answer) }
                return all
            },
            ProcessCLITests.concurrently(fixture, Array(repeating: ["token", "FIU-ALPHA"], count: 4), environment: environment))
        #expect(answers.allSatisfy { $0.status == 200 })
        #expect(commands.allSatisfy { $0.status == 0 }, "\(commands.map(\.stderr))")
        let tokens = Set(answers.compactMap { $0.json?["token"] as? String } + commands.map { $0.stdout.trimmingCharacters(in: .newlines) })
        #expect(tokens.count == 1, "everyone got the one new token")
        #expect(fixture.counter(.entityToken) == 1, "one mint across the endpoint and the processes")
        #expect(await service.stop() == 0)
    }

    @Test("the token service failing a due mint gives 502 with its message and no credential, one failed audit row per attempt; then 200 again")
    func upstreamFailure() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let service = try await Self.launch(fixture)
        defer { if service.process.isRunning { kill(service.process.processIdentifier, SIGKILL) } }
        try Self.moveClocks(fixture, service, bySeconds: 86_400 - 300)
        fixture.simulator.inject(.status500, endpoint: .entityToken, count: 100)
        let failed = try await Self.get(service.url, "/v1/entities/FIU-ALPHA/token")
        #expect(failed.status == 502)
        #expect(failed.headers["cache-control"] == "no-store")
        let message = try #require(failed.json?["error"] as? String)
        #expect(!message.isEmpty)
        let values = (fixture.secrets() + [Self.serveToken]).map { SecretValue(utf8: $0) }
        #expect(LeakScanner.leaks(in: String(decoding: failed.body, as: UTF8.self), of: values).isEmpty)
        let failedRows = try await Self.auditRows(fixture, operation: "token", entity: "FIU-ALPHA").filter { $0["outcome"] as? String == "failed" }
        #expect(failedRows.count == 1, "\(failedRows)")
        fixture.simulator.clearFaults()
        let ok = try await Self.get(service.url, "/v1/entities/FIU-ALPHA/token")
        #expect(ok.status == 200)
        #expect(await service.stop() == 0)
        #expect(LeakScanner.leaks(in: service.stderr.text, of: values).isEmpty)
    }

    @Test("every loopback form listens and serves: [::1], localhost, any 127.x.y.z")
    func loopbackForms() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        for (listen, prefix) in [("[::1]:0", "http://[::1]:"), ("localhost:0", "http://localhost:"), ("127.8.9.10:0", "http://127.8.9.10:")] {
            let service = try await Self.launch(fixture, listen: listen)
            defer { if service.process.isRunning { kill(service.process.processIdentifier, SIGKILL) } }
            #expect(service.url.hasPrefix(prefix), "\(listen): \(service.url)")
            let curl = try await CommandRunner.run(["-s", "-o", "/dev/null", "-w", "%{http_code}",
                                                    "-H", "Authorization: Bearer \(Self.serveToken)", "-H", "X-Keyward-Request: true",
                                                    service.url + "/v1/entities/FIU-ALPHA/token"], executable: "curl")
            #expect(curl.stdout == "200", "\(listen): \(curl.all)")
            #expect(await service.stop() == 0)
        }
    }

    @Test("beside --metrics-listen: both listeners serve, each only its own paths")
    func besideMetrics() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        // --max-sleep 2d: the day the clocks move below does not make the loop "stalled".
        let service = try await Self.launch(fixture, arguments: ["FIU-ALPHA", "--metrics-listen", "127.0.0.1:0", "--max-sleep", "2d"])
        defer { if service.process.isRunning { kill(service.process.processIdentifier, SIGKILL) } }
        let marker = "keyward: metrics listening on "
        #expect(try await ScheduleRunCLITests.waitFor(60) { service.stderr.text.contains(marker) }, "\(service.stderr.text)")
        let line = try #require(service.stderr.text.split(separator: "\n").first { $0.hasPrefix(marker) })
        let metrics = String(line.dropFirst(marker.count))
        #expect(try await Self.get(metrics, "/metrics", bearer: nil, header: false).status == 200)
        #expect(try await Self.get(metrics, "/v1/entities/FIU-ALPHA/token").status == 404, "no tokens on the metrics listener")
        #expect(try await Self.get(service.url, "/metrics").status == 404, "no metrics on the token listener")
        #expect(try await Self.get(service.url, "/v1/entities/FIU-ALPHA/token").status == 200)

        // A day on, the token the last cycle saw has expired; the loop sleeps (up to an hour).
        // The endpoint mints a new one, and /metrics and /healthz follow it at once, not at
        // the next cycle (found by the attack: /healthz said "expired" meanwhile).
        try Self.moveClocks(fixture, service, bySeconds: 86_400 + 60)
        let minted = fixture.counter(.entityToken)
        let fresh = try await Self.get(service.url, "/v1/entities/FIU-ALPHA/token")
        #expect(fresh.status == 200)
        #expect(fixture.counter(.entityToken) == minted + 1, "minted on demand")
        let expiresAt = try #require(Timestamps.parse(fresh.json?["expiresAt"] as? String ?? ""))
        let health = try await Self.get(metrics, "/healthz", bearer: nil, header: false)
        #expect(health.status == 200, "\(String(decoding: health.body, as: UTF8.self))")
        let exposition = String(decoding: try await Self.get(metrics, "/metrics", bearer: nil, header: false).body, as: UTF8.self)
        let gauge = exposition.split(separator: "\n").first { $0.hasPrefix("keyward_token_expiry_timestamp_seconds{entity=\"FIU-ALPHA\"}") }
        let value = try #require(gauge.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }, "\(exposition)")
        #expect(Int(value) == Int(expiresAt.timeIntervalSince1970), "the gauge shows the minted token's expiry")
        // RFC 6750: "Bearer" 1*SP b64token: two spaces are as good as one.
        #expect(try await Self.get(service.url, "/v1/entities/FIU-ALPHA/token", bearer: " " + Self.serveToken).status == 200)

        // Another process rotates while the loop sleeps: a scrape a second later shows it
        // (the report behind /metrics and /healthz is read again when older than a second).
        #expect(exposition.contains("keyward_last_rotation_success_timestamp_seconds") == false, "never rotated yet")
        let rotate = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CLOCK_OFFSET_FILE": service.offsetFile.path])
        #expect(rotate.status == 0, "\(rotate.all)")
        try await Task.sleep(for: .milliseconds(1_100))
        let after = String(decoding: try await Self.get(metrics, "/metrics", bearer: nil, header: false).body, as: UTF8.self)
        #expect(after.contains("keyward_last_rotation_success_timestamp_seconds{entity=\"FIU-ALPHA\"}"), "\(after)")
        #expect(try await Self.get(metrics, "/healthz", bearer: nil, header: false).status == 200)
        #expect(await service.stop() == 0)
    }

    @Test("--metrics-listen and --token-listen on the same address: exit 2 at start, naming both")
    func sameAddress() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let file = try Self.tokenFile(fixture)
        let socket = fixture.directory.appendingPathComponent("both.sock").path
        let calls = fixture.simulator.counters().values.reduce(0, +)
        for (metrics, tokens) in [("127.0.0.1:48123", "127.0.0.1:48123"), ("0.0.0.0:48123", "localhost:48123"), ("unix:\(socket)", "unix:\(socket)")] {
            let result = try await fixture.run(["schedule", "run", "--metrics-listen", metrics, "--token-listen", tokens, "--serve-token-file", file])
            #expect(result.status == 2, "\(result.all)")
            #expect(result.stderr.contains("are the same address: give each its own"), "\(result.stderr)")
            #expect(fixture.simulator.counters().values.reduce(0, +) == calls, "refused before any cycle")
        }
    }

    @Test("unix:PATH: the socket is 0600 and serves; a stale socket is replaced, a regular file refused")
    func unixSocket() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let socketPath = fixture.directory.appendingPathComponent("t.sock").path
        // A stale socket: bound, never listened on, its descriptor closed.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (index, byte) in socketPath.utf8.enumerated() { raw[index] = byte } }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        #expect(bound == 0)
        close(stale)

        let service = try await Self.launch(fixture, listen: "unix:\(socketPath)")
        defer { if service.process.isRunning { kill(service.process.processIdentifier, SIGKILL) } }
        #expect(service.url == "unix:\(socketPath)")
        let attributes = try FileManager.default.attributesOfItem(atPath: socketPath)
        #expect(attributes[.type] as? FileAttributeType == .typeSocket)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let curl = try await CommandRunner.run(["-s", "-w", "\n%{http_code}", "--unix-socket", socketPath,
                                                "-H", "Authorization: Bearer \(Self.serveToken)", "-H", "X-Keyward-Request: true",
                                                "http://localhost/v1/entities/FIU-ALPHA/token"], executable: "curl")
        let lines = curl.stdout.split(separator: "\n")
        #expect(lines.last == "200", "\(curl.all)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any])
        #expect(Self.subject(ofJWT: json["token"] as? String ?? "") == "FIU-ALPHA")
        let second = try await fixture.run(["schedule", "run", "FIU-ALPHA", "--token-listen", "unix:\(socketPath)", "--serve-token-file", try Self.tokenFile(fixture)])
        #expect(second.status == 2, "another process listens there: \(second.all)")
        #expect(await service.stop() == 0)

        let regular = fixture.directory.appendingPathComponent("plain").path
        try "x".write(toFile: regular, atomically: true, encoding: .utf8)
        let refused = try await fixture.run(["schedule", "run", "FIU-ALPHA", "--token-listen", "unix:\(regular)", "--serve-token-file", try Self.tokenFile(fixture)])
        #expect(refused.status == 2, "\(refused.all)")
        #expect(try String(contentsOfFile: regular, encoding: .utf8) == "x", "left alone")
    }
}

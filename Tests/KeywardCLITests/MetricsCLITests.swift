import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KeywardSimulator
import KeywardTesting
import Testing

/// `schedule run --metrics-listen` and `status --output prometheus` (DESIGN.md, "Operability"):
/// the exposition read by a real Prometheus parser (PyPI prometheus-client's), its values
/// checked against the simulator's counters and the vault; `/healthz` against the health rule.
@Suite("metrics and health: /metrics, /healthz, status --output prometheus", .serialized)
struct MetricsCLITests {
    /// One sample as prometheus-client's parser reads it.
    struct Sample: Decodable, Equatable {
        var family: String
        var type: String
        var name: String
        var labels: [String: String]
        var value: Double
    }

    static let parser = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = []
        for family in text_string_to_metric_families(sys.stdin.read()):
            for s in family.samples:
                out.append({"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
        print(json.dumps(out))
        """

    /// `text` parsed by `prometheus_client.parser.text_string_to_metric_families` (python3).
    static func parse(_ text: String) async throws -> [Sample] {
        let result = try await CommandRunner.run(["-c", parser], stdin: text, executable: "python3")
        #expect(result.status == 0, "prometheus-client could not parse: \(result.stderr)\n\(text)")
        return try JSONDecoder().decode([Sample].self, from: Data(result.stdout.utf8))
    }

    static func value(_ samples: [Sample], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// A gauge's value cut to whole seconds, as `status --output json` writes times (the vault
    /// keeps milliseconds, and so do the gauges).
    static func wholeSeconds(_ samples: [Sample], _ name: String, _ labels: [String: String]) -> Double? {
        value(samples, name, labels).map { $0.rounded(.down) }
    }

    /// The sum of `name`'s samples whose labels include `matching`.
    static func sum(_ samples: [Sample], _ name: String, _ matching: [String: String]) -> Double {
        samples.filter { sample in sample.name == name && matching.allSatisfy { sample.labels[$0.key] == $0.value } }.map(\.value).reduce(0, +)
    }

    /// A running `schedule run` whose stderr goes to a file (read while it runs).
    struct Running {
        let process: Process
        let stderrFile: URL

        var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

        /// The base URL the `keyward: metrics listening on URL` line names, once it is there.
        func baseURL(within seconds: Double) async throws -> URL? {
            var url: URL?
            _ = try await ScheduleRunCLITests.waitFor(seconds) {
                guard let line = stderr.split(separator: "\n").first(where: { $0.hasPrefix("keyward: metrics listening on ") }) else { return false }
                url = URL(string: String(line.dropFirst("keyward: metrics listening on ".count)))
                return true
            }
            return url
        }

        func stop() async -> Int32 {
            kill(process.processIdentifier, SIGTERM)
            return await RotateCLITests.wait(process)
        }
    }

    static func launch(_ arguments: [String], fixture: EngineFixture, environment: [String: String]) throws -> Running {
        try launch(arguments, directory: fixture.directory, environment: fixture.environment.merging(environment) { $1 })
    }

    static func launch(_ arguments: [String], directory: URL, environment: [String: String]) throws -> Running {
        let stderrFile = directory.appendingPathComponent("schedule-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "NO_COLOR": "1", "HOME": directory.path,
                   "XDG_DATA_HOME": directory.appendingPathComponent("data").path,
                   "XDG_STATE_HOME": directory.appendingPathComponent("state").path]
        env.merge(environment) { $1 }
        process.environment = env
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        try process.run()
        return Running(process: process, stderrFile: stderrFile)
    }

    /// GET `path`: the status code and body.
    static func get(_ base: URL, _ path: String, method: String = "GET") async throws -> (Int, String, String?) {
        var request = URLRequest(url: base.appendingPathComponent(path))
        request.httpMethod = method
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, String(decoding: data, as: UTF8.self), http?.value(forHTTPHeaderField: "Content-Type"))
    }

    /// A scrape taken while the simulator's counters stay the same (no cycle in flight), with
    /// those counters.
    static func quietScrape(_ base: URL, _ fixture: EngineFixture) async throws -> ([Sample], [SimulatorEndpoint: Int], String) {
        for _ in 0..<50 {
            let before = fixture.simulator.counters()
            let (_, text, _) = try await get(base, "metrics")
            if fixture.simulator.counters() == before { return (try await parse(text), before, text) }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the simulator's counters never stood still")
        return ([], [:], "")
    }

    /// Every token-service request keyward counted, endpoint by endpoint, equals the calls the
    /// simulator received (its counters were reset when the scheduler started).
    static func expectRequestsMatch(_ samples: [Sample], _ counters: [SimulatorEndpoint: Int], _ note: String) {
        for endpoint in SimulatorEndpoint.allCases {
            #expect(sum(samples, "keyward_token_service_requests_total", ["endpoint": endpoint.rawValue]) == Double(counters[endpoint] ?? 0),
                    "\(note): \(endpoint.rawValue)")
        }
    }

    /// `status --output json`'s entity, as the vault holds it.
    static func statusEntity(_ fixture: EngineFixture, _ environment: [String: String], _ id: String) async throws -> [String: Any] {
        let status = try await fixture.run(["status", "--output", "json", id], extraEnvironment: environment)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        return try #require((report["entities"] as? [[String: Any]])?.first)
    }

    static func epoch(_ text: Any?) -> Double? {
        guard let text = text as? String else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)?.timeIntervalSince1970
    }

    @Test("resets refused: /healthz turns 503 past one cycle plus the backoff, counters follow the simulator; 200 again once rotated")
    func unhealthyWhileResetsAreRefused() async throws {
        let fixture = try await ScheduleRunCLITests.synced()
        defer { Task { await fixture.stop() } }
        let oldSecret = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        fixture.simulator.setSecretExpiry(for: "FIU-BETA", expiresIn: 365 * 86_400)
        // 80 days on: FIU-ALPHA (90 days, rotateBefore 15) is inside its window at launch.
        let environment = ScheduleRunCLITests.moveClocks(fixture, bySeconds: 80 * 86_400)
        fixture.simulator.inject(.rateLimit429(retryAfterSeconds: 0), endpoint: .secretReset, count: 1_000)
        fixture.simulator.resetCounters()
        let running = try Self.launch(["schedule", "run", "FIU-ALPHA", "--metrics-listen", "127.0.0.1:0", "--max-sleep", "3s",
                                       "--retry-delay", "1s", "--jitter", "0s"], fixture: fixture, environment: environment)
        defer { if running.process.isRunning { kill(running.process.processIdentifier, SIGKILL) } }
        let base = try #require(try await running.baseURL(within: 60), "\(running.stderr)")

        // Refused resets: one cycle (3 s) plus the retry delay (1 s) after the start, 503.
        var unhealthy = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let (code, body, _) = try await Self.get(base, "healthz")
            if code == 503 { unhealthy = body; break }
            #expect(code == 200, "\(body)")
            try await Task.sleep(for: .milliseconds(200))
        }
        let document = try #require(try JSONSerialization.jsonObject(with: Data(unhealthy.utf8)) as? [String: Any], "never 503")
        #expect(document["status"] as? String == "unhealthy")
        let reasons = try #require(document["reasons"] as? [String])
        #expect(reasons.count == 1 && reasons[0].hasPrefix("FIU-ALPHA: inside its rotation window since "), "\(reasons)")

        // The failure, as counted: every refused reset is a failed rotation and a 429.
        let (failing, counters, failingText) = try await Self.quietScrape(base, fixture)
        Self.expectRequestsMatch(failing, counters, "while failing")
        let resets = Double(counters[.secretReset] ?? 0)
        #expect(resets >= 2)
        #expect(Self.value(failing, "keyward_token_service_requests_total", ["endpoint": "secretReset", "code": "429"]) == resets)
        #expect(Self.value(failing, "keyward_rotations_total", ["outcome": "failed"]) == resets)
        #expect(Self.value(failing, "keyward_rotations_total", ["outcome": "ok"]) == 0, "pre-registered at 0")
        #expect(Self.value(failing, "keyward_sink_writes_total", ["sink": "alpha-json", "outcome": "failed"]) == 0)
        #expect(failing.first { $0.name == "keyward_rotations_total" }?.type == "counter")
        #expect(failing.first { $0.name == "keyward_cycle_duration_seconds_count" }?.type == "histogram")
        let cycles = Self.value(failing, "keyward_cycle_duration_seconds_count")
        #expect(cycles != nil && cycles! >= resets)
        #expect(Self.value(failing, "keyward_cycle_duration_seconds_bucket", ["le": "+Inf"]) == cycles)

        // The service accepts resets again: the next retry rotates, and /healthz is 200.
        fixture.simulator.clearFaults()
        var healed = false
        let until = Date().addingTimeInterval(90)
        while Date() < until {
            if try await Self.get(base, "healthz").0 == 200 { healed = true; break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(healed, "200 after the rotation")
        let (_, okBody, _) = try await Self.get(base, "healthz")
        #expect(okBody == #"{"status":"ok"}"# + "\n")
        let (rotated, after, rotatedText) = try await Self.quietScrape(base, fixture)
        Self.expectRequestsMatch(rotated, after, "after the rotation")
        #expect(Self.value(rotated, "keyward_rotations_total", ["outcome": "ok"]) == 1)
        #expect(Self.value(rotated, "keyward_token_service_requests_total", ["endpoint": "secretReset", "code": "200"]) == 1)
        #expect(Self.value(rotated, "keyward_sink_writes_total", ["sink": "alpha-json", "outcome": "written"]).map { $0 >= 1 } == true)
        // The gauges, against what the vault holds (status reads the same vault).
        let entity = try await Self.statusEntity(fixture, environment, "FIU-ALPHA")
        let secret = try #require(entity["secret"] as? [String: Any])
        #expect(Self.wholeSeconds(rotated, "keyward_secret_expiry_timestamp_seconds", ["entity": "FIU-ALPHA"]) == Self.epoch(secret["expiresAt"]))
        #expect(Self.wholeSeconds(rotated, "keyward_rotation_due_timestamp_seconds", ["entity": "FIU-ALPHA"]) == Self.epoch(secret["rotationDueAt"]))
        #expect(Self.wholeSeconds(rotated, "keyward_token_expiry_timestamp_seconds", ["entity": "FIU-ALPHA"])
            == Self.epoch((entity["token"] as? [String: Any])?["expiresAt"]))
        #expect(Self.wholeSeconds(rotated, "keyward_last_rotation_success_timestamp_seconds", ["entity": "FIU-ALPHA"]) == Self.epoch(entity["lastRotation"]))
        // To the millisecond the vault keeps: the service's expiry.
        let serverExpiry = try #require(fixture.simulator.secretExpiry(for: "FIU-ALPHA")).timeIntervalSince1970
        #expect(abs((Self.value(rotated, "keyward_secret_expiry_timestamp_seconds", ["entity": "FIU-ALPHA"]) ?? 0) - serverExpiry) < 0.001)

        let (notFound, _, _) = try await Self.get(base, "secrets")
        #expect(notFound == 404)
        let (post, _, _) = try await Self.get(base, "metrics", method: "POST")
        #expect(post == 404 || post == 405)
        let (_, _, contentType) = try await Self.get(base, "metrics")
        #expect(contentType == "text/plain; version=0.0.4; charset=utf-8")

        #expect(await running.stop() == 0, "SIGTERM still exits 0 with the listener open")
        let everything = running.stderr + failingText + rotatedText + unhealthy
        #expect(LeakScanner.leaks(in: everything, of: fixture.secrets() + [oldSecret]).isEmpty)
        #expect(!everything.contains("eyJ"), "no token")
    }

    @Test("a normal due-and-rotate: /healthz answers 200 throughout; the sync and the rotation are counted")
    func healthyThroughANormalRotation() async throws {
        let fixture = try await ScheduleRunCLITests.synced()
        defer { Task { await fixture.stop() } }
        let oldSecret = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        fixture.simulator.setSecretExpiry(for: "FIU-BETA", expiresIn: 365 * 86_400)
        // FIU-ALPHA's window opens 15 s after launch (the token, 75 days old, is refreshed first).
        let environment = ScheduleRunCLITests.moveClocks(fixture, bySeconds: 75 * 86_400 - 15)
        fixture.simulator.resetCounters()
        let running = try Self.launch(["schedule", "run", "FIU-ALPHA", "--metrics-listen", "127.0.0.1:0", "--max-sleep", "5s",
                                       "--retry-delay", "1s", "--jitter", "0s"], fixture: fixture, environment: environment)
        defer { if running.process.isRunning { kill(running.process.processIdentifier, SIGKILL) } }
        let base = try #require(try await running.baseURL(within: 60), "\(running.stderr)")

        // After the first cycle (a sync: the token had expired), before the window opens.
        let (synced, counters, syncedText) = try await Self.quietScrape(base, fixture)
        Self.expectRequestsMatch(synced, counters, "after the first sync")
        if counters[.secretReset] == 0 {
            #expect(Self.value(synced, "keyward_syncs_total", ["outcome": "ok"]) == 1)
            #expect(Self.value(synced, "keyward_rotations_total", ["outcome": "ok"]) == 0)
        }

        // Poll /healthz every 200 ms through the window's start and the rotation, and 3 s after.
        var answers: [Int: Int] = [:]
        var rotatedAt: Date?
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            let (code, body, _) = try await Self.get(base, "healthz")
            answers[code, default: 0] += 1
            #expect(code == 200, "\(body)")
            if rotatedAt == nil, fixture.counter(.secretReset) == 1 { rotatedAt = Date() }
            if let rotatedAt, Date().timeIntervalSince(rotatedAt) > 3 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(rotatedAt != nil, "rotated")
        #expect(answers.keys.sorted() == [200], "\(answers)")
        let (rotated, after, rotatedText) = try await Self.quietScrape(base, fixture)
        Self.expectRequestsMatch(rotated, after, "after the rotation")
        #expect(Self.value(rotated, "keyward_rotations_total", ["outcome": "ok"]) == 1)
        #expect(Self.value(rotated, "keyward_rotations_total", ["outcome": "failed"]) == 0)
        #expect(Self.value(rotated, "keyward_syncs_total", ["outcome": "failed"]) == 0)
        #expect(await running.stop() == 0)
        let everything = running.stderr + syncedText + rotatedText
        #expect(LeakScanner.leaks(in: everything, of: fixture.secrets() + [oldSecret]).isEmpty)
        #expect(!everything.contains("eyJ"))
    }

    @Test("external plugin calls are counted by executable name and outcome, as many as the plugin answered")
    func pluginCalls() async throws {
        let fixture = try await ExternalPluginCLITests.start(entities: ["FIU-ALPHA"])
        let logged = { fixture.read("calls.log")?.split(separator: "\n").count ?? 0 }
        let before = logged()
        let running = try Self.launch(["schedule", "run", "--metrics-listen", "127.0.0.1:0", "--jitter", "0s"],
                                      directory: fixture.directory, environment: fixture.environment)
        defer { if running.process.isRunning { kill(running.process.processIdentifier, SIGKILL) } }
        let base = try #require(try await running.baseURL(within: 60), "\(running.stderr)")
        let (_, text, _) = try await Self.get(base, "metrics")
        let samples = try await Self.parse(text)
        // The first cycle synced FIU-ALPHA (fetch, token) and wrote the sink; it then sleeps
        // for hours. The provider logs every call but describe, whose answer `vault init`
        // left in the describe cache (same HOME), so this process made none.
        #expect(Self.value(samples, "keyward_plugin_calls_total", ["plugin": "provider.py", "outcome": "ok"]) == Double(logged() - before), "\(text)")
        #expect(logged() - before >= 2, "fetch and token")
        #expect(Self.value(samples, "keyward_plugin_calls_total", ["plugin": "sink.py", "outcome": "ok"]).map { $0 >= 1 } == true, "\(text)")
        for plugin in ["provider.py", "sink.py"] {
            for outcome in ["error", "timeout", "violation"] {
                #expect(Self.value(samples, "keyward_plugin_calls_total", ["plugin": plugin, "outcome": outcome]) == 0, "\(plugin) \(outcome)")
            }
        }
        #expect(Self.value(samples, "keyward_syncs_total", ["outcome": "ok"]) == 1)
        #expect(Self.value(samples, "keyward_sink_writes_total", ["sink": "main", "outcome": "written"]) == 1)
        #expect(samples.filter { $0.name == "keyward_token_service_requests_total" }.isEmpty, "no token-service provider configured")
        #expect(await running.stop() == 0)
        #expect(LeakScanner.leaks(in: text + running.stderr, of: Array(ExternalPluginCLITests.hostile.values)).isEmpty)
    }

    @Test("status --output prometheus: the vault's values exactly, parsed by prometheus-client; no secret")
    func statusPrometheus() async throws {
        let fixture = try await ScheduleRunCLITests.synced()
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["status", "--output", "prometheus"])
        #expect(result.status == 0, "\(result.all)")
        let samples = try await Self.parse(result.stdout)
        for id in ["FIU-ALPHA", "FIU-BETA", "FIU-GAMMA"] {
            let entity = try await Self.statusEntity(fixture, [:], id)
            let secret = entity["secret"] as? [String: Any]
            #expect(Self.wholeSeconds(samples, "keyward_secret_expiry_timestamp_seconds", ["entity": id]) == Self.epoch(secret?["expiresAt"]), "\(id)")
            #expect(Self.wholeSeconds(samples, "keyward_rotation_due_timestamp_seconds", ["entity": id]) == Self.epoch(secret?["rotationDueAt"]), "\(id)")
            #expect(Self.wholeSeconds(samples, "keyward_token_expiry_timestamp_seconds", ["entity": id])
                == Self.epoch((entity["token"] as? [String: Any])?["expiresAt"]), "\(id)")
        }
        for id in ["FIU-ALPHA", "FIU-BETA"] {
            let serverExpiry = try #require(fixture.simulator.secretExpiry(for: id)).timeIntervalSince1970
            #expect(abs((Self.value(samples, "keyward_secret_expiry_timestamp_seconds", ["entity": id]) ?? 0) - serverExpiry) < 0.001, "\(id): the service's expiry, to the millisecond")
        }
        // FIU-GAMMA's secret has no expiry: no sample rather than a made-up value.
        #expect(Self.value(samples, "keyward_secret_expiry_timestamp_seconds", ["entity": "FIU-GAMMA"]) == nil)
        #expect(Self.value(samples, "keyward_secret_expiry_timestamp_seconds", ["entity": "FIU-ALPHA"]) != nil)
        #expect(samples.allSatisfy { $0.type == "gauge" && $0.name.hasPrefix("keyward_") })
        #expect(samples.filter { $0.name == "keyward_last_rotation_success_timestamp_seconds" }.isEmpty, "never rotated")
        #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets()).isEmpty)
        #expect(!result.all.contains("eyJ"))
    }

    @Test("--output prometheus on another command, a bad --metrics-listen, an address that cannot be bound: exit 2 naming it, before any cycle")
    func refusals() async throws {
        let fixture = try await ScheduleRunCLITests.synced()
        defer { Task { await fixture.stop() } }
        for arguments in [["sync", "--output", "prometheus"], ["rotate", "--output", "prometheus"], ["schedule", "run", "--output", "prometheus"]] {
            let result = try await fixture.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.all)")
            #expect(result.stderr.contains("--output prometheus: `keyward \(arguments.prefix { !$0.hasPrefix("-") }.joined(separator: " "))` prints text or json"),
                    "\(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        // One rule for every command's formats, scan's sarif included.
        let scan = try await fixture.run(["scan", "--output", "prometheus", "."])
        #expect(scan.status == 2, "\(scan.all)")
        #expect(scan.stderr.contains("--output prometheus: `keyward scan` prints text, json or sarif"), "\(scan.stderr)")
        let status = try await fixture.run(["status", "--output", "sarif"])
        #expect(status.status == 2, "\(status.all)")
        #expect(status.stderr.contains("--output sarif: `keyward status` prints text, json or prometheus"), "\(status.stderr)")
        #expect(status.stdout.isEmpty)
        for bad in ["nope", "127.0.0.1:99999", "[::1", ""] {
            let result = try await fixture.run(["schedule", "run", "--metrics-listen", bad])
            #expect(result.status == 2, "\(bad): \(result.all)")
            #expect(result.stderr.contains("--metrics-listen"), "\(result.stderr)")
        }
        // Addresses that cannot be bound are found at start, before any cycle runs: the
        // simulator's own port (taken), a documentation address (RFC 5737, not on this
        // machine), a socket in a directory that does not exist.
        let port = try #require(fixture.baseURL.port)
        let unbindable = [
            ("127.0.0.1:\(port)", "Address already in use"),
            ("192.0.2.1:9464", "Cannot assign requested address"),
            ("unix:\(fixture.directory.path)/missing/metrics.sock", "the directory \(fixture.directory.path)/missing does not exist"),
            // A file that is not a socket is never replaced by the listener's socket.
            ("unix:\(fixture.directory.path)/keyward.yaml", "something other than a socket is there; refusing to replace it"),
        ]
        fixture.simulator.resetCounters()
        for (address, reason) in unbindable {
            let result = try await fixture.run(["schedule", "run", "FIU-GAMMA", "--metrics-listen", address, "--jitter", "0s"])
            #expect(result.status == 2, "\(result.all)")
            #expect(result.stderr.contains("keyward: --metrics-listen \(address): cannot listen there: \(reason)\n"), "\(result.stderr)")
            #expect(!result.stderr.contains("cycle 1"), "refused before the first cycle")
            #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets()).isEmpty)
        }
        #expect(fixture.simulator.counters().values.reduce(0, +) == 0, "nothing was asked of the service")
        #expect(FileManager.default.contents(atPath: fixture.directory.appendingPathComponent("keyward.yaml").path)?.isEmpty == false,
                "the configuration file is untouched")
    }
}

import Foundation
import KeywardCore
import KeywardSimulator
import KeywardTokenService
import KeywardVault

/// Sync benchmark (issue 3/5): N entities against the in-process simulator with a fixed latency
/// added to every call, through the same Dispatcher and key-file vault the CLI uses. Reports wall
/// time beside the ideal (calls × latency / concurrency) and beside a sequential run (concurrency
/// 1, a fresh vault, the same work) in the same process, and the process's peak RSS.
enum SyncBenchmark {
    static func run(_ arguments: [String]) async throws {
        var entities = 1_000, latencyMs = 20, concurrency = 16, sequential = true
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--entities": entities = Int(iterator.next() ?? "") ?? entities
            case "--latency-ms": latencyMs = Int(iterator.next() ?? "") ?? latencyMs
            case "--concurrency": concurrency = Int(iterator.next() ?? "") ?? concurrency
            case "--skip-sequential": sequential = false
            default: throw KeywardError.usage("unknown argument \(argument)")
            }
        }
        let ids = (1...entities).map { String(format: "FIU-BENCH-%05d", $0) }
        let password = "bench-password"
        let simulator = TokenServiceSimulator(seed: SimulatorSeed(
            users: [.init(username: "ops@example.com", password: password, entities: ids)],
            entities: ids.map { .init(id: $0, expiresIn: 180 * 86_400) }))
        let baseURL = try await simulator.start()
        simulator.inject(.latency(milliseconds: latencyMs), endpoint: nil, count: 1_000_000)

        func measure(concurrency: Int) async throws -> (seconds: Double, calls: Int, report: SyncReport) {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-bench-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = """
                version: 1
                vault: {path: vault.db}
                providers:
                  sim: {baseURL: "\(baseURL.absoluteString)", username: ops@example.com, password: "env:BENCH_PASSWORD", timeout: 30s}
                entities:
                \(ids.map { "  \($0): {}" }.joined(separator: "\n"))

                """
            try Data(config.utf8).write(to: directory.appendingPathComponent("keyward.yaml"))
            var registry = PluginRegistry()
            TokenServiceProvider.register(in: &registry)
            let loaded = try Dispatcher.load(configPath: directory.appendingPathComponent("keyward.yaml").path, registry: registry,
                                             environment: ["BENCH_PASSWORD": password])
            let keyFile = directory.appendingPathComponent("key").path
            try VaultKeySource.createKeyFile(at: keyFile)
            let vault = try Vault.create(at: directory.appendingPathComponent("vault.db").path, keySource: .keyFile(keyFile),
                                         options: VaultOptions(anchorDirectory: directory.appendingPathComponent("anchors").path))
            let dispatcher = loaded.with(vault: vault)
            simulator.resetCounters()
            let start = ContinuousClock.now
            let report = try await dispatcher.sync(SyncRequest(concurrency: concurrency), context: OperationContext())
            let elapsed = ContinuousClock.now - start
            let calls = simulator.counters().values.reduce(0, +)
            guard report.failureCategory == nil else { throw KeywardError.operationFailed("the benchmark's sync failed: \(report.entities.first { $0.error != nil }?.error?.message ?? "")") }
            return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, calls, report)
        }

        let concurrent = try await measure(concurrency: concurrency)
        let ideal = Double(concurrent.calls) * Double(latencyMs) / 1000 / Double(concurrency)
        var result: [String: Any] = [
            "entities": entities, "latencyMs": latencyMs, "concurrency": concurrency, "calls": concurrent.calls,
            "wallSeconds": concurrent.seconds, "idealSeconds": ideal,
        ]
        if ideal > 0 { result["ratioToIdeal"] = concurrent.seconds / ideal }
        if sequential {
            let serial = try await measure(concurrency: 1)
            result["sequentialWallSeconds"] = serial.seconds
            result["speedupOverSequential"] = serial.seconds / concurrent.seconds
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        result["peakRSSMiB"] = Double(usage.ru_maxrss) / 1024
        await simulator.stop()
        let json = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}

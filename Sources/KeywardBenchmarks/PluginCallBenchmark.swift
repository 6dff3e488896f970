import Foundation
import KeywardCore
import KeywardExternal
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The cost of protocol 1 (DESIGN.md, "Plugins") per call: a sink `write` of N entities (five
/// keys each, the default names) sent to an external sink through ``ExternalPlugin/call(_:secrets:logger:)``,
/// beside the same plugin run alone with the same request bytes on stdin (`posix_spawn`, stdout
/// read to the end, `waitpid`), alternating call and bare run so drift hits both. The
/// difference of the medians is what Keyward adds to one plugin call: encoding the request,
/// the pipes, the process group, the scrubbed environment, the poll loop, decoding and checking
/// the answer. Prints one JSON object; times in milliseconds.
///
/// Usage: KeywardBenchmarks plugin-call --command PATH [--entities N] [--runs K] [--option NAME=VALUE …]
enum PluginCallBenchmark {
    static func run(_ arguments: [String]) async throws {
        var command: [String] = []
        var entities = 1_000, runs = 15
        var options: [String: JSONValue] = [:]
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--command": command.append(iterator.next() ?? "")
            case "--entities": entities = Int(iterator.next() ?? "") ?? entities
            case "--runs": runs = Int(iterator.next() ?? "") ?? runs
            case "--option":
                let pair = (iterator.next() ?? "").split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2 else { throw KeywardError.usage("--option takes NAME=VALUE") }
                options[pair[0]] = .string(pair[1])
            default: throw KeywardError.usage("unknown argument \(argument)")
            }
        }
        guard let executable = command.first, !executable.isEmpty else { throw KeywardError.usage("--command PATH is required") }
        let directory = FileManager.default.currentDirectoryPath

        var entries: [JSONValue] = []
        var secrets: [[UInt8]] = []
        for index in 1...entities {
            let id = String(format: "FIU-BENCH-%05d", index)
            let prefix = id.replacingOccurrences(of: "-", with: "_")
            let secret = "bench-secret-\(index)-" + String(repeating: "x", count: 32)
            secrets.append(Array(secret.utf8))
            let fields: [(String, String, String)] = [
                ("\(prefix)_ENTITY_ID", id, "id"), ("\(prefix)_SECRET", secret, "secret"),
                ("\(prefix)_ACCESS_TOKEN", "eyJ.bench-token-\(index)", "token"),
                ("\(prefix)_SECRET_EXPIRES_AT", "2027-06-01T00:00:00Z", "secretExpiresAt"),
                ("\(prefix)_TOKEN_EXPIRES_AT", "2026-12-08T00:00:00Z", "tokenExpiresAt"),
            ]
            for (key, value, field) in fields {
                entries.append(.object(["key": .string(key), "value": .string(value), "entity": .string(id), "field": .string(field)]))
            }
        }
        let request: [String: JSONValue] = [
            "operation": .string("write"), "dryRun": .bool(false),
            "sink": .object(["name": .string("bench"), "options": .object(options)]),
            "entries": .array(entries),
        ]
        var whole = request
        whole["protocol"] = .integer(1)
        let encodeStart = ContinuousClock.now
        let bytes = JSONValue.object(whole).serialized()
        let encodeMilliseconds = milliseconds(ContinuousClock.now - encodeStart)
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-plugin-bench-\(UUID().uuidString.prefix(8)).json")
        try Data(bytes).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }

        let plugin = ExternalPlugin(command: command, directory: directory, timeout: .seconds(120))
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        // Warm-up: the plugin's first write creates what later writes find unchanged.
        _ = try await plugin.call(request, secrets: secrets, logger: logger)
        _ = try bare(command, directory: directory, input: input.path)

        var called: [Double] = [], alone: [Double] = []
        for _ in 0..<runs {
            var start = ContinuousClock.now
            _ = try await plugin.call(request, secrets: secrets, logger: logger)
            called.append(milliseconds(ContinuousClock.now - start))
            start = ContinuousClock.now
            _ = try bare(command, directory: directory, input: input.path)
            alone.append(milliseconds(ContinuousClock.now - start))
        }
        func summary(_ values: [Double]) -> [String: Double] {
            let sorted = values.sorted()
            return ["min": sorted.first ?? 0, "median": sorted[sorted.count / 2], "max": sorted.last ?? 0]
        }
        let overhead = summary(called)["median"]! - summary(alone)["median"]!
        let result: [String: Any] = [
            "plugin": executable, "entities": entities, "entries": entries.count, "requestBytes": bytes.count, "runs": runs,
            "callMilliseconds": summary(called), "pluginAloneMilliseconds": summary(alone),
            "overheadPerCallMilliseconds": (overhead * 100).rounded() / 100,
            "encodeOnceMilliseconds": (encodeMilliseconds * 100).rounded() / 100,
        ]
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted])
        print(String(decoding: data, as: UTF8.self))
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1_000 + Double(duration.components.attoseconds) / 1e15
    }

    /// Runs `command` with stdin from `input`, reads its stdout to the end and waits: the least
    /// any caller must do to run the plugin once.
    static func bare(_ command: [String], directory: String, input: String) throws -> Int {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw KeywardError.operationFailed("pipe failed") }
        posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(directory)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        let argv = command.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let environment = ["PATH", "HOME", "LANG", "TMPDIR"].compactMap { name in ProcessInfo.processInfo.environment[name].map { "\(name)=\($0)" } }
            + ["KEYWARD_PLUGIN_PROTOCOL=1"]
        let envp = environment.map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, command[0], &actions, nil, argv, envp)
        close(pipeFDs[1])
        guard code == 0 else {
            close(pipeFDs[0])
            throw KeywardError.operationFailed("could not start \(command[0]): \(String(cString: strerror(code)))")
        }
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(pipeFDs[0], &buffer, buffer.count)
            if count > 0 { total += count } else if count == 0 || errno != EINTR { break }
        }
        close(pipeFDs[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else { throw KeywardError.operationFailed("\(command[0]) exited with status \(status)") }
        return total
    }
}

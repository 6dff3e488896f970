import Foundation
import KeywardSimulator
import Testing

/// Pins the `--output json` documents of `sync`, `rotate`, `status` and `audit` byte for byte
/// (issue 13, item 3: outcomes, changes and plan actions become enums with the same raw values,
/// and scripts see exactly the bytes they saw before).
///
/// One scenario against the in-process simulator exercises every outcome and change word the
/// engine writes: a first sync (`ok`, `secret`, `token`), a second (`unchanged`), dry runs of
/// both commands (the `plan` and its actions), a forced rotation, a rotation skipped because
/// another job holds the lock (`skipped`), a rotation recovered after a crash (`recovered`), a
/// failed entity (`failed`, its error), then `status` and `audit`.
///
/// Normalisation (the only bytes that may differ from run to run, replaced before comparing):
/// - the fixture's temporary directory → `<dir>`;
/// - RFC 3339 times (`2026-12-07T00:00:00Z`, with or without fractions) → `<time>`;
/// - the value of `expiresInSeconds` → `<seconds>` (it counts down with the wall clock);
/// - txnIds (the simulator's UUIDs) → `<txn>`;
/// - fingerprints (keyed by the vault's random key: 8 hex digits in `"secretFingerprint"`,
///   `"oldFingerprint"`, `"newFingerprint"`, `"fingerprint"`) → `<fp>`;
/// - `pid N` in a lock holder's description → `pid <pid>`;
/// - in `audit`, consecutive rows of one operation (a `sync` audits its entities as they
///   finish, concurrently) are sorted by their normalised text, so their order is stable.
/// Secret versions, outcomes, changes, actions, reasons and the order of keys are kept.
@Suite("JSON output of sync, rotate, status and audit: pinned byte for byte", .serialized)
struct JSONOutputPinTests {
    static func normalise(_ text: String, directory: URL) -> String {
        var text = text.replacingOccurrences(of: directory.path, with: "<dir>")
        let rules: [(String, String)] = [
            (#"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z"#, "<time>"),
            (#""expiresInSeconds" : -?\d+"#, #""expiresInSeconds" : "<seconds>""#),
            (#"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"#, "<txn>"),
            (#""(secretFingerprint|oldFingerprint|newFingerprint|fingerprint)" : "[0-9a-f]{8}""#, #""$1" : "<fp>""#),
            (#"pid \d+"#, "pid <pid>"),
        ]
        for (pattern, template) in rules {
            text = text.replacingOccurrences(of: pattern, with: template, options: .regularExpression)
        }
        return text
    }

    /// Sorts each run of consecutive audit rows that share an `operation` (pretty-printed: each
    /// row a block from `    {` to `    }`), keeping the separators where they were.
    static func sortConcurrentAuditRows(_ text: String) -> String {
        let lines = text.components(separatedBy: "\n")
        guard let start = lines.firstIndex(of: "  \"entries\" : ["), let end = lines.lastIndex(of: "  ],") else { return text }
        var rows: [[String]] = []
        var index = start + 1
        while index < end {
            var row: [String] = []
            repeat {
                row.append(lines[index])
                index += 1
            } while index < end && !lines[index - 1].hasPrefix("    }")
            rows.append(row)
        }
        func body(_ row: [String]) -> String { row.joined(separator: "\n").replacingOccurrences(of: "    },", with: "    }") }
        func operation(_ row: [String]) -> String { row.first { $0.contains("\"operation\" : ") } ?? "" }
        var sorted: [String] = []
        var group: [[String]] = []
        func flush() {
            sorted += group.map(body).sorted()
            group.removeAll()
        }
        for row in rows {
            if let last = group.last, operation(last) != operation(row) { flush() }
            group.append(row)
        }
        flush()
        let entries = sorted.enumerated().map { $0.offset < sorted.count - 1 ? $0.element.replacingOccurrences(of: "\n    }", with: "\n    },", options: .backwards) : $0.element }
        return (lines[...start] + entries + lines[end...]).joined(separator: "\n")
    }

    /// Runs the scenario and returns each command's normalised stdout, labelled.
    static func scenario() async throws -> [(label: String, output: String)] {
        let fixture = try await RotateCLITests.withSinks()
        defer { Task { await fixture.stop() } }
        var outputs: [(String, String)] = []
        func record(_ label: String, _ arguments: [String], extra: [String: String] = [:]) async throws -> CommandRunner.Result {
            let result = try await fixture.run(arguments, extraEnvironment: extra)
            var output = normalise(result.stdout, directory: fixture.directory)
            if arguments.first == "audit" { output = sortConcurrentAuditRows(output) }
            outputs.append((label, "exit \(result.status)\n" + output))
            return result
        }
        _ = try await record("sync --dry-run", ["sync", "--dry-run", "--output", "json"])
        _ = try await record("sync", ["sync", "--output", "json"])
        _ = try await record("sync again", ["sync", "--output", "json"])
        _ = try await record("rotate --dry-run", ["rotate", "--dry-run", "--output", "json"])
        _ = try await record("rotate --force --dry-run", ["rotate", "--force", "--dry-run", "--output", "json", "FIU-ALPHA", "FIU-BETA"])
        _ = try await record("rotate --force", ["rotate", "--force", "--output", "json", "FIU-ALPHA"])
        _ = try await record("rotate not due", ["rotate", "--output", "json", "FIU-ALPHA", "FIU-BETA"])
        do {
            let hold = try RotateCLITests.RotationLockHold(fixture, entity: "FIU-BETA")
            _ = try await record("rotate skipped", ["rotate", "--force", "--output", "json", "FIU-BETA"])
            hold.release()
        }
        let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-reset-answer"])
        #expect(RotateCLITests.killed.contains(crashed.status), "\(crashed.all)")
        _ = try await record("status open", ["status", "--output", "json"])
        _ = try await record("rotate recovered", ["rotate", "--force", "--output", "json", "FIU-ALPHA"])
        fixture.simulator.inject(.rateLimit429(retryAfterSeconds: 1), endpoint: .secretReset, count: 5)
        _ = try await record("rotate failed", ["rotate", "--force", "--output", "json", "FIU-BETA"])
        _ = try await record("status", ["status", "--output", "json"])
        _ = try await record("audit", ["audit", "--output", "json"])
        return outputs
    }

    @Test("sync, rotate, status and audit print exactly the pinned JSON documents")
    func pinned() async throws {
        let outputs = try await Self.scenario()
        let actual = outputs.map { "== \($0.label)\n\($0.output)" }.joined(separator: "\n")
        if let dump = ProcessInfo.processInfo.environment["KEYWARD_PIN_DUMP"] {
            try actual.write(toFile: dump, atomically: true, encoding: .utf8)
        }
        // `pinned` (JSONOutputPinned.swift): the documents the build before issue 13 printed.
        #expect(actual == Self.pinned, "set KEYWARD_PIN_DUMP=/path to write what this build prints, and diff it with JSONOutputPinned.swift")
    }
}

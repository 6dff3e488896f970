import Foundation
import KeywardCore
import KeywardSimulator
import KeywardTesting
import Testing

/// `keyward scan` end to end (DESIGN.md, "Leak scanning and masked output"): values planted by
/// other tools' encoders (Python's base64, urllib.parse and json), found by name, version,
/// fingerprint and encoding, never printed.
@Suite("keyward scan", .serialized)
struct ScanCLITests {
    /// Writes one line per encoding of each value (read from a 0600 file, never argv), with
    /// Python's own encoders, and prints `LINE NAME ENCODING` for each planted line.
    static let planter = #"""
        import base64, json, re, sys, urllib.parse
        values = json.load(open(sys.argv[1]))
        out = open(sys.argv[2], "w", encoding="utf-8", newline="\n")
        line = 0
        def plant(name, encoding, text, column=5):
            global line
            line += 1
            out.write("key=" + text + " # filler\n")
            # The same bytes found under a simpler encoding are named by it (Keyward's order).
            if value in text:
                encoding, column = "raw", 5 + text.index(value)
            elif encoding == "base64url" and "-" not in text and "_" not in text:
                encoding = "base64"
            elif encoding == "form" and text == urllib.parse.quote(value, safe=""):
                encoding = "percent"
            print(line, column, name, encoding)
        for name, value in values:
            raw = value.encode()
            plant(name, "raw", value)
            for prefix in (b"", b"x", b"xy"):
                # The value's own characters start after those that mix in the prefix's bits.
                column = 5 + (8 * len(prefix) + 5) // 6
                plant(name, "base64", base64.b64encode(prefix + raw + b"!").decode(), column)
                plant(name, "base64url", base64.urlsafe_b64encode(prefix + raw).decode().rstrip("="), column)
            plant(name, "percent", urllib.parse.quote(value, safe=""))
            plant(name, "percent", re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(value, safe="")))
            plant(name, "form", urllib.parse.quote_plus(value, safe=""))
            plant(name, "percent", urllib.parse.quote(value))
            plant(name, "json", json.dumps(value)[1:-1])
            plant(name, "json", json.dumps(value, ensure_ascii=False).replace("/", "\\/")[1:-1])
        """#

    struct Planted: Hashable {
        let line: Int
        let column: Int
        let name: String
        let encoding: String
    }

    static func plant(_ values: [(String, String)], in directory: URL, file: String) async throws -> [Planted] {
        let valuesFile = directory.appendingPathComponent("values.json")
        let json = try JSONSerialization.data(withJSONObject: values.map { [$0.0, $0.1] })
        FileManager.default.createFile(atPath: valuesFile.path, contents: json, attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(at: valuesFile) }
        let script = directory.appendingPathComponent("plant.py")
        try planter.write(to: script, atomically: true, encoding: .utf8)
        let result = try await CommandRunner.run([script.path, valuesFile.path, directory.appendingPathComponent(file).path],
                                                 executable: "python3")
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map {
            let parts = $0.split(separator: " ").map(String.init)
            return Planted(line: Int(parts[0])!, column: Int(parts[1])!, name: parts[2], encoding: parts[3])
        }
    }

    /// The fixture after a sync, with the values that are in the vault: entity secrets and
    /// tokens, and the provider password.
    static func values(_ fixture: EngineFixture) async throws -> [(String, String)] {
        var values: [(String, String)] = [("providers/sim/password", EngineFixture.password)]
        for id in ["FIU-ALPHA", "FIU-BETA"] {
            values.append(("entities/\(id)/secret", try #require(fixture.simulator.currentSecret(for: id))))
            values.append(("entities/\(id)/token", try await fixture.vaultGet("entities/\(id)/token")))
        }
        return values
    }

    /// Every encoded form (Keyward's own list) of every value: what no output may contain.
    static func forbidden(_ values: [(String, String)]) -> [String] {
        values.flatMap { EncodedForm.forms(of: Array($0.1.utf8)).map { String(decoding: $0.bytes, as: UTF8.self) } }
    }

    @Test("finds every value in every encoding Python's encoders produce, by name and encoding, never printing it")
    func findsEveryEncoding() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA", "FIU-BETA"]).status == 0)
        let values = try await Self.values(fixture)
        let project = fixture.directory.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project.appendingPathComponent(".git"), withIntermediateDirectories: true)
        let planted = try await Self.plant(values, in: project, file: "app.log")
        #expect(planted.count == values.count * 13)
        // A copy in .git is not looked at; a binary file holding a raw value is.
        try FileManager.default.copyItem(at: project.appendingPathComponent("app.log"), to: project.appendingPathComponent(".git/app.log"))
        let alpha = values[1].1
        try Data([0, 1, 2, 0xFF] + Array(alpha.utf8) + [0, 0xFE]).write(to: project.appendingPathComponent("core.bin"))

        let result = try await fixture.run(["scan", "project"])
        #expect(result.status == 7, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let core = try #require(lines.first { $0.hasPrefix("project/core.bin:") }, "\(lines.prefix(3))")
        #expect(core.hasPrefix("project/core.bin:1:5: entities/FIU-ALPHA/secret v1 (fingerprint ") && core.hasSuffix(", raw)"), "\(core)")
        let fingerprint = String(core.dropLast(", raw)".count).suffix(8))
        let history = try await fixture.run(["vault", "history", "entities/FIU-ALPHA/secret"])
        #expect(history.stdout.contains(fingerprint), "the vault's own fingerprint: \(history.stdout)")
        var found: Set<Planted> = []
        for line in lines where line.hasPrefix("project/app.log:") {
            // project/app.log:LINE:5: NAME [vN] (fingerprint F, ENCODING)
            let fields = line.split(separator: ":", maxSplits: 3).map(String.init)
            let rest = fields[3].trimmingCharacters(in: .whitespaces)
            let name = String(rest.prefix { $0 != " " })
            let encoding = String(rest.split(separator: ", ").last!.dropLast())
            found.insert(Planted(line: Int(fields[1])!, column: Int(fields[2])!, name: name, encoding: encoding))
        }
        #expect(found == Set(planted), "missing: \(Set(planted).subtracting(found).sorted { $0.line < $1.line }.prefix(5)); not planted: \(found.subtracting(planted).sorted { $0.line < $1.line }.prefix(5))")
        #expect(lines.count == planted.count + 1, "one finding per planted line, none from .git")
        #expect(result.stderr.contains("found in 2 files"), "\(result.stderr)")
        for leaked in LeakScanner.leaks(in: result.all, of: Self.forbidden(values)) { Issue.record("scan printed a value's form: \(leaked.count) bytes") }
        #expect(try await fixture.run(["audit"]).stdout.contains("\tscan\t"))

        // JSON and SARIF carry the same findings.
        let json = try await fixture.run(["scan", "project", "--output", "json"])
        #expect(json.status == 7)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let findings = try #require(document["findings"] as? [[String: Any]])
        #expect(findings.count == lines.count)
        #expect(document["version"] as? Int == 1)
        #expect(findings.first?["path"] as? String == "project/app.log")
        let sarif = try await fixture.run(["scan", "project", "--output", "sarif"])
        #expect(sarif.status == 7)
        let log = try #require(try JSONSerialization.jsonObject(with: Data(sarif.stdout.utf8)) as? [String: Any])
        #expect(log["version"] as? String == "2.1.0")
        let run = try #require((log["runs"] as? [[String: Any]])?.first)
        let results = try #require(run["results"] as? [[String: Any]])
        #expect(results.count == lines.count)
        let location = try #require(((results.first?["locations"] as? [[String: Any]])?.first?["physicalLocation"]) as? [String: Any])
        #expect((location["artifactLocation"] as? [String: Any])?["uri"] as? String == "project/app.log")
        #expect((location["region"] as? [String: Any])?["startLine"] as? Int == 1)
        for text in [json.all, sarif.all] {
            for leaked in LeakScanner.leaks(in: text, of: Self.forbidden(values)) { Issue.record("scan printed a value's form: \(leaked.count) bytes") }
        }
    }

    @Test("exit 0 on clean input; --stdin; values under 8 bytes listed with --verbose; .keywardscanignore")
    func cleanStdinAndIgnore() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let token = try await fixture.vaultGet("entities/FIU-ALPHA/token")
        let project = fixture.directory.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project.appendingPathComponent("fixtures"), withIntermediateDirectories: true)
        try "nothing to see\n".write(to: project.appendingPathComponent("clean.txt"), atomically: true, encoding: .utf8)
        let clean = try await fixture.run(["scan", "project"])
        #expect(clean.status == 0, "\(clean.all)")
        #expect(clean.stdout.isEmpty)
        #expect(clean.stderr == "keyward: nothing found (1 file scanned)\n")

        try "t=\(token)\n".write(to: project.appendingPathComponent("fixtures/recorded.txt"), atomically: true, encoding: .utf8)
        #expect(try await fixture.run(["scan", "project"]).status == 7)
        try "# recorded answers\nfixtures/\n".write(to: project.appendingPathComponent(".keywardscanignore"), atomically: true, encoding: .utf8)
        #expect(try await fixture.run(["scan", "project"]).status == 0, "the ignored directory is skipped")
        #expect(try await fixture.run(["scan", "project/fixtures/recorded.txt"]).status == 7, "a file named explicitly is scanned")

        let piped = try await fixture.run(["scan", "--stdin"], stdin: "line one\nheader: Bearer \(token)\n")
        #expect(piped.status == 7)
        #expect(piped.stdout.hasPrefix("-:2:16: entities/FIU-ALPHA/token v"), "\(piped.stdout)")
        let tokenPrinted = piped.all.contains(token)  // a Bool: a failure must not print the output
        #expect(!tokenPrinted)

        try await Self.putValue(fixture, name: "apps/pin", value: "1234567")
        let verbose = try await fixture.run(["scan", "project/clean.txt", "--verbose"])
        #expect(verbose.status == 0)
        #expect(verbose.stderr.contains("not searched (shorter than 8 bytes): apps/pin v1"), "\(verbose.stderr)")
    }

    static func putValue(_ fixture: EngineFixture, name: String, value: String) async throws {
        let put = try await fixture.run(["vault", "put", name], stdin: value)
        #expect(put.status == 0, "\(put.all)")
    }

    @Test("--all-versions also finds secrets two rotations old")
    func allVersions() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let first = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try await fixture.run(["rotate", "--force", "FIU-ALPHA"]).status == 0)
        let second = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try await fixture.run(["rotate", "--force", "FIU-ALPHA"]).status == 0)
        let history = try await fixture.run(["vault", "history", "entities/FIU-ALPHA/secret", "--output", "json"])
        #expect(history.stdout.contains("\"version\" : 3"), "two rotations made v3: \(history.stdout)")
        let old = fixture.directory.appendingPathComponent("old.env")
        try "A=\(first)\n".write(to: old, atomically: true, encoding: .utf8)
        let previous = fixture.directory.appendingPathComponent("previous.env")
        try "A=\(second)\n".write(to: previous, atomically: true, encoding: .utf8)
        let notFound = try await fixture.run(["scan", "old.env"])
        #expect(notFound.status == 0, "v1 is neither current nor previous: \(notFound.all)")
        let found = try await fixture.run(["scan", "previous.env"])
        #expect(found.status == 7)
        #expect(found.stdout.hasPrefix("previous.env:1:3: entities/FIU-ALPHA/secret v2 "))
        let all = try await fixture.run(["scan", "old.env", "--all-versions"])
        #expect(all.status == 7)
        #expect(all.stdout.hasPrefix("old.env:1:3: entities/FIU-ALPHA/secret v1 "), "\(all.stdout)")
    }

    @Test("--staged reads git's index, and a pre-commit hook stops the commit")
    func staged() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let secret = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        let repo = fixture.directory.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
        func git(_ arguments: [String]) async throws -> CommandRunner.Result {
            try await CommandRunner.run(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"] + arguments,
                                        environment: fixture.environment, executable: "git", workingDirectory: repo)
        }
        #expect(try await git(["init", "-q"]).status == 0)
        try "config = 1\n".write(to: repo.appendingPathComponent("app.conf"), atomically: true, encoding: .utf8)
        #expect(try await git(["add", "app.conf"]).status == 0)
        let scan = ["scan", "--staged", "--config", fixture.directory.appendingPathComponent("keyward.yaml").path]
        let clean = try await CommandRunner.run(scan, environment: fixture.environment, workingDirectory: repo)
        #expect(clean.status == 0, "\(clean.all)")

        // Staged with the secret; the work tree's copy is clean again: the index is what counts.
        try "config = 1\nsecret = \(secret)\n".write(to: repo.appendingPathComponent("app.conf"), atomically: true, encoding: .utf8)
        #expect(try await git(["add", "app.conf"]).status == 0)
        try "config = 1\n".write(to: repo.appendingPathComponent("app.conf"), atomically: true, encoding: .utf8)
        let found = try await CommandRunner.run(scan, environment: fixture.environment, workingDirectory: repo)
        #expect(found.status == 7)
        #expect(found.stdout.hasPrefix("app.conf:2:10: entities/FIU-ALPHA/secret v1 "), "\(found.all)")

        // The README's hook.
        let hook = repo.appendingPathComponent(".git/hooks/pre-commit")
        try "#!/bin/sh\nexec \"\(CommandRunner.binary.path)\" scan --staged --quiet --config \"\(fixture.directory.path)/keyward.yaml\"\n"
            .write(to: hook, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
        let commit = try await git(["commit", "-q", "-m", "add config"])
        #expect(commit.status != 0, "the hook refused the commit")
        #expect(commit.all.contains("app.conf:2:10: entities/FIU-ALPHA/secret"))
        let secretPrinted = commit.all.contains(secret)
        #expect(!secretPrinted)
        #expect(try await git(["rev-parse", "--verify", "-q", "HEAD"]).status != 0, "no commit was made")
    }

    @Test("hostile input: a missing path exits 2, a FIFO never blocks, /proc is not walked, no vault exits 4, outside git --staged exits 2")
    func hostileInput() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let missing = try await fixture.run(["scan", "no/such/dir"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no/such/dir: No such file or directory"), "\(missing.stderr)")
        #expect(try await fixture.run(["scan", "-"]).status == 2)
        #expect(try await fixture.run(["scan", "--staged", "x"]).status == 2)
        #expect(try await fixture.run(["scan", "--output", "xml", "."]).status == 2)

        let project = fixture.directory.appendingPathComponent("fifo")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        #expect(mkfifo(project.appendingPathComponent("pipe").path, 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: project.appendingPathComponent("loop").path, withDestinationPath: ".")
        let walked = try await fixture.run(["scan", "fifo"])
        #expect(walked.status == 0, "a FIFO and a symbolic link loop in a walk are skipped: \(walked.all)")
        let named = try await fixture.run(["scan", "fifo/pipe"])
        #expect(named.status == 0, "a FIFO named explicitly is read; with no writer it ends at once: \(named.all)")
        let socket = try await fixture.run(["scan", "/dev/log"])
        #expect([1, 2].contains(socket.status), "\(socket.all)")
        let proc = try await fixture.run(["scan", "/proc/self/"])
        #expect(proc.status == 0, "/proc is not walked: \(proc.all)")

        let noVault = try await fixture.run(["scan", "fifo", "--vault", fixture.directory.appendingPathComponent("none.db").path])
        #expect(noVault.status == 4, "\(noVault.all)")
        let outside = try await CommandRunner.run(["scan", "--staged", "--config", fixture.directory.appendingPathComponent("keyward.yaml").path],
                                                  environment: fixture.environment, workingDirectory: project)
        #expect(outside.status == 2, "\(outside.all)")
        #expect(outside.stderr == "keyward: scan --staged: not inside a git work tree (run it from the repository's top directory)\n", "\(outside.stderr)")
    }
}

import Foundation
import KeywardSimulator
import Testing

/// Reads an env file with python-dotenv and returns its variables.
func readWithPythonDotenv(_ path: String) async throws -> [String: String] {
    let output = try await runTool(["python3", "-c", "import json,sys,dotenv; print(json.dumps(dotenv.dotenv_values(sys.argv[1])))", path])
    return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: String] ?? [:]
}

/// Reads an env file with `set -a; . FILE` in `shell` (bash or dash) and returns one variable's exact value.
func readWithShell(_ shell: String, _ path: String, variable: String) async throws -> String {
    let output = try await runTool([shell, "-c", "set -a; . \"$1\"; printf '%s' \"$(printenv \(variable) | od -An -tx1 | tr -d ' \\n')\"", "sh", path])
    var bytes: [UInt8] = []
    var index = output.startIndex
    while index < output.endIndex {
        let next = output.index(index, offsetBy: 2)
        bytes.append(UInt8(output[index..<next], radix: 16)!)
        index = next
    }
    // printenv adds one newline.
    if bytes.last == 0x0A { bytes.removeLast() }
    return String(decoding: bytes, as: UTF8.self)
}

func runTool(_ arguments: [String]) async throws -> String {
    try await CommandRunner.offPool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileReadUnknown) }
        return String(decoding: data, as: UTF8.self)
    }
}

@Suite("sinks and export, read back by other tools", .serialized)
struct SinkCLITests {
    static let sinks = """
        sinks:
          app-env:
            type: dotenv
            path: deploy/app.env
            entities: [FIU-ALPHA, FIU-BETA]
            onChange: [touch, reloaded]
          alpha-json:
            type: json
            path: deploy/alpha.json
            entities: [FIU-ALPHA]
            keys:
              AA_CLIENT_ID: "{entity.id}"
              AA_CLIENT_SECRET: "{entity.secret}"
              AA_AUTH: "Bearer {entity.token}"
        """

    func withSinks() async throws -> EngineFixture {
        let fixture = try await EngineFixture.start()
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        try (try String(contentsOf: config, encoding: .utf8) + Self.sinks + "\n").write(to: config, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: fixture.directory.appendingPathComponent("deploy"), withIntermediateDirectories: true)
        return fixture
    }

    @Test("the env file is read back exactly by python-dotenv, bash and dash; a second sync leaves it untouched")
    func dotenvRoundTrip() async throws {
        let fixture = try await withSinks()
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["sync"])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("sink app-env: written"))
        let env = fixture.directory.appendingPathComponent("deploy/app.env").path
        let alpha = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(alpha.contains("\"") && alpha.contains("$"), "the seeded secret is hostile on purpose")
        let parsed = try await readWithPythonDotenv(env)
        #expect(parsed["FIU_ALPHA_SECRET"] == alpha)
        #expect(parsed["FIU_BETA_SECRET"] == fixture.simulator.currentSecret(for: "FIU-BETA"))
        #expect(parsed["FIU_ALPHA_ENTITY_ID"] == "FIU-ALPHA")
        #expect(parsed["FIU_ALPHA_ACCESS_TOKEN"] == (try await fixture.vaultGet("entities/FIU-ALPHA/token")))
        for shell in ["bash", "dash"] {
            #expect(try await readWithShell(shell, env, variable: "FIU_ALPHA_SECRET") == alpha, "\(shell)")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: env)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("reloaded").path), "onChange ran")
        try FileManager.default.removeItem(at: fixture.directory.appendingPathComponent("reloaded"))

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture.directory.appendingPathComponent("deploy/alpha.json"))) as? [String: String]
        #expect(json?["AA_CLIENT_SECRET"] == alpha)
        #expect(json?["AA_AUTH"]?.hasPrefix("Bearer ey") == true)

        let modified = attributes[.modificationDate] as? Date
        let inode = attributes[.systemFileNumber] as? Int
        try await Task.sleep(nanoseconds: 1_100_000_000)
        let again = try await fixture.run(["sync"])
        #expect(again.status == 0)
        #expect(again.stdout.contains("sink app-env: unchanged"))
        let after = try FileManager.default.attributesOfItem(atPath: env)
        #expect(after[.modificationDate] as? Date == modified)
        #expect(after[.systemFileNumber] as? Int == inode)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("reloaded").path), "no change, no onChange")
        for output in [result.all, again.all] {
            #expect(fixture.secrets().filter { output.contains($0) }.isEmpty)
        }
    }

    @Test("--dry-run writes no file")
    func dryRunWritesNothing() async throws {
        let fixture = try await withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let env = fixture.directory.appendingPathComponent("deploy/app.env")
        try FileManager.default.removeItem(at: env)
        fixture.simulator.setSecret("changed+elsewhere", for: "FIU-ALPHA", expiresIn: 80 * 86_400)
        let result = try await fixture.run(["sync", "--dry-run"])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("write sink app-env"))
        #expect(!FileManager.default.fileExists(atPath: env.path))
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") != "changed+elsewhere")
        #expect(!result.all.contains("changed+elsewhere"))
    }

    @Test("a sink through a symbolic link is refused; the other sinks are still written (exit 5)")
    func symlinkRefused() async throws {
        let fixture = try await withSinks()
        defer { Task { await fixture.stop() } }
        let target = fixture.directory.appendingPathComponent("elsewhere.env")
        try "KEEP=1\n".write(to: target, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: fixture.directory.appendingPathComponent("deploy/app.env").path, withDestinationPath: target.path)
        let result = try await fixture.run(["sync"])
        #expect(result.status == 5, "\(result.all)")
        #expect(result.stderr.contains("sink app-env"))
        #expect(try String(contentsOf: target, encoding: .utf8) == "KEEP=1\n")
        #expect(FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("deploy/alpha.json").path))
    }

    @Test("--sink writes only the named sink")
    func sinkFilter() async throws {
        let fixture = try await withSinks()
        defer { Task { await fixture.stop() } }
        let result = try await fixture.run(["sync", "--sink", "alpha-json"])
        #expect(result.status == 0, "\(result.all)")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("deploy/app.env").path))
        #expect(FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("deploy/alpha.json").path))
        #expect(try await fixture.run(["sync", "--sink", "nosuch"]).status == 2)
    }

    @Test("export as a Kubernetes Secret passes kubernetes-validate and equals kubectl's; as shell it evals back exactly")
    func exportKubernetesAndShell() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let manifest = fixture.directory.appendingPathComponent("secret.yaml")
        let exported = try await fixture.run(["export", "FIU-ALPHA", "--format", "kubernetes-secret", "--namespace", "payments", "--out", manifest.path])
        #expect(exported.status == 0, "\(exported.all)")
        _ = try await runTool(["kubernetes-validate", "--strict", manifest.path])

        let material = try await fixture.vaultGet("entities/FIU-ALPHA/secret")
        let token = try await fixture.vaultGet("entities/FIU-ALPHA/token")
        let listing = try await fixture.run(["export", "FIU-ALPHA", "--format", "json"])
        let pairs = try #require(try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [String: String])
        #expect(pairs["FIU_ALPHA_SECRET"] == material && pairs["FIU_ALPHA_ACCESS_TOKEN"] == token)
        let kubectl = try await runTool(["kubectl", "create", "secret", "generic", "fiu-alpha", "--namespace", "payments", "--dry-run=client", "-o", "json"]
            + pairs.keys.sorted().map { "--from-literal=\($0)=\(pairs[$0]!)" })
        let compare = """
            import json, sys, yaml
            ours = yaml.safe_load(open(sys.argv[1]))
            theirs = json.loads(sys.stdin.read())
            assert ours["data"] == theirs["data"], "data differs"
            assert ours["metadata"]["name"] == theirs["metadata"]["name"] == "fiu-alpha"
            assert ours["metadata"]["namespace"] == theirs["metadata"]["namespace"] == "payments"
            assert ours.get("type", "Opaque") == theirs.get("type", "Opaque")
            print("same")
            """
        let manifestPath = manifest.path
        let verdict = try await CommandRunner.offPool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", compare, manifestPath]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data(kubectl.utf8))
            try input.fileHandleForWriting.close()
            let verdict = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return verdict
        }
        #expect(verdict == "same\n")

        let bad = try await fixture.run(["export", "FIU-ALPHA", "--format", "kubernetes-secret", "--name", "Not_Valid"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("DNS-1123"))

        let shell = try await fixture.run(["export", "FIU-ALPHA", "--format", "shell"])
        let script = fixture.directory.appendingPathComponent("env.sh")
        try shell.stdout.write(to: script, atomically: true, encoding: .utf8)
        for interpreter in ["bash", "dash"] {
            let value = try await runTool([interpreter, "-c", "eval \"$(cat \"$1\")\"; printf '%s' \"$FIU_ALPHA_SECRET\"", "sh", script.path])
            #expect(value == material, "\(interpreter)")
        }
    }

    @Test("export writes dotenv or JSON to stdout or a file, mints nothing, and audits")
    func export() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let before = try await fixture.run(["export", "FIU-ALPHA", "--format", "dotenv"])
        #expect(before.status == 1)
        #expect(before.stderr.contains("run `keyward sync FIU-ALPHA`"))
        #expect(try await fixture.run(["sync"]).status == 0)
        let minted = fixture.counter(.entityToken)

        let out = fixture.directory.appendingPathComponent("exported.env")
        let toFile = try await fixture.run(["export", "FIU-ALPHA", "FIU-BETA", "--format", "dotenv", "--out", out.path])
        #expect(toFile.status == 0, "\(toFile.all)")
        #expect(toFile.stdout.isEmpty)
        let parsed = try await readWithPythonDotenv(out.path)
        #expect(parsed["FIU_ALPHA_SECRET"] == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(try await readWithShell("bash", out.path, variable: "FIU_BETA_SECRET") == fixture.simulator.currentSecret(for: "FIU-BETA"))

        let json = try await fixture.run(["export", "FIU-GAMMA", "--format", "json", "--pretty"])
        #expect(json.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: String]
        #expect(object?["FIU_GAMMA_SECRET"] == fixture.simulator.currentSecret(for: "FIU-GAMMA"))
        #expect(object?["FIU_GAMMA_SECRET_EXPIRES_AT"] == "")
        #expect(fixture.counter(.entityToken) == minted)
        #expect(try await fixture.run(["audit"]).stdout.contains("\texport\tFIU-GAMMA\tok"))
        #expect(try await fixture.run(["export", "FIU-ALPHA", "--format", "yaml"]).status == 2)
        #expect(try await fixture.run(["export", "--format", "json"]).status == 2)
        #expect(try await fixture.run(["export", "FIU-NOPE", "--format", "json"]).status == 2)
    }

    @Test("an export appends one audit row that names every entity it read, in order, and no value")
    func exportAuditsOneRow() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let two = try await fixture.run(["export", "FIU-BETA", "FIU-ALPHA", "--format", "json"])
        #expect(two.status == 0, "\(two.all)")
        let out = fixture.directory.appendingPathComponent("all.yaml")
        let all = try await fixture.run(["export", "--all", "--format", "kubernetes-secret", "--per-entity", "--out", out.path, "--quiet"])
        #expect(all.status == 0, "\(all.all)")
        #expect(try await fixture.run(["exec", "FIU-GAMMA", "FIU-ALPHA", "--", "true"]).status == 0)

        let text = try await fixture.run(["audit"])
        #expect(text.status == 0)
        let rows = text.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        let reads = rows.filter { $0.count == 5 && ($0[1] == "export" || $0[1] == "exec") }.map { [$0[1], $0[2], $0[3]] }
        #expect(reads == [
            ["export", "FIU-BETA,FIU-ALPHA", "ok"],
            ["export", "FIU-ALPHA,FIU-BETA,FIU-GAMMA", "ok"],
            ["exec", "FIU-GAMMA,FIU-ALPHA", "ok"],
        ])

        let json = try await fixture.run(["audit", "--output", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let entries = try #require(document["entries"] as? [[String: Any]])
        let exported = entries.filter { $0["operation"] as? String == "export" }
        #expect(exported.map { $0["entity"] as? String } == ["FIU-BETA,FIU-ALPHA", "FIU-ALPHA,FIU-BETA,FIU-GAMMA"])
        #expect(exported.map { $0["entities"] as? [String] } == [["FIU-BETA", "FIU-ALPHA"], ["FIU-ALPHA", "FIU-BETA", "FIU-GAMMA"]])
        for secret in fixture.secrets() {
            #expect(!text.stdout.contains(secret) && !json.stdout.contains(secret), "no secret in the audit log")
        }
    }
}

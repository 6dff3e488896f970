import Foundation
import KeywardSimulator
import KeywardTesting
import Testing

/// Issue 15 (wtC): the example plugins of Examples/plugins with the built binary, as the README's
/// walkthrough uses them: `keyward plugin test` on each (and on a broken copy), a `sync` writing
/// through the shell sink, a `rotate` through the Python provider's file store.
@Suite("the example plugins through keyward plugin test, sync and rotate")
struct ExamplePluginsCLITests {
    /// Examples/plugins of this package.
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/plugins")
    static let sink = examples.appendingPathComponent("keyward-sink-files").path
    static let provider = examples.appendingPathComponent("keyward-provider-filestore").path
    /// PATH with the examples first, as the README's walkthrough sets it.
    static let environment = ["PATH": "\(examples.path):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")"]

    static let sinkCases = [
        "pass  describe answers protocol 1 with a valid description",
        "pass  sink: hostile values written then read back byte for byte",
        "pass  sink: a second identical write answers unchanged",
        "pass  sink: a dry-run write changes nothing",
        "pass  bad JSON is answered with an invalid error",
        "pass  an unknown operation is answered with an invalid error",
        "pass  protocol 2 is answered with an invalid error",
        "pass  a call that cannot finish is stopped at its timeout, its process group gone",
        "8 of 8 cases passed",
    ]

    static func store(_ entities: [String: String]) throws -> Data {
        let document = ["entities": entities.mapValues { ["secret": $0, "expiresAt": "2030-01-01T00:00:00Z"] }]
        return try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
    }

    @Test("plugin test passes every case of the shell sink, found on PATH")
    func sinkPasses() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await CommandRunner.run(["plugin", "test", "--option", "directory=\(directory.path)/out", "--", "keyward-sink-files"],
                                                 environment: Self.environment, directory: directory)
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.split(separator: "\n").map(String.init) == Self.sinkCases)
        #expect(result.stderr.isEmpty, "\(result.stderr)")
    }

    @Test("plugin test passes every case of the Python provider, resetting the entity once; --output json lists them")
    func providerPasses() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = "first-secret-\(UUID().uuidString)"
        try Self.store(["FIU-TEST-1": first]).write(to: directory.appendingPathComponent("store.json"))
        let result = try await CommandRunner.run(["plugin", "test", "--output", "json", "--option", "store=\(directory.path)/store.json",
                                                  "--entity", "FIU-TEST-1", "--", Self.provider],
                                                 environment: Self.environment, directory: directory)
        #expect(result.status == 0, "\(result.all)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["version"] as? Int == 1)
        #expect(report["passed"] as? Bool == true)
        let cases = try #require(report["cases"] as? [[String: Any]])
        #expect(cases.map { $0["name"] as? String } == [
            "describe answers protocol 1 with a valid description",
            "provider: fetch answers the entity's secret",
            "provider: reset answers a new secret that fetch then returns",
            "provider: token answers a token that expires in the future",
            "provider: token refuses a wrong secret",
            "bad JSON is answered with an invalid error",
            "an unknown operation is answered with an invalid error",
            "protocol 2 is answered with an invalid error",
            "a call that cannot finish is stopped at its timeout, its process group gone",
        ])
        #expect(cases.allSatisfy { $0["outcome"] as? String == "passed" })
        let resets = try String(contentsOf: directory.appendingPathComponent("resets.log"), encoding: .utf8)
        #expect(resets.split(separator: "\n").count == 1)
        let stored = try String(contentsOf: directory.appendingPathComponent("store.json"), encoding: .utf8)
        #expect(!stored.contains(first), "reset replaced the secret")
        #expect(LeakScanner.leaks(in: result.all, of: [first]).isEmpty)
    }

    @Test("plugin test exits 1 naming each failed case of a broken copy of the shell sink")
    func brokenSinks() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = try String(contentsOfFile: Self.sink, encoding: .utf8)
        // One copy ignores dryRun; the other loses trailing newlines (a command substitution).
        let ignoresDryRun = original.replacingOccurrences(of: "dry=\\(.dryRun == true)", with: "dry=false")
        let dropsNewlines = original.replacingOccurrences(of: "\"printf %s \\(.value | @sh) >", with: "\"printf %s \\\"$(printf %s \\(.value | @sh))\\\" >")
        #expect(ignoresDryRun != original && dropsNewlines != original)
        let expectations: [(String, String, [String])] = [
            ("ignores-dry-run", ignoresDryRun, ["sink: a dry-run write changes nothing"]),
            ("drops-newlines", dropsNewlines, ["sink: hostile values written then read back byte for byte",
                                               "sink: a second identical write answers unchanged",
                                               "sink: a dry-run write changes nothing"]),
        ]
        for (name, script, failed) in expectations {
            let path = directory.appendingPathComponent(name).path
            try script.write(toFile: path, atomically: true, encoding: .utf8)
            // Run by /bin/sh rather than exec'd: a file just written may still be open in a
            // process another test forked meanwhile (ETXTBSY).
            let result = try await CommandRunner.run(["plugin", "test", "--option", "directory=\(directory.path)/out-\(name)", "--", "/bin/sh", path],
                                                     environment: Self.environment, directory: directory)
            #expect(result.status == 1, "\(name): \(result.all)")
            let failures = result.stdout.split(separator: "\n").filter { $0.hasPrefix("FAIL  ") }
            #expect(failures.count == failed.count && zip(failures, failed).allSatisfy { $0.hasPrefix("FAIL  \($1): ") }, "\(name): \(result.stdout)")
            #expect(result.stdout.hasSuffix("\(8 - failed.count) of 8 cases passed\n"), "\(name)")
            #expect(result.stderr == "keyward: plugin test: \(failed.count) of 8 cases failed: \(failed.joined(separator: "; "))\n", "\(name)")
        }
    }

    @Test("plugin test refuses usage errors with exit 2: no command, an option without =, a provider without --entity, a required option missing, an option not declared")
    func usage() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for arguments in [["plugin", "test"], ["plugin", "test", "--"], ["plugin", "test", "--option", "directory", "--", Self.sink],
                          ["plugin", "test", "--kind", "provider", "--", Self.provider], ["plugin", "test", "--kind", "widget", "--", Self.sink],
                          ["plugin", "test", "--", "keyward-sink-no-such-plugin"],
                          ["plugin", "test", "--", Self.sink],
                          ["plugin", "test", "--option", "directory=\(directory.path)/out", "--option", "colour=blue", "--", Self.sink]] {
            let result = try await CommandRunner.run(arguments, environment: Self.environment, directory: directory)
            #expect(result.status == 2, "\(arguments): \(result.all)")
            #expect(result.stdout.isEmpty, "\(arguments)")
        }
        let missing = try await CommandRunner.run(["plugin", "test", "--", Self.sink], environment: Self.environment, directory: directory)
        #expect(missing.stderr == "keyward: plugin \(Self.sink): it requires --option directory=VALUE\n")
    }

    @Test("plugin test takes a secret option as env:NAME or file:PATH and sends the value; a literal, an unset variable or a file open to others is exit 2")
    func secretOptions() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plugin = directory.appendingPathComponent("keyward-sink-keyed")
        try ScriptFile.write(#"""
            #!/usr/bin/env python3
            import json, os, sys
            request = json.load(sys.stdin)
            if request.get("operation") == "describe":
                print(json.dumps({"protocol": 1, "kind": "sink", "name": "keyed", "protocols": [1], "capabilities": ["write"],
                                  "options": {"apiKey": {"type": "secret", "required": True}}}))
                sys.exit(0)
            with open(os.path.join(os.path.dirname(os.path.realpath(__file__)), "received.log"), "a") as log:
                log.write(json.dumps(request.get("sink", {}).get("options", {})) + "\n")
            print(json.dumps({"protocol": 1, "outcome": "written"}))
            """#, to: plugin.path, mode: 0o700)
        let key = "api-key-\(UUID().uuidString)"
        let environment = Self.environment.merging(["TEST_API_KEY": key]) { $1 }
        let received = directory.appendingPathComponent("received.log")

        let byVariable = try await CommandRunner.run(["plugin", "test", "--option", "apiKey=env:TEST_API_KEY", "--", plugin.path],
                                                     environment: environment, directory: directory)
        #expect(!byVariable.all.contains(key), "the value is never printed")
        let sent = try String(contentsOf: received, encoding: .utf8)
        #expect(sent.contains("{\"apiKey\": \"\(key)\"}"), "\(sent)")
        #expect(!sent.contains("env:"))

        try FileManager.default.removeItem(at: received)
        let keyFile = directory.appendingPathComponent("api.key")
        try (key + "\n").write(to: keyFile, atomically: true, encoding: .utf8)
        chmod(keyFile.path, 0o600)
        let byFile = try await CommandRunner.run(["plugin", "test", "--option", "apiKey=file:api.key", "--", plugin.path],
                                                 environment: environment, directory: directory)
        #expect(!byFile.all.contains(key))
        #expect(try String(contentsOf: received, encoding: .utf8).contains("{\"apiKey\": \"\(key)\"}"))

        try FileManager.default.removeItem(at: received)
        chmod(keyFile.path, 0o644)
        let cases: [(String, String)] = [
            ("apiKey=\(key)", "keyward: --option apiKey is a secret option: give env:NAME or file:PATH, never the value (a command line is visible to every user in ps)\n"),
            ("apiKey=env:NOT_SET_ANYWHERE", "keyward: --option apiKey: env:NOT_SET_ANYWHERE: the environment variable NOT_SET_ANYWHERE is not set\n"),
            ("apiKey=file:api.key", "keyward: --option apiKey: the file \(keyFile.path) is open to group or others (mode 0644); a file holding a secret must be private: run chmod 600 \(keyFile.path)\n"),
            ("apiKey=file:", "keyward: --option apiKey: file: needs a path\n"),
            ("apiKey=vault:providers/x/password", "keyward: --option apiKey is a secret option: give env:NAME or file:PATH, never the value (a command line is visible to every user in ps)\n"),
        ]
        for (option, message) in cases {
            let refused = try await CommandRunner.run(["plugin", "test", "--option", option, "--", plugin.path], environment: environment, directory: directory)
            #expect(refused.status == 2, "\(option)")
            #expect(refused.stdout.isEmpty)
            #expect(refused.stderr == message, "\(refused.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: received.path), "no call reached the plugin")
    }

    @Test("plugin test finds and trusts a plugin as the configuration does: a missing file, a name on no PATH directory, a directory others can write, each exit 2 before anything runs")
    func lookupAndTrust() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gone = try await CommandRunner.run(["plugin", "test", "--", directory.path + "/nonexistent"], environment: Self.environment, directory: directory)
        #expect(gone.status == 2, "\(gone.all)")
        #expect(gone.stdout.isEmpty)
        #expect(gone.stderr == "keyward: \(directory.path)/nonexistent does not exist\n", "\(gone.stderr)")
        let unknown = try await CommandRunner.run(["plugin", "test", "--", "keyward-sink-no-such-plugin"], environment: ["PATH": "/usr/bin:relative"],
                                                  directory: directory)
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("plugin 'keyward-sink-no-such-plugin' was not found on PATH (searched: /usr/bin)"), "\(unknown.stderr)")
        // A copy of the shell sink in a directory anyone can write: anyone could replace it.
        let open = directory.appendingPathComponent("open")
        try FileManager.default.createDirectory(at: open, withIntermediateDirectories: false)
        chmod(open.path, 0o777)
        try FileManager.default.copyItem(atPath: Self.sink, toPath: open.appendingPathComponent("keyward-sink-files").path)
        let ran = directory.appendingPathComponent("out")
        let unsafe = try await CommandRunner.run(["plugin", "test", "--option", "directory=\(ran.path)", "--", "./open/keyward-sink-files"],
                                                 environment: Self.environment, directory: directory)
        #expect(unsafe.status == 2, "\(unsafe.all)")
        #expect(unsafe.stderr == "keyward: the directory \(open.path) holding the plugin \(open.path)/keyward-sink-files can be written by group or others, who could replace it: run `chmod go-w \(open.path)`\n",
                "\(unsafe.stderr)")
        #expect(!FileManager.default.fileExists(atPath: ran.path), "the plugin did not run")
    }

    @Test("sync writes every key through the shell sink (type: external), each file byte for byte, nothing leaked")
    func syncThroughShellSink() async throws {
        let fixture = try await EngineFixture.start(extraConfig: """
            sinks:
              files:
                type: external
                command: [\(Self.sink)]
                directory: credentials
                entities: [FIU-ALPHA, FIU-BETA]
            """)
        defer { Task { await fixture.stop() } }
        let sync = try await fixture.run(["sync"], extraEnvironment: Self.environment)
        #expect(sync.status == 0, "\(sync.all)")
        #expect(sync.stdout.contains("sink files: written"), "\(sync.stdout)")
        let credentials = fixture.directory.appendingPathComponent("credentials")
        for (id, prefix) in [("FIU-ALPHA", "FIU_ALPHA"), ("FIU-BETA", "FIU_BETA")] {
            let secret = try #require(fixture.simulator.currentSecret(for: id))
            #expect(FileManager.default.contents(atPath: credentials.appendingPathComponent("\(prefix)_SECRET").path) == Data(secret.utf8))
            #expect(FileManager.default.contents(atPath: credentials.appendingPathComponent("\(prefix)_ENTITY_ID").path) == Data(id.utf8))
            let token = try await fixture.vaultGet("entities/\(id)/token")
            #expect(FileManager.default.contents(atPath: credentials.appendingPathComponent("\(prefix)_ACCESS_TOKEN").path) == Data(token.utf8))
            #expect((try FileManager.default.attributesOfItem(atPath: credentials.appendingPathComponent("\(prefix)_SECRET").path)[.posixPermissions] as? Int) == 0o600)
        }
        #expect((try FileManager.default.attributesOfItem(atPath: credentials.path)[.posixPermissions] as? Int) == 0o700)
        let again = try await fixture.run(["sync"], extraEnvironment: Self.environment)
        #expect(again.status == 0, "\(again.all)")
        #expect(again.stdout.contains("sink files: unchanged"), "\(again.stdout)")
        #expect(LeakScanner.leaks(in: sync.all + again.all, of: fixture.secrets()).isEmpty)
    }

    @Test("rotate resets through the Python provider (found on PATH) exactly once, and the shell sink gets the new secret")
    func rotateThroughPythonProvider() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = "first+secret/with=\"quotes\" and $dollars-\(UUID().uuidString)"
        try Self.store(["FIU-EXAMPLE-1": first]).write(to: directory.appendingPathComponent("store.json"))
        try """
            version: 1
            vault:
              path: state/vault.db
            providers:
              local:
                type: filestore
                store: store.json
            entities:
              FIU-EXAMPLE-1:
                provider: local
                secretExpiryDays: 90
            sinks:
              files:
                type: files
                directory: credentials
                entities: [FIU-EXAMPLE-1]
            """.write(to: directory.appendingPathComponent("keyward.yaml"), atomically: true, encoding: .utf8)
        let keyFile = directory.appendingPathComponent("vault.key").path
        var environment = Self.environment
        let initialize = try await CommandRunner.run(["vault", "init", "--new-key-file", keyFile], environment: environment, directory: directory)
        #expect(initialize.status == 0, "\(initialize.all)")
        environment["KEYWARD_KEY_FILE"] = keyFile

        let sync = try await CommandRunner.run(["sync"], environment: environment, directory: directory)
        #expect(sync.status == 0, "\(sync.all)")
        let secretFile = directory.appendingPathComponent("credentials/FIU_EXAMPLE_1_SECRET").path
        #expect(FileManager.default.contents(atPath: secretFile) == Data(first.utf8))

        let rotate = try await CommandRunner.run(["rotate", "--force", "FIU-EXAMPLE-1"], environment: environment, directory: directory)
        #expect(rotate.status == 0, "\(rotate.all)")
        let resets = try String(contentsOf: directory.appendingPathComponent("resets.log"), encoding: .utf8)
        #expect(resets.split(separator: "\n").count == 1)
        #expect(resets.hasPrefix("FIU-EXAMPLE-1\t"))
        let store = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("store.json"))) as? [String: Any])
        let entry = try #require((store["entities"] as? [String: Any])?["FIU-EXAMPLE-1"] as? [String: Any])
        let second = try #require(entry["secret"] as? String)
        #expect(second != first)
        #expect(FileManager.default.contents(atPath: secretFile) == Data(second.utf8))
        let vault = try await CommandRunner.run(["vault", "get", "entities/FIU-EXAMPLE-1/secret"], environment: environment, directory: directory)
        #expect(vault.stdout == second)
        #expect(LeakScanner.leaks(in: sync.all + rotate.all, of: [first, second]).isEmpty)
    }
}

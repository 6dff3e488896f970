import Foundation
import KeywardTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// External plugins (protocol 1, DESIGN.md "Plugins") end to end with the built binary and no
/// token service: a provider in Python that keeps its secrets in a JSON file (and counts its
/// resets), sinks in Python and shell, some of them misbehaving on purpose.
@Suite("external plugins: crash-safe rotation, hostile values, misbehaving plugins", .serialized)
struct ExternalPluginCLITests {
    /// A provider with fetch, reset and token over `store.json` beside it. Every call is logged
    /// to `calls.log` (operation and entity); a file `reset-delay` makes reset sleep that many
    /// seconds after it changed the store (an answer that can be lost); with a file `no-token`
    /// (there before its first `describe`) it does not claim `token`; `refuse-reset` makes reset
    /// answer the error code the file holds, changing nothing; `reset-stderr-fail` makes it
    /// print the new secret on stderr and exit 1 after it changed the store.
    static let provider = #"""
        #!/usr/bin/env python3
        import datetime, json, os, secrets, sys, time
        here = os.path.dirname(os.path.realpath(__file__))
        path = os.path.join(here, "store.json")
        def answer(body):
            body["protocol"] = 1
            sys.stdout.write(json.dumps(body))
            sys.exit(0)
        def stamp(delta):
            return (datetime.datetime.now(datetime.timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")
        request = json.load(sys.stdin)
        operation = request.get("operation")
        if request.get("protocol") != 1:
            answer({"error": {"code": "invalid", "message": "protocol 1 only"}})
        if operation == "describe":
            capabilities = ["fetch", "reset"] if os.path.exists(os.path.join(here, "no-token")) else ["fetch", "reset", "token"]
            answer({"kind": "provider", "name": "test-store", "protocols": [1], "capabilities": capabilities, "options": {}})
        entity = request.get("entity")
        with open(os.path.join(here, "calls.log"), "a") as log:
            log.write("%s %s\n" % (operation, entity))
        store = json.load(open(path))
        if entity not in store:
            answer({"error": {"code": "notFound", "message": "no entity %s" % entity}})
        if operation == "fetch":
            answer({"secret": store[entity]["secret"], "expiresAt": store[entity]["expiresAt"]})
        if operation == "reset":
            refuse = os.path.join(here, "refuse-reset")
            if os.path.exists(refuse):
                answer({"error": {"code": open(refuse).read().strip(), "message": "resets are refused here"}})
            days = request.get("secretExpiryDays") or 180
            store[entity] = {"secret": "rotated-" + secrets.token_urlsafe(24), "expiresAt": stamp(datetime.timedelta(days=days))}
            with open(path + ".tmp", "w") as out:
                json.dump(store, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(path + ".tmp", path)
            with open(os.path.join(here, "resets.log"), "a") as log:
                log.write(entity + "\n")
            if os.path.exists(os.path.join(here, "reset-stderr-fail")):
                sys.stderr.write("new secret is %s\n" % store[entity]["secret"])
                sys.exit(1)
            delay = os.path.join(here, "reset-delay")
            if os.path.exists(delay):
                time.sleep(float(open(delay).read()))
            answer({"secret": store[entity]["secret"], "expiresAt": store[entity]["expiresAt"]})
        if operation == "token":
            if request.get("secret") != store[entity]["secret"]:
                answer({"error": {"code": "auth", "message": "not the entity's current secret"}})
            answer({"token": "token-" + secrets.token_urlsafe(16), "expiresAt": stamp(datetime.timedelta(hours=24))})
        answer({"error": {"code": "invalid", "message": "unknown operation"}})
        """#

    /// A sink that stores what it is given in `<directory>/sink-<name>.json` (keys to values),
    /// with write and read. `ps.log` gets every process's argv seen during a write (what `ps`
    /// would show), and `pid` its own process id; a file `hang` makes it sleep, with a
    /// `sleep 300` child whose id it writes to `child-pid`.
    static let sink = #"""
        #!/usr/bin/env python3
        import json, os, subprocess, sys, time
        here = os.path.dirname(os.path.realpath(__file__))
        def answer(body):
            body["protocol"] = 1
            sys.stdout.write(json.dumps(body))
            sys.exit(0)
        request = json.load(sys.stdin)
        operation = request.get("operation")
        if operation == "describe":
            answer({"kind": "sink", "name": "test-json", "protocols": [1], "capabilities": ["write", "read"],
                    "options": {"label": {"type": "string", "required": True}}})
        sink = request["sink"]
        path = os.path.join(here, "sink-%s.json" % sink["options"]["label"])
        with open(os.path.join(here, "pid"), "w") as out:
            out.write(str(os.getpid()))
        with open(os.path.join(here, "env.log"), "w") as out:
            out.write("\n".join(sorted(os.environ)) + "\n")
        if os.path.exists(os.path.join(here, "hang")):
            child = subprocess.Popen(["sleep", "300"])
            with open(os.path.join(here, "child-pid"), "w") as out:
                out.write(str(child.pid))
            time.sleep(300)
        held = json.load(open(path)) if os.path.exists(path) else {}
        if operation == "read":
            if not held:
                answer({"error": {"code": "notFound", "message": "nothing written yet"}})
            answer({"entries": [{"key": e["key"], "value": held[e["key"]]} for e in request["entries"] if e["key"] in held]})
        if operation == "write":
            lines = []
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        lines.append(open("/proc/%s/cmdline" % pid, "rb").read().replace(b"\0", b" ").decode("utf-8", "replace"))
                    except OSError:
                        pass
            with open(os.path.join(here, "ps.log"), "a") as log:
                log.write("\n".join(lines) + "\n")
            new = {e["key"]: e["value"] for e in request["entries"]}
            if new == held:
                answer({"outcome": "unchanged"})
            if not request.get("dryRun"):
                with open(path + ".tmp", "w") as out:
                    json.dump(new, out)
                os.replace(path + ".tmp", path)
            answer({"outcome": "written"})
        answer({"error": {"code": "invalid", "message": "unknown operation"}})
        """#

    /// Secrets no argv, log or output may show, each hostile in its own way.
    static let hostile: [String: String] = [
        "FIU-ALPHA": "alpha secret: 'single' \"double\" $HOME `tick` \\ back\\slash",
        "FIU-BETA": "beta\nmulti-line\r\nsecret\twith tab and émoji 🔑 and \u{7}bell \u{1}\u{1B}[0m\u{7F}\u{FFFD}\u{2028} binary-looking",
        "FIU-GAMMA": String(repeating: "gamma-64KiB-", count: 5_462) + "end",
    ]

    struct Fixture {
        let directory: URL
        var environment: [String: String]

        func run(_ arguments: [String], extra: [String: String] = [:]) async throws -> CommandRunner.Result {
            try await CommandRunner.run(arguments, environment: environment.merging(extra) { $1 }, directory: directory)
        }

        func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

        func read(_ name: String) -> String? { try? String(contentsOf: file(name), encoding: .utf8) }

        /// Lines of `resets.log`: one per reset the provider made.
        var resets: Int { read("resets.log")?.split(separator: "\n").count ?? 0 }

        /// The provider's store: entity to secret.
        func storeSecret(_ entity: String) throws -> String? {
            let data = try Data(contentsOf: file("store.json"))
            return ((try JSONSerialization.jsonObject(with: data) as? [String: Any])?[entity] as? [String: Any])?["secret"] as? String
        }

        /// What the `label` sink holds: key to value.
        func sinkValues(_ label: String = "main") throws -> [String: String] {
            let data = try Data(contentsOf: file("sink-\(label).json"))
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: String])
        }

        /// Every secret value in play: the store's current ones and every hostile seed value.
        func secrets() throws -> [String] {
            let data = try Data(contentsOf: file("store.json"))
            let store = (try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]]) ?? [:]
            return store.values.compactMap { $0["secret"] as? String } + Array(hostile.values)
        }

        func stop() { try? FileManager.default.removeItem(at: directory) }
    }

    static func write(_ text: String, to url: URL, mode: Int = 0o755) throws {
        try ScriptFile.write(text, to: url.path, mode: mode_t(mode))
    }

    /// A project with the provider and sink above, a key-file vault and these sinks.
    /// - Parameters:
    ///   - sinks: the `sinks:` section's entries (`""`: no sinks), default one `main` sink of all.
    ///   - prepare: runs before the vault is made (and so before the configuration is first loaded).
    static func start(sinks: String? = nil, entities: [String] = ["FIU-ALPHA", "FIU-BETA", "FIU-GAMMA"],
                      prepare: (URL) throws -> Void = { _ in }) async throws -> Fixture {
        let directory = try CommandRunner.temporaryDirectory()
        try write(provider, to: directory.appendingPathComponent("provider.py"))
        try write(sink, to: directory.appendingPathComponent("sink.py"))
        var store: [String: [String: String]] = [:]
        for id in entities { store[id] = ["secret": hostile[id] ?? "secret-\(id)", "expiresAt": "2027-06-01T00:00:00Z"] }
        try JSONSerialization.data(withJSONObject: store).write(to: directory.appendingPathComponent("store.json"))
        let list = entities.joined(separator: ", ")
        let config = """
            version: 1
            vault:
              path: state/vault.db
            providers:
              files:
                type: external
                command: [./provider.py]
                timeout: 20s
            entities:
            \(entities.map { "  \($0): {}" }.joined(separator: "\n"))
            \(sinks == "" ? "" : "sinks:")
            \(sinks ?? """
              main:
                type: external
                command: [./sink.py]
                label: main
                entities: [\(list)]
            """)
            """
        try write(config, to: directory.appendingPathComponent("keyward.yaml"), mode: 0o600)
        try prepare(directory)
        let key = directory.appendingPathComponent("vault.key").path
        let fixture = Fixture(directory: directory, environment: ["KEYWARD_KEY_FILE": key])
        let initialised = try await fixture.run(["vault", "init", "--new-key-file", key])
        #expect(initialised.status == 0, "\(initialised.all)")
        return fixture
    }

    static let killed: Set<Int32> = [9, 137]

    @Test("a sync through an external provider and sink delivers hostile values byte for byte, shown in no argv and no output")
    func hostileValues() async throws {
        let fixture = try await Self.start()
        defer { fixture.stop() }
        let sync = try await fixture.run(["sync", "--verbose"])
        #expect(sync.status == 0, "\(sync.all)")
        let held = try fixture.sinkValues()
        for (id, secret) in Self.hostile {
            let prefix = id.replacingOccurrences(of: "-", with: "_")
            #expect(held["\(prefix)_SECRET"] == secret, "\(id)")
            #expect(held["\(prefix)_ENTITY_ID"] == id)
            #expect(held["\(prefix)_ACCESS_TOKEN"]?.hasPrefix("token-") == true, "\(id): \(held.keys.sorted())")
            #expect(try await fixture.run(["vault", "get", "entities/\(id)/secret"]).stdout == secret)
        }
        // What `ps` showed while the sink ran, and everything keyward printed.
        let ps = try #require(fixture.read("ps.log"))
        #expect(ps.contains("sink.py"), "the sink saw its own argv: \(ps.prefix(300))")
        let leaked = try fixture.secrets().filter { ps.contains($0) || sync.all.contains($0) }
        #expect(leaked.isEmpty, "secret values in argv or output")
        // The scrubbed environment: none of Keyward's unlock or other variables reached it.
        let names = try #require(fixture.read("env.log")).split(separator: "\n").map(String.init)
        #expect(names.contains("KEYWARD_PLUGIN_PROTOCOL") && names.contains("PATH") && names.contains("HOME"), "\(names)")
        #expect(names.filter { ($0.hasPrefix("KEYWARD_") && $0 != "KEYWARD_PLUGIN_PROTOCOL") || $0.hasPrefix("XDG_") || $0 == "NO_COLOR" }.isEmpty,
                "\(names)")
        // A dry run reads every value back through the plugin's `read` and compares: all equal.
        let dry = try await fixture.run(["sync", "--dry-run", "--output", "json"])
        #expect(dry.status == 0, "\(dry.all)")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any])
        let planned = try #require((plan["sinks"] as? [[String: Any]])?.first)
        #expect(planned["outcome"] as? String == "unchanged", "read back byte for byte: \(dry.stdout)")
        let again = try await fixture.run(["sync", "--output", "json"])
        #expect(again.status == 0, "\(again.all)")
        #expect(again.stdout.contains("\"unchanged\""), "\(again.stdout)")
        #expect(try fixture.secrets().filter { dry.all.contains($0) || again.all.contains($0) }.isEmpty)
    }

    @Test("killed at each rotation step, three times over: the next sync converges with one reset per rotation",
          arguments: ["before-journal", "after-journal", "after-reset-answer", "after-store", "after-token", "during-sinks"])
    func crashAt(step: String) async throws {
        let fixture = try await Self.start(entities: ["FIU-ALPHA"])
        defer { fixture.stop() }
        let first = try await fixture.run(["sync"])
        #expect(first.status == 0, "\(first.all)")
        let resetsExpected = ["before-journal", "after-journal"].contains(step) ? 0 : 1
        for round in 1...3 {
            let before = fixture.resets
            let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extra: ["KEYWARD_CRASH_AT": step])
            #expect(Self.killed.contains(crashed.status), "round \(round): killed at \(step): \(crashed.all)")
            let sync = try await fixture.run(["sync"])
            #expect(sync.status == 0, "round \(round): \(sync.all)")
            #expect(fixture.resets - before == resetsExpected, "round \(round): \(step)")
            let current = try #require(try fixture.storeSecret("FIU-ALPHA"))
            #expect(try await fixture.run(["vault", "get", "entities/FIU-ALPHA/secret"]).stdout == current, "round \(round): vault follows")
            #expect(try fixture.sinkValues()["FIU_ALPHA_SECRET"] == current, "round \(round): the sink holds the current secret")
            let leaked = try fixture.secrets().filter { crashed.all.contains($0) || sync.all.contains($0) }
            #expect(leaked.isEmpty)
        }
        #expect(fixture.resets == resetsExpected * 3)
    }

    @Test("killed while the plugin's reset runs: the plugin finishes it, the next sync fetches it and never resets again")
    func killedInFlight() async throws {
        let fixture = try await Self.start(entities: ["FIU-ALPHA"])
        defer { fixture.stop() }
        #expect(try await fixture.run(["sync"]).status == 0)
        try "4".write(to: fixture.file("reset-delay"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = ["rotate", "--force", "FIU-ALPHA"]
        process.currentDirectoryURL = fixture.directory
        process.environment = fixture.environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                                                           "HOME": fixture.directory.path]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while fixture.resets == 0 && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(fixture.resets == 1)
        kill(process.processIdentifier, SIGKILL)
        try await CommandRunner.offPool { process.waitUntilExit() }
        try FileManager.default.removeItem(at: fixture.file("reset-delay"))
        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 0, "\(sync.all)")
        #expect(fixture.resets == 1, "one reset, recovered by fetch: \(fixture.read("calls.log") ?? "")")
        let current = try #require(try fixture.storeSecret("FIU-ALPHA"))
        #expect(try await fixture.run(["vault", "get", "entities/FIU-ALPHA/secret"]).stdout == current)
        #expect(try fixture.sinkValues()["FIU_ALPHA_SECRET"] == current)
    }

    @Test("a hung sink is stopped at its timeout with everything it started; the run fails naming it (exit 5 beside a good sink)")
    func hungSink() async throws {
        let fixture = try await Self.start(sinks: """
              good:
                type: external
                command: [./sink.py]
                label: good
                entities: [FIU-ALPHA]
              slow:
                type: external
                command: [./sink-slow.py]
                timeout: 2s
                label: slow
                entities: [FIU-ALPHA]
            """, entities: ["FIU-ALPHA"]) { directory in
            let slow = try Self.hangingSink(in: directory)
            try FileManager.default.createSymbolicLink(at: directory.appendingPathComponent("sink-slow.py"),
                                                       withDestinationURL: slow.appendingPathComponent("sink.py"))
        }
        defer { fixture.stop() }
        let slow = fixture.file("slow")
        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 5, "\(sync.all)")
        #expect(sync.stderr.contains("slow"), "names the sink: \(sync.stderr)")
        #expect(sync.stderr.contains("2s") || sync.stderr.contains("timeout"), "says it timed out: \(sync.stderr)")
        #expect(try fixture.sinkValues("good")["FIU_ALPHA_SECRET"] == Self.hostile["FIU-ALPHA"])
        try Self.expectGone(slow)
    }

    /// The sink in a directory `slow` of its own, with the `hang` file that makes it sleep.
    static func hangingSink(in directory: URL) throws -> URL {
        let slow = directory.appendingPathComponent("slow")
        try FileManager.default.createDirectory(at: slow, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Self.write(Self.sink, to: slow.appendingPathComponent("sink.py"))
        try "".write(to: slow.appendingPathComponent("hang"), atomically: true, encoding: .utf8)
        return slow
    }

    /// The hanging sink of `slow` and its `sleep 300` child no longer run. By their own ids
    /// (other tests run such children meanwhile) and by command line: a process reparented and
    /// killed may stay a zombie, which `kill(pid, 0)` still finds but which has no command line.
    static func expectGone(_ slow: URL) throws {
        for name in ["pid", "child-pid"] {
            let pid = try #require(Int32(try String(contentsOf: slow.appendingPathComponent(name), encoding: .utf8)))
            let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            #expect(cmdline.isEmpty, "\(name) \(pid) still runs: \(cmdline.replacingOccurrences(of: "\u{0}", with: " "))")
        }
    }

    @Test("a provider error object maps to its exit code: auth 3, invalid 2, unavailable 1")
    func providerErrors() async throws {
        for (code, status) in [("auth", Int32(3)), ("invalid", 2), ("unavailable", 1)] {
            let fixture = try await Self.start(sinks: "", entities: ["FIU-ALPHA"])
            defer { fixture.stop() }
            let failing = """
                #!/bin/sh
                request=$(cat)
                case "$request" in
                  *'"describe"'*) echo '{"protocol":1,"kind":"provider","name":"failing","protocols":[1],"capabilities":["fetch"],"options":{}}' ;;
                  *) echo '{"protocol":1,"error":{"code":"\(code)","message":"refused by the test"}}' ;;
                esac
                """
            try Self.write(failing, to: fixture.file("provider.py"))
            let sync = try await fixture.run(["sync"])
            #expect(sync.status == status, "\(code): \(sync.all)")
            #expect(sync.stderr.contains("refused by the test"), "\(code): \(sync.stderr)")
        }
    }

    @Test("a provider without the token capability: the sink gets no token keys, and {entity.token} is refused at load")
    func noTokenCapability() async throws {
        let fixture = try await Self.start(entities: ["FIU-ALPHA", "FIU-BETA"]) { directory in
            try "".write(to: directory.appendingPathComponent("no-token"), atomically: true, encoding: .utf8)
        }
        defer { fixture.stop() }
        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 0, "\(sync.all)")
        let held = try fixture.sinkValues()
        #expect(held.keys.sorted() == ["FIU_ALPHA_ENTITY_ID", "FIU_ALPHA_SECRET", "FIU_ALPHA_SECRET_EXPIRES_AT",
                                       "FIU_BETA_ENTITY_ID", "FIU_BETA_SECRET", "FIU_BETA_SECRET_EXPIRES_AT"])
        #expect(held["FIU_BETA_SECRET"] == Self.hostile["FIU-BETA"])
        #expect(held["FIU_ALPHA_SECRET_EXPIRES_AT"] == "2027-06-01T00:00:00Z")
        #expect(!(fixture.read("calls.log") ?? "").contains("token"))

        let config = fixture.file("keyward.yaml")
        let text = try String(contentsOf: config, encoding: .utf8)
        try (text + "\n" + """
              tokens:
                type: json
                path: tokens.json
                entities: [FIU-ALPHA]
                keys:
                  TOKEN: "{entity.token}"

            """).write(to: config, atomically: true, encoding: .utf8)
        let check = try await fixture.run(["config", "check"])
        #expect(check.status == 2, "\(check.all)")
        #expect(check.stderr.contains("sinks.tokens.keys.TOKEN"), "\(check.stderr)")
    }

    @Test("a reset the plugin refuses with an error object closes the rotation at once (aborted) and exits by its code")
    func refusedReset() async throws {
        for (code, status) in [("rateLimited", Int32(1)), ("auth", 3), ("invalid", 2)] {
            let fixture = try await Self.start(entities: ["FIU-ALPHA"])
            defer { fixture.stop() }
            #expect(try await fixture.run(["sync"]).status == 0)
            try code.write(to: fixture.file("refuse-reset"), atomically: true, encoding: .utf8)
            let rotate = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
            #expect(rotate.status == status, "\(code): \(rotate.all)")
            #expect(rotate.stderr.contains("resets are refused here"), "\(code): \(rotate.stderr)")
            // Nothing is left open: export delivers the unchanged secret at once.
            let status = try await fixture.run(["status", "--output", "json", "FIU-ALPHA"])
            #expect(status.stdout.contains("\"openJournal\" : null") || status.stdout.contains("\"openJournal\":null"), "\(code): \(status.stdout)")
            let export = try await fixture.run(["export", "--format", "json", "FIU-ALPHA"])
            #expect(export.status == 0, "\(code): \(export.all)")
            #expect(fixture.resets == 0)
        }
    }

    @Test("a provider that prints the new secret on stderr and fails: the secret is in no log line, and the rotation recovers it with fetch")
    func stderrOfAFailedReset() async throws {
        let fixture = try await Self.start(entities: ["FIU-ALPHA"])
        defer { fixture.stop() }
        #expect(try await fixture.run(["sync"]).status == 0)
        try "".write(to: fixture.file("reset-stderr-fail"), atomically: true, encoding: .utf8)
        let rotate = try await fixture.run(["rotate", "--force", "FIU-ALPHA", "--verbose"])
        #expect(rotate.status == 0, "\(rotate.all)")
        #expect(fixture.resets == 1)
        let current = try #require(try fixture.storeSecret("FIU-ALPHA"))
        #expect(try await fixture.run(["vault", "get", "entities/FIU-ALPHA/secret"]).stdout == current)
        #expect(!rotate.all.contains(current), "the new secret leaked into the output")
        #expect(rotate.stderr.contains("bytes to stderr, not shown"), "\(rotate.stderr)")
    }

    @Test("SIGINT or SIGTERM to keyward during a plugin call stops the plugin's process group too", arguments: [SIGINT, SIGTERM])
    func interrupted(signal number: Int32) async throws {
        let fixture = try await Self.start(sinks: """
              slow:
                type: external
                command: [./slow/sink.py]
                timeout: 1h
                label: slow
                entities: [FIU-ALPHA]
            """, entities: ["FIU-ALPHA"]) { directory in
            _ = try Self.hangingSink(in: directory)
        }
        defer { fixture.stop() }
        let slow = fixture.file("slow")
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = ["sync"]
        process.currentDirectoryURL = fixture.directory
        process.environment = fixture.environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                                                           "HOME": fixture.directory.path]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The plugin hangs once its child's id is written.
        let childFile = slow.appendingPathComponent("child-pid")
        let deadline = Date().addingTimeInterval(60)
        while (try? String(contentsOf: childFile, encoding: .utf8)).flatMap(Int32.init) == nil && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(process.processIdentifier, number)
        let ended = Date().addingTimeInterval(30)
        while process.isRunning && Date() < ended { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            Issue.record("keyward did not end within 30 s of the signal")
            kill(process.processIdentifier, SIGKILL)
        }
        try await CommandRunner.offPool { process.waitUntilExit() }
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == number, "ends by the signal")
        try Self.expectGone(slow)
    }
}

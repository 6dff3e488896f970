import Foundation
import KeywardTesting
import Testing

/// Issue 15 (wtA): external plugins as the configuration loads them, with the built binary and
/// tiny real plugin scripts: where they are found, who may write them, their options checked on
/// the key's line, their `describe` cached; `plugin list` / `plugin describe`; `config check`.
@Suite("external plugins at configuration load, end to end")
struct PluginLoadCLITests {
    /// A directory (0700) with `bin/` (0700) for plugins and a keyward.yaml.
    struct Setup {
        let directory: URL
        var bin: URL { directory.appendingPathComponent("bin") }
        /// PATH: `bin`, then the system's.
        var environment: [String: String] { ["PATH": "\(bin.path):/usr/bin:/bin"] }

        init() throws {
            directory = try CommandRunner.temporaryDirectory()
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("bin"), withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }

        /// Writes `bin/NAME`, a sink plugin whose describe answer is `answer` (a JSON object on
        /// one line) and which appends a line to `describes` each time it runs.
        @discardableResult
        func plugin(_ name: String, answer: String, mode: Int = 0o755, exitStatus: Int = 0) throws -> String {
            let url = bin.appendingPathComponent(name)
            let script = """
                #!/bin/sh
                cat > /dev/null
                echo describe >> "$(dirname "$0")/../describes"
                printf '%s\\n' '\(answer)'
                exit \(exitStatus)

                """
            try ScriptFile.write(script, to: url.path, mode: mode_t(mode))
            return url.path
        }

        func configure(_ sinks: String) throws {
            let yaml = """
                version: 1
                providers:
                  uat:
                    baseURL: uat
                    username: ops@example.com
                entities:
                  FIU-1: {provider: uat}
                sinks:

                """ + sinks
            try yaml.write(to: directory.appendingPathComponent("keyward.yaml"), atomically: true, encoding: .utf8)
        }

        var describes: Int {
            ((try? String(contentsOf: directory.appendingPathComponent("describes"), encoding: .utf8)) ?? "").split(separator: "\n").count
        }

        func run(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> CommandRunner.Result {
            try await CommandRunner.run(arguments, environment: environment.merging(extra) { $1 }, directory: directory)
        }
    }

    static let demoSink = #"{"protocol":1,"kind":"sink","name":"demo","protocols":[1],"capabilities":["write","read"],"options":{"bucket":{"type":"string","required":true},"retries":{"type":"integer","required":false}}}"#
    static let demoProvider = #"{"protocol":1,"kind":"provider","name":"files","protocols":[1],"capabilities":["fetch"],"options":{}}"#

    /// Lines 9–12 of the configuration: the sink `out` of type `demo`.
    static let demoEntry = "  out:\n    type: demo\n    bucket: payments\n    entities: [FIU-1]\n"

    @Test("config check prints the resolved path of an external sink")
    func configCheckShowsPath() async throws {
        let setup = try Setup()
        let path = try setup.plugin("keyward-sink-demo", answer: Self.demoSink)
        try setup.configure(Self.demoEntry)
        let check = try await setup.run(["config", "check"])
        #expect(check.status == 0, "\(check.all)")
        #expect(check.stdout.contains("\nsink out: demo (plugin \(path)) for FIU-1"), "\(check.stdout)")
    }

    @Test("a plugin that is not executable exits 2 naming it and the chmod that fixes it")
    func notExecutable() async throws {
        let setup = try Setup()
        let path = try setup.plugin("keyward-sink-demo", answer: Self.demoSink, mode: 0o644)
        try setup.configure(Self.demoEntry)
        let check = try await setup.run(["config", "check"])
        #expect(check.status == 2, "\(check.all)")
        #expect(check.stderr.contains("line 10"), "\(check.stderr)")
        #expect(check.stderr.contains("sinks.out.type: \(path) is not executable: run `chmod u+x \(path)`"), "\(check.stderr)")
        #expect(setup.describes == 0)
    }

    @Test("a plugin, or its directory, that group or others can write exits 2 naming chmod go-w")
    func writableByOthers() async throws {
        let setup = try Setup()
        let path = try setup.plugin("keyward-sink-demo", answer: Self.demoSink, mode: 0o775)
        try setup.configure(Self.demoEntry)
        let file = try await setup.run(["config", "check"])
        #expect(file.status == 2, "\(file.all)")
        #expect(file.stderr.contains("the plugin \(path) can be written by group or others, who could change what runs as you: run `chmod go-w \(path)`"),
                "\(file.stderr)")

        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: setup.bin.path)
        let directory = try await setup.run(["config", "check"])
        #expect(directory.status == 2, "\(directory.all)")
        #expect(directory.stderr.contains("the directory \(setup.bin.path) holding the plugin \(path) can be written by group or others, who could replace it: run `chmod go-w \(setup.bin.path)`"),
                "\(directory.stderr)")
        #expect(setup.describes == 0)
    }

    @Test("a symbolic link is followed and its target's directory checked too")
    func symlinkTarget() async throws {
        let setup = try Setup()
        let shared = setup.directory.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: shared.path)
        let target = shared.appendingPathComponent("demo")
        try "#!/bin/sh\necho '{}'\n".write(to: target, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target.path)
        let link = setup.bin.appendingPathComponent("keyward-sink-demo")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        try setup.configure(Self.demoEntry)
        let check = try await setup.run(["config", "check"])
        #expect(check.status == 2, "\(check.all)")
        #expect(check.stderr.contains("the directory \(shared.path) holding the plugin \(link.path) can be written by group or others"), "\(check.stderr)")
    }

    @Test("a type found nowhere exits 2 naming the type, the executable and the directories searched")
    func missingFromPath() async throws {
        let setup = try Setup()
        try setup.configure("  out:\n    type: nothere\n    entities: [FIU-1]\n")
        let check = try await setup.run(["config", "check"])
        #expect(check.status == 2, "\(check.all)")
        #expect(check.stderr.contains(
            "line 10, column 11: sinks.out.type: sink type 'nothere' is not provided by this build, and no keyward-sink-nothere was found on PATH (searched: \(setup.bin.path), /usr/bin, /bin)"),
            "\(check.stderr)")
    }

    @Test("a type one edit from a built-in name is reported as a likely typo")
    func typo() async throws {
        let setup = try Setup()
        try setup.configure("  out:\n    type: dotnev\n    path: out.env\n    entities: [FIU-1]\n")
        let check = try await setup.run(["config", "check"])
        #expect(check.status == 2, "\(check.all)")
        #expect(check.stderr.contains("sinks.out.type: sink type 'dotnev' is not provided by this build, and no keyward-sink-dotnev was found on PATH"), "\(check.stderr)")
        #expect(check.stderr.contains("; did you mean 'dotenv'?"), "\(check.stderr)")
    }

    @Test("an unknown option, a missing required one and one of the wrong kind exit 2 on their lines")
    func options() async throws {
        let setup = try Setup()
        try setup.plugin("keyward-sink-demo", answer: Self.demoSink)
        try setup.configure("  out:\n    type: demo\n    retries: many\n    colour: red\n    entities: [FIU-1]\n")
        let check = try await setup.run(["config", "check"])
        #expect(check.status == 2, "\(check.all)")
        let lines = check.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("line 9") && $0.contains("sinks.out.bucket: missing: the plugin \(setup.bin.path)/keyward-sink-demo requires it") }, "\(check.stderr)")
        #expect(lines.contains { $0.contains("line 11") && $0.contains("sinks.out.retries: expected a whole number") }, "\(check.stderr)")
        #expect(lines.contains { $0.contains("line 12") && $0.contains("sinks.out.colour: unknown key") }, "\(check.stderr)")
    }

    @Test("a provider plugin named as a sink exits 2 naming both kinds")
    func wrongKind() async throws {
        let setup = try Setup()
        let path = try setup.plugin("keyward-sink-demo", answer: Self.demoProvider)
        try setup.configure(Self.demoEntry)
        let check = try await setup.run(["config", "check"])
        #expect(check.status == 2, "\(check.all)")
        #expect(check.stderr.contains("sinks.out.type: \(path) is a provider plugin (its describe says so), not a sink"), "\(check.stderr)")
    }

    @Test("env: may not name KEYWARD_PASSPHRASE")
    func keywardVariables() async throws {
        let setup = try Setup()
        try setup.plugin("keyward-sink-demo", answer: Self.demoSink)
        try setup.configure(Self.demoEntry + "    env: [KEYWARD_PASSPHRASE]\n")
        let check = try await setup.run(["config", "check"], environment: ["KEYWARD_PASSPHRASE": "correct horse battery staple"])
        #expect(check.status == 2, "\(check.all)")
        #expect(check.stderr.contains("line 13"), "\(check.stderr)")
        #expect(check.stderr.contains("sinks.out.env: env: may not name Keyward's own KEYWARD_* variables"), "\(check.stderr)")
        #expect(!check.all.contains("correct horse"))
    }

    @Test("a describe that fails (exit 1 without JSON, or protocol 2) exits 2 naming the plugin", arguments: [
        ("exit 1, no JSON", "not json at all", 1),
        ("protocol 2", #"{"protocol":2,"kind":"sink","name":"demo","protocols":[2],"capabilities":["write"]}"#, 0),
    ])
    func describeFails(_ label: String, answer: String, status: Int) async throws {
        let setup = try Setup()
        let path = try setup.plugin("keyward-sink-demo", answer: answer, exitStatus: status)
        try setup.configure(Self.demoEntry)
        let check = try await setup.run(["config", "check"])
        #expect(check.status == 2, "\(label): \(check.all)")
        #expect(check.stderr.contains("line 10, column 11: sinks.out.type: \(path): describe failed: "), "\(label): \(check.stderr)")
        #expect(!check.stderr.contains("not json at all"), "the plugin's stdout is never echoed")
        // A failed describe is not cached: it is asked again.
        _ = try await setup.run(["config", "check"])
        #expect(setup.describes == 2)
    }

    @Test("describe is cached across runs by the executable's path, size and modification time")
    func describeCache() async throws {
        let setup = try Setup()
        let path = try setup.plugin("keyward-sink-demo", answer: Self.demoSink)
        try setup.configure(Self.demoEntry)
        #expect(try await setup.run(["config", "check"]).status == 0)
        #expect(try await setup.run(["config", "check"]).status == 0)
        #expect(setup.describes == 1)
        // Commands that only deliver what the vault holds load the configuration too, and spawn
        // no plugin for it once the cache is warm (they stop here at the missing vault).
        for arguments in [["status"], ["vault", "list"], ["export", "FIU-1", "--format", "json"]] {
            let result = try await setup.run(arguments)
            #expect(result.status == 4, "\(arguments): \(result.all)")
        }
        #expect(setup.describes == 1)
        let cache = setup.directory.appendingPathComponent(".cache/keyward/plugins")
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.path)
        #expect(files.count == 1)
        #expect((try FileManager.default.attributesOfItem(atPath: cache.path)[.posixPermissions] as? Int) == 0o700)
        #expect((try FileManager.default.attributesOfItem(atPath: cache.appendingPathComponent(files[0]).path)[.posixPermissions] as? Int) == 0o600)

        // Modified (one byte longer): described again.
        try ScriptFile.write("#\n", to: path, appending: true)
        let changed = try await setup.run(["config", "check"])
        #expect(changed.status == 0, "\(changed.all)")
        #expect(setup.describes == 2)

        // A corrupt cache entry is ignored and rewritten.
        for file in try FileManager.default.contentsOfDirectory(atPath: cache.path) {
            try "{not json".write(toFile: cache.appendingPathComponent(file).path, atomically: false, encoding: .utf8)
        }
        for _ in 0..<2 {
            let check = try await setup.run(["config", "check"])
            #expect(check.status == 0, "\(check.all)")
        }
        #expect(setup.describes == 3)
    }

    @Test("plugin list shows the built-in types, the configured plugins and those on PATH")
    func list() async throws {
        let setup = try Setup()
        let sink = try setup.plugin("keyward-sink-demo", answer: Self.demoSink)
        let provider = try setup.plugin("keyward-provider-files", answer: Self.demoProvider)
        try setup.configure(Self.demoEntry)
        let list = try await setup.run(["plugin", "list"])
        #expect(list.status == 0, "\(list.all)")
        #expect(list.stdout == """
            built-in sinks: dotenv, json, kubernetes-secret, openbao-kv, shell
            built-in providers: token-service
            built-in shared stores: openbao
            configured sink out: demo \(sink)
            on PATH: sink demo \(sink)
            on PATH: provider files \(provider)

            """)

        let json = try await setup.run(["plugin", "list", "--output", "json"])
        #expect(json.status == 0, "\(json.all)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(document["version"] as? Int == 1)
        #expect((document["configured"] as? [[String: Any]])?.first?["command"] as? [String] == [sink])
        #expect((document["onPath"] as? [[String: Any]])?.map { $0["type"] as? String } == ["demo", "files"])
        #expect(document["searched"] as? [String] == [setup.bin.path, "/usr/bin", "/bin"])
    }

    @Test("plugin describe shows a built-in type's options and an external plugin's describe answer; an unknown name exits 2")
    func describe() async throws {
        let setup = try Setup()
        let sink = try setup.plugin("keyward-sink-demo", answer: Self.demoSink)
        let builtIn = try await setup.run(["plugin", "describe", "dotenv"])
        #expect(builtIn.status == 0, "\(builtIn.all)")
        #expect(builtIn.stdout == "sink dotenv: built in\noptions:\n  path: string, required\n  dialect: one of portable, docker, systemd\n")

        let external = try await setup.run(["plugin", "describe", "demo"])
        #expect(external.status == 0, "\(external.all)")
        #expect(external.stdout == """
            sink demo: \(sink)
            name: demo
            protocols: 1
            capabilities: write, read
            options:
              bucket: string, required
              retries: integer

            """)

        let unknown = try await setup.run(["plugin", "describe", "dotnev"])
        #expect(unknown.status == 2, "\(unknown.all)")
        #expect(unknown.stderr == "keyward: no plugin 'dotnev': not a built-in type, and no keyward-sink-dotnev or keyward-provider-dotnev on PATH (searched: \(setup.bin.path), /usr/bin, /bin); did you mean 'dotenv'?\n")

        // A name that would leave the PATH directory runs nothing: bin/keyward-sink-x/ exists,
        // so x/../../evil would reach a plugin outside PATH.
        try FileManager.default.createDirectory(at: setup.bin.appendingPathComponent("keyward-sink-x"), withIntermediateDirectories: false)
        let marker = setup.directory.appendingPathComponent("evil-ran")
        try ScriptFile.write("#!/bin/sh\ntouch '\(marker.path)'\nprintf '%s\\n' '\(Self.demoSink)'\n", to: setup.directory.appendingPathComponent("evil").path)
        let escaping = try await setup.run(["plugin", "describe", "x/../../evil"])
        #expect(escaping.status == 2, "\(escaping.all)")
        #expect(escaping.stderr == "keyward: 'x/../../evil' is not a plugin type name (lower-case letters, digits and '-', starting with a letter or digit)\n")
        #expect(!FileManager.default.fileExists(atPath: marker.path), "the file outside PATH did not run")
    }
}

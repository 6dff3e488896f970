import Foundation
import KeywardTesting
import Testing

@Suite("keyward schedule print", .serialized)
struct ScheduleCLITests {
    /// The binary the printed schedules run.
    static let keyward = CommandRunner.binary.resolvingSymlinksInPath().path
    static let tokenWarningPrefix = "keyward: warning: the schedule runs hourly, but the entity token of "
    static let unlockWarning = "keyward: warning: KEYWARD_KEY_FILE is not set, so the scheduled job has no way to unlock the vault "
        + "(it cannot type a passphrase): add a key file slot with `keyward vault key add --key-file PATH`, then print "
        + "the schedule again with KEYWARD_KEY_FILE=PATH set"

    @Test("cron, systemd and a CronJob that kubernetes-validate accepts; hourly; no secret printed")
    func printSchedules() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let config = fixture.directory.appendingPathComponent("keyward.yaml").standardizedFileURL.path
        let keyFile = fixture.environment["KEYWARD_KEY_FILE"]!
        let keyward = Self.keyward
        // The fixture's entities keep the default tokenRefreshBefore (10m): too short for an hourly job.
        let tokenWarning = Self.tokenWarningPrefix + "FIU-ALPHA (10m), FIU-BETA (10m), FIU-GAMMA (10m) is refreshed only "
            + "within its tokenRefreshBefore of expiry, less than the 90m between two runs, so a token in a sink can expire "
            + "before the next run; set tokenRefreshBefore: 2h for them in keyward.yaml, or run `keyward schedule run` "
            + "instead, which wakes up when each token is due\n"

        let cron = try await fixture.run(["schedule", "print", "--cron"])
        #expect(cron.status == 0, "\(cron.all)")
        #expect(cron.stdout == """
            # keyward: rotate what is due, then sync (tokens, sinks), hourly; fails if either failed
            17 * * * * KEYWARD_KEY_FILE=\(keyFile) \(keyward) rotate --config \(config) --quiet >/dev/null; r=$?; \
            KEYWARD_KEY_FILE=\(keyFile) \(keyward) sync --config \(config) --quiet >/dev/null; s=$?; \
            [ "$r" -eq 0 ] || exit "$r"; exit "$s"

            """)
        #expect(cron.stderr == tokenWarning)

        let systemd = try await fixture.run(["schedule", "print", "--systemd"])
        #expect(systemd.status == 0)
        #expect(systemd.stderr == tokenWarning)
        #expect(systemd.stdout == """
            # /etc/systemd/system/keyward-rotate.service
            [Unit]
            Description=Keyward: rotate entity secrets that are due, then sync tokens and sinks
            Wants=network-online.target
            After=network-online.target

            [Service]
            Type=oneshot
            Environment="KEYWARD_KEY_FILE=\(keyFile)"
            ExecStart=/bin/sh -c "\(keyward) rotate --config \(config) --quiet; r=$$?; \(keyward) sync --config \(config) --quiet; \
            s=$$?; [ \\"$$r\\" -eq 0 ] || exit \\"$$r\\"; exit \\"$$s\\""
            NoNewPrivileges=yes

            # /etc/systemd/system/keyward-rotate.timer
            [Unit]
            Description=Run keyward-rotate.service hourly

            [Timer]
            OnCalendar=hourly
            RandomizedDelaySec=5m
            Persistent=true

            [Install]
            WantedBy=timers.target

            """)
        try await Self.verifySystemd(systemd.stdout, in: fixture.directory)

        let manifest = fixture.directory.appendingPathComponent("cronjob.yaml")
        let kubernetes = try await fixture.run(["schedule", "print", "--kubernetes", "--namespace", "payments", "--image", "registry.example.com/keyward:0.1.0"])
        #expect(kubernetes.status == 0)
        #expect(kubernetes.stderr == tokenWarning)
        #expect(kubernetes.stdout.contains("concurrencyPolicy: \"Forbid\"\n"))
        #expect(kubernetes.stdout.contains("schedule: \"17 * * * *\"\n"))
        #expect(kubernetes.stdout.contains("  namespace: \"payments\"\n"))
        try kubernetes.stdout.write(to: manifest, atomically: true, encoding: .utf8)
        _ = try await runTool(["kubernetes-validate", "--strict", manifest.path])
        let container = try await Self.yamlContainer(manifest)
        #expect(container["image"] as? String == "registry.example.com/keyward:0.1.0")
        #expect(container["command"] as? [String] == ["/bin/sh", "-c", """
            keyward rotate --config /etc/keyward/keyward.yaml --quiet; r=$?; keyward sync --config /etc/keyward/keyward.yaml \
            --quiet; s=$?; [ "$r" -eq 0 ] || exit "$r"; exit "$s"
            """])

        for output in [cron.all, systemd.all, kubernetes.all] {
            #expect(fixture.secrets().filter { output.contains($0) }.isEmpty)
        }
        #expect(try await fixture.run(["schedule", "print"]).status == 2)
        #expect(try await fixture.run(["schedule", "print", "--cron", "--systemd"]).status == 2)
        #expect(try await fixture.run(["schedule", "print", "--cron", "--config", "/nonexistent.yaml"]).status == 2)
    }

    /// rotate's status, sync's status, and what the cron job must exit with.
    static let exitCases: [(rotate: Int32, sync: Int32, job: Int32)] = [(5, 0, 5), (0, 1, 1), (0, 0, 0), (4, 1, 4)]

    @Test("the cron line, run by /bin/sh as cron would, always runs sync and fails when either command failed",
          arguments: exitCases)
    func cronExitStatus(rotate: Int32, sync: Int32, job: Int32) async throws {
        let project = try PrintProject(directoryName: "sp ace%50;x$y/it's \"q\" \\%d")
        defer { project.remove() }
        let printed = try await project.run(["schedule", "print", "--cron", "--vault", "v\\%ault.db"])
        #expect(printed.status == 0, "\(printed.all)")
        #expect(printed.stderr.isEmpty, "\(printed.stderr)")
        let line = try #require(printed.stdout.split(separator: "\n").first { $0.hasPrefix("17 * * * * ") })

        // cron: everything after the five time fields, `\%` made `%`; an unescaped `%` would
        // end the command (the rest becomes its stdin).
        let (command, stdin) = Self.cronCommand(line.dropFirst("17 * * * * ".count))
        #expect(stdin == nil)
        let fake = try project.fakeKeyward()
        // A fork by another test at the moment the script was written can hold it open for
        // writing for an instant, and exec then fails with ETXTBSY ("Text file busy", status
        // 126): that is the test process racing itself, not the cron line, so run it again.
        var run = try await Self.shell(command.replacingOccurrences(of: Self.keyward, with: fake.path),
                                 environment: ["LOG": project.log.path, "ROTATE_STATUS": "\(rotate)", "SYNC_STATUS": "\(sync)"])
        for _ in 0..<5 where run.status == 126 && run.stderr.contains("Text file busy") {
            try? FileManager.default.removeItem(at: project.log)
            try await Task.sleep(for: .milliseconds(200))
            run = try await Self.shell(command.replacingOccurrences(of: Self.keyward, with: fake.path),
                                 environment: ["LOG": project.log.path, "ROTATE_STATUS": "\(rotate)", "SYNC_STATUS": "\(sync)"])
        }
        #expect(run.status == job)
        // Results go to /dev/null (cron would mail them every hour); diagnostics stay on stderr.
        #expect(run.stdout.isEmpty)
        #expect(run.stderr == "rotate diagnostic on stderr\nsync diagnostic on stderr\n")
        let arguments = ["--config", project.config, "--vault", project.directory.appendingPathComponent("v\\%ault.db").path, "--quiet"]
        let expected = ["rotate"] + arguments + ["KEYWARD_KEY_FILE=" + project.keyFile]
            + ["sync"] + arguments + ["KEYWARD_KEY_FILE=" + project.keyFile]
        #expect(try String(contentsOf: project.log, encoding: .utf8) == expected.map { "[\($0)]\n" }.joined())
    }

    @Test("paths with spaces, %, ;, $, quotes and backslashes: a systemd unit that systemd-analyze verify accepts, quoted exactly")
    func systemdEscaping() async throws {
        let project = try PrintProject(directoryName: "sp ace%50;x$y")
        defer { project.remove() }
        let printed = try await project.run(["schedule", "print", "--systemd"],
                                            extraEnvironment: ["KEYWARD_VAULT": "q\"uo'te\\$HOME%%.db"])
        #expect(printed.status == 0, "\(printed.all)")
        #expect(printed.stderr.isEmpty)
        let keyward = Self.keyward
        let directory = project.directory.path.replacingOccurrences(of: "%", with: "%%").replacingOccurrences(of: "$", with: "$$")
        #expect(printed.stdout.contains("""

            Type=oneshot
            Environment="KEYWARD_KEY_FILE=\(project.keyFile.replacingOccurrences(of: "%", with: "%%"))"
            ExecStart=/bin/sh -c "\(keyward) rotate --config '\(directory)/keyward.yaml' \
            --vault '\(directory)/q\\"uo'\\\\''te\\\\$$HOME%%%%.db' --quiet; r=$$?; \
            \(keyward) sync --config '\(directory)/keyward.yaml' \
            --vault '\(directory)/q\\"uo'\\\\''te\\\\$$HOME%%%%.db' --quiet; \
            s=$$?; [ \\"$$r\\" -eq 0 ] || exit \\"$$r\\"; exit \\"$$s\\""
            NoNewPrivileges=yes

            """))
        #expect(!printed.stdout.contains("PrivateTmp"))
        try await Self.verifySystemd(printed.stdout, in: project.directory)
    }

    @Test("a hostile --image stays one string: PyYAML reads it back exactly and kubernetes-validate --strict passes")
    func kubernetesQuoting() async throws {
        let project = try PrintProject(directoryName: "k8s")
        defer { project.remove() }
        let image = "x\" ; rm -rf /\n  evil: true\t'\\ #: {a} [b] &c *d !e |f >g %h @i `j` \u{7F}\u{85}\u{2028}\u{FEFF}é🙂 \\x41 \\u0041"
        let printed = try await project.run(["schedule", "print", "--kubernetes", "--image", image, "--secret-name", "keyward.config-1",
                                             "--namespace", "pay-ments"])
        #expect(printed.status == 0, "\(printed.all)")
        let manifest = project.directory.appendingPathComponent("cronjob.yaml")
        try printed.stdout.write(to: manifest, atomically: true, encoding: .utf8)
        _ = try await runTool(["kubernetes-validate", "--strict", manifest.path])
        let container = try await Self.yamlContainer(manifest)
        #expect(container["image"] as? String == image)
        #expect(printed.stdout.contains("  namespace: \"pay-ments\"\n"))
        #expect(printed.stdout.contains("secretName: \"keyward.config-1\"\n"))
    }

    @Test("--secret-name and --namespace must be Kubernetes names: exit 2 naming the option and the rule",
          arguments: [
            (["--secret-name", "Keyward"], #"Error: --secret-name: "Keyward" is not a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253, starting and ending with a letter or digit"#),
            (["--secret-name", "x\" ; rm -rf /"], #"Error: --secret-name: "x\" ; rm -rf /" is not a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253, starting and ending with a letter or digit"#),
            (["--namespace", "pay.ments"], #"Error: --namespace: "pay.ments" is not a DNS-1123 label: lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit"#),
            (["--namespace", String(repeating: "a", count: 64)], #"Error: --namespace: "\#(String(repeating: "a", count: 64))" is not a DNS-1123 label: lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit"#),
            (["--image", ""], "Error: --image: the image is empty"),
          ])
    func kubernetesNames(options: [String], message: String) async throws {
        let project = try PrintProject(directoryName: "names")
        defer { project.remove() }
        let printed = try await project.run(["schedule", "print", "--kubernetes"] + options)
        #expect(printed.status == 2)
        #expect(printed.stdout.isEmpty)
        #expect(printed.stderr.split(separator: "\n").first.map(String.init) == message, "\(printed.stderr)")
    }

    @Test("the token warning names only entities whose tokenRefreshBefore is under 90m")
    func tokenRefreshWarning() async throws {
        let project = try PrintProject(directoryName: "tokens", entities: """
              FIU-ALPHA: {tokenRefreshBefore: 2h}
              FIU-BETA: {tokenRefreshBefore: 89m}
              FIU-GAMMA: {}
              FIU-DELTA: {tokenRefreshBefore: 90m}
            """)
        defer { project.remove() }
        let printed = try await project.run(["schedule", "print", "--cron"])
        #expect(printed.status == 0)
        #expect(printed.stderr == Self.tokenWarningPrefix + "FIU-BETA (89m), FIU-GAMMA (10m) is refreshed only within its "
            + "tokenRefreshBefore of expiry, less than the 90m between two runs, so a token in a sink can expire before the "
            + "next run; set tokenRefreshBefore: 2h for them in keyward.yaml, or run `keyward schedule run` instead, which "
            + "wakes up when each token is due\n")
        #expect(try await project.run(["schedule", "print", "--cron", "--quiet"]).stderr.isEmpty)
    }

    @Test("--vault and $KEYWARD_VAULT reach the printed commands as absolute paths; a configuration without vault.path pins the default")
    func vaultPaths() async throws {
        let project = try PrintProject(directoryName: "vaults")
        defer { project.remove() }
        let given = try await project.run(["schedule", "print", "--cron", "--vault", "sub/../my.db"])
        #expect(given.stdout.contains(" rotate --config \(project.config) --vault \(project.directory.path)/my.db --quiet >/dev/null; "))
        #expect(given.stdout.contains(" sync --config \(project.config) --vault \(project.directory.path)/my.db --quiet >/dev/null; "))
        let variable = try await project.run(["schedule", "print", "--systemd"], extraEnvironment: ["KEYWARD_VAULT": "env.db"])
        #expect(variable.stdout.contains(" rotate --config \(project.config) --vault \(project.directory.path)/env.db --quiet; "))
        let configured = try await project.run(["schedule", "print", "--cron"])
        #expect(!configured.stdout.contains("--vault"))

        // A line break: no crontab line can hold it; systemd writes it as \n.
        let broken = try await project.run(["schedule", "print", "--cron", "--vault", "line\nbreak.db"])
        #expect(broken.status == 2)
        #expect(broken.stdout.isEmpty)
        #expect(broken.stderr == "keyward: --cron: a crontab line cannot hold the line break in \"\(project.directory.path)/line\\nbreak.db\"\n")
        let escaped = try await project.run(["schedule", "print", "--systemd", "--vault", "line\nbreak.db"])
        #expect(escaped.status == 0)
        #expect(escaped.stdout.contains(" --vault '\(project.directory.path)/line\\nbreak.db' --quiet; "))
        try await Self.verifySystemd(escaped.stdout, in: project.directory)

        let unnamed = try PrintProject(directoryName: "default vault", vaultPath: nil)
        defer { unnamed.remove() }
        let pinned = try await unnamed.run(["schedule", "print", "--cron"])
        #expect(pinned.stdout.contains(" --vault '\(unnamed.directory.path)/data/keyward/vault.db' --quiet >/dev/null; "), "\(pinned.stdout)")
    }

    @Test("without KEYWARD_KEY_FILE: the schedule is printed, with a warning that it cannot unlock the vault and how to fix it")
    func passphraseOnly() async throws {
        let project = try PrintProject(directoryName: "passphrase")
        defer { project.remove() }
        for format in ["--cron", "--systemd"] {
            let printed = try await project.run(["schedule", "print", format], keyFile: false)
            #expect(printed.status == 0)
            #expect(printed.stderr == Self.unlockWarning + "\n")
            #expect(printed.stdout.contains(" rotate --config \(project.config) --quiet"))
            #expect(!printed.stdout.contains("KEYWARD_KEY_FILE"))
        }
        let kubernetes = try await project.run(["schedule", "print", "--kubernetes"], keyFile: false)
        #expect(kubernetes.status == 0)
        #expect(kubernetes.stderr.isEmpty)
    }

    // MARK: Helpers

    /// Writes the service and the timer to `directory/units` and runs `systemd-analyze verify`
    /// on them, where this machine has it (it needs no running systemd).
    static func verifySystemd(_ text: String, in directory: URL) async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else { return }
        let units = directory.appendingPathComponent("units")
        try FileManager.default.createDirectory(at: units, withIntermediateDirectories: true)
        let parts = text.components(separatedBy: "# /etc/systemd/system/keyward-rotate.timer")
        #expect(parts.count == 2)
        try parts[0].write(to: units.appendingPathComponent("keyward-rotate.service"), atomically: true, encoding: .utf8)
        try ("# timer" + parts[1]).write(to: units.appendingPathComponent("keyward-rotate.timer"), atomically: true, encoding: .utf8)
        let verify = try await shell(#"systemd-analyze verify "$1" "$2" 2>&1"#, arguments: [
            units.appendingPathComponent("keyward-rotate.service").path, units.appendingPathComponent("keyward-rotate.timer").path])
        #expect(verify.status == 0 && verify.stdout.isEmpty, "\(verify.stdout)")
    }

    /// The CronJob's container, read with PyYAML.
    static func yamlContainer(_ manifest: URL) async throws -> [String: Any] {
        let json = try await runTool(["python3", "-c", """
            import json, sys, yaml
            doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
            json.dump(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0], sys.stdout)
            """, manifest.path])
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    /// What cron does with a crontab line's command (cronie's do_command.c): `\%` becomes `%`;
    /// the first other `%` ends the command, and what follows is its stdin.
    static func cronCommand(_ text: Substring) -> (command: String, stdin: String?) {
        var command = ""
        var escaped = false
        for (index, character) in zip(text.indices, text) {
            if escaped {
                if character == "%" { command.removeLast() }
                command.append(character)
                escaped = false
            } else if character == "\\" {
                command.append(character)
                escaped = true
            } else if character == "%" {
                return (command, String(text[text.index(after: index)...]))
            } else {
                command.append(character)
            }
        }
        return (command, nil)
    }

    /// Runs `/bin/sh -c SCRIPT sh ARGS…` with a small environment, as cron would.
    static func shell(_ script: String, arguments: [String] = [], environment: [String: String] = [:]) async throws -> CommandRunner.Result {
        try await CommandRunner.offPool { try shellBlocking(script, arguments: arguments, environment: environment) }
    }

    private static func shellBlocking(_ script: String, arguments: [String], environment: [String: String]) throws -> CommandRunner.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, "sh"] + arguments
        process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"].merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes before waiting, so a chatty process cannot block on a full pipe.
        let stderr = ShellOutput()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            stderr.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return CommandRunner.Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                                    stderr: String(decoding: stderr.data, as: UTF8.self))
    }
}

/// One pipe's bytes, written by the reading thread before `DispatchGroup.leave()`.
private final class ShellOutput: @unchecked Sendable {
    var data = Data()
}

/// A configuration in a directory with a chosen (awkward) name, and a key file path beside it:
/// enough for `schedule print`, which only loads the configuration.
struct PrintProject {
    let root: URL
    let directory: URL
    var config: String { directory.appendingPathComponent("keyward.yaml").path }
    var keyFile: String { directory.appendingPathComponent("vault key%s.key").path }
    var log: URL { root.appendingPathComponent("calls.log") }

    init(directoryName: String, entities: String = "  FIU-ALPHA: {tokenRefreshBefore: 2h}\n  FIU-BETA: {tokenRefreshBefore: 3h}\n",
         vaultPath: String? = "state/vault.db") throws {
        root = try CommandRunner.temporaryDirectory()
        directory = root.appendingPathComponent(directoryName)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let vault = vaultPath.map { "vault:\n  path: \($0)\n" } ?? ""
        try """
            version: 1
            \(vault)providers:
              sim:
                baseURL: http://127.0.0.1:9/iam/v1
                username: ops@example.com
            entities:
            \(entities)
            """.write(to: URL(fileURLWithPath: config), atomically: true, encoding: .utf8)
    }

    /// Runs `keyward` in the project's directory with `--config` given by `$KEYWARD_CONFIG`.
    func run(_ arguments: [String], keyFile: Bool = true, extraEnvironment: [String: String] = [:]) async throws -> CommandRunner.Result {
        var environment = ["KEYWARD_CONFIG": config]
        if keyFile { environment["KEYWARD_KEY_FILE"] = self.keyFile }
        return try await CommandRunner.run(arguments, environment: environment.merging(extraEnvironment) { $1 },
                                           directory: directory)
    }

    /// A stand-in `keyward` that logs each call's arguments and KEYWARD_KEY_FILE to `$LOG`,
    /// prints a result on stdout and a diagnostic on stderr, and exits with `$ROTATE_STATUS` or
    /// `$SYNC_STATUS`.
    func fakeKeyward() throws -> URL {
        let url = root.appendingPathComponent("bin/keyward")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let script = """
            #!/bin/sh
            { for a in "$@"; do printf '[%s]\\n' "$a"; done; printf '[KEYWARD_KEY_FILE=%s]\\n' "$KEYWARD_KEY_FILE"; } >>"$LOG"
            echo "$1 result on stdout"
            echo "$1 diagnostic on stderr" >&2
            case "$1" in rotate) exit "$ROTATE_STATUS" ;; *) exit "$SYNC_STATUS" ;; esac

            """
        try ScriptFile.write(script, to: url.path)
        return url
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

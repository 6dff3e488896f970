import Foundation
import KeywardSimulator
import KeywardTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 12, items 3, 7, 9 and 10 (configuration and unlock): every command validates the
/// whole configuration before it unlocks or calls anything; unlock files follow the one
/// permission rule; the edges of unlocking fail with exit 4 and a clear message.
@Suite("configuration and unlock, end to end", .serialized)
struct ConfigurationCLITests {
    /// Appends `text` to the fixture's keyward.yaml (after `vault init` and `login` ran with
    /// the valid one) and makes `deploy/`.
    func append(_ text: String, to fixture: EngineFixture) throws {
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        try (try String(contentsOf: config, encoding: .utf8) + text + "\n").write(to: config, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: fixture.directory.appendingPathComponent("deploy"), withIntermediateDirectories: true)
    }

    /// The 1-based line of the first line of keyward.yaml containing `text`.
    func line(of text: String, in fixture: EngineFixture) throws -> Int {
        let lines = try String(contentsOf: fixture.directory.appendingPathComponent("keyward.yaml"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
        return try #require(lines.firstIndex { $0.contains(text) }) + 1
    }

    func totalCalls(_ fixture: EngineFixture) -> Int { fixture.simulator.counters().values.reduce(0, +) }

    // MARK: item 3: fail fast

    @Test("sync with a bad Kubernetes name exits 2 naming the sink, the key and its line; no call, no unlock, nothing written")
    func badKubernetesNameFailsFirst() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try append("""
            sinks:
              app-env:
                type: dotenv
                path: deploy/app.env
                entities: [FIU-ALPHA]
              k8s:
                type: kubernetes-secret
                path: deploy/secret.yaml
                name: Payments_Credentials
                entities: [FIU-ALPHA]
            """, to: fixture)
        let nameLine = try line(of: "name: Payments_Credentials", in: fixture)
        fixture.simulator.resetCounters()
        let vaultBefore = try Data(contentsOf: fixture.directory.appendingPathComponent("state/vault.db"))

        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 2, "\(sync.all)")
        #expect(sync.stderr.contains("line \(nameLine)"), "\(sync.stderr)")
        #expect(sync.stderr.contains("sinks.k8s.name"), "\(sync.stderr)")
        #expect(sync.stderr.contains("DNS-1123"), "\(sync.stderr)")
        #expect(totalCalls(fixture) == 0, "no call to the token service: \(fixture.simulator.counters())")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("deploy/app.env").path), "no sink written")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("deploy/secret.yaml").path))
        #expect(try Data(contentsOf: fixture.directory.appendingPathComponent("state/vault.db")) == vaultBefore, "nothing stored")

        // The configuration is checked before the vault: no key at all still gives exit 2.
        let unkeyed = try await fixture.run(["sync"], extraEnvironment: ["KEYWARD_KEY_FILE": "/nonexistent/vault.key"])
        #expect(unkeyed.status == 2, "\(unkeyed.all)")
        // Every command, the vault commands and export included.
        for arguments in [["vault", "get", "entities/FIU-ALPHA/secret"], ["vault", "list"], ["status"], ["token", "FIU-ALPHA"],
                          ["export", "FIU-ALPHA", "--format", "dotenv"], ["config", "check"]] {
            let result = try await fixture.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.all)")
            #expect(result.stderr.contains("sinks.k8s.name"), "\(arguments): \(result.stderr)")
        }
        let exec = try await fixture.run(["exec", "FIU-ALPHA", "--", "true"])
        #expect(exec.status == 125, "\(exec.all)")
        #expect(totalCalls(fixture) == 0)
        #expect(LeakScanner.leaks(in: sync.all + unkeyed.all + exec.all, of: fixture.secrets()).isEmpty)
    }

    @Test("config check refuses the sink keys sync refuses (A=B, empty, 1ABC), naming each key and its line")
    func sinkKeyNames() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = """
            version: 1
            providers:
              sim:
                baseURL: http://127.0.0.1:9/iam/v1
                username: ops@example.com
            entities:
              FIU-ALPHA: {}
              1ABC: {}
            sinks:
              app-env:
                type: dotenv
                path: app.env
                entities: [FIU-ALPHA]
                keys:
                  GOOD_KEY: "{entity.secret}"
                  A=B: "{entity.secret}"
                  "": "{entity.id}"
                  1ABC: "{entity.token}"
              app-sh:
                type: shell
                path: app.sh
                entities: [FIU-ALPHA, 1ABC]
            """
        try config.write(to: directory.appendingPathComponent("keyward.yaml"), atomically: true, encoding: .utf8)
        let check = try await CommandRunner.run(["config", "check"], directory: directory)
        #expect(check.status == 2, "\(check.all)")
        #expect(check.stderr.contains("line 16, column 7: sinks.app-env.keys.A=B: 'A=B' is not a valid key name"), "\(check.stderr)")
        #expect(check.stderr.contains("line 17, column 7: sinks.app-env.keys.\"\": an empty key is not a valid key name"), "\(check.stderr)")
        #expect(check.stderr.contains("line 18, column 7: sinks.app-env.keys.1ABC: '1ABC' is not a valid key name"), "\(check.stderr)")
        #expect(check.stderr.contains("line 22, column 27: sinks.app-sh.entities: the default key names of '1ABC' (1ABC_ENTITY_ID …)"), "\(check.stderr)")
        #expect(!check.stderr.contains("GOOD_KEY"))
        // sync refuses the same file the same way, before it needs a vault.
        let sync = try await CommandRunner.run(["sync"], directory: directory)
        #expect(sync.status == 2)
        #expect(sync.stderr == check.stderr, "one validation path")
    }

    @Test("a sink mode that lets group or others read needs allowGroupRead: true; write bits never pass")
    func sinkModes() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func check(_ sinkExtra: String) async throws -> CommandRunner.Result {
            try """
                version: 1
                providers:
                  sim:
                    baseURL: http://127.0.0.1:9/iam/v1
                    username: ops@example.com
                entities:
                  FIU-ALPHA: {}
                sinks:
                  app-env:
                    type: dotenv
                    path: app.env
                    entities: [FIU-ALPHA]
                \(sinkExtra)
                """.write(to: directory.appendingPathComponent("keyward.yaml"), atomically: true, encoding: .utf8)
            return try await CommandRunner.run(["config", "check"], directory: directory)
        }
        let groupRead = try await check("    mode: \"0640\"")
        #expect(groupRead.status == 2, "\(groupRead.all)")
        #expect(groupRead.stderr.contains("line 13"), "\(groupRead.stderr)")
        #expect(groupRead.stderr.contains("sinks.app-env.mode"), "\(groupRead.stderr)")
        #expect(groupRead.stderr.contains("allowGroupRead: true"), "\(groupRead.stderr)")
        let allowed = try await check("    mode: \"0640\"\n    allowGroupRead: true")
        #expect(allowed.status == 0, "\(allowed.all)")
        let groupWrite = try await check("    mode: \"0660\"\n    allowGroupRead: true")
        #expect(groupWrite.status == 2, "\(groupWrite.all)")
        #expect(groupWrite.stderr.contains("write"), "\(groupWrite.stderr)")
    }

    @Test("a key file or passphrase file open to group or others: exit 4 naming chmod 600; a file: reference: exit 2 at load")
    func secretFilePermissions() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let keyFile = fixture.directory.appendingPathComponent("vault.key").path
        #expect(chmod(keyFile, 0o644) == 0)
        let list = try await fixture.run(["vault", "list"])
        #expect(list.status == 4, "\(list.all)")
        #expect(list.stderr.contains("chmod 600 \(keyFile)"), "\(list.stderr)")
        let status = try await fixture.run(["status"])
        #expect(status.status == 4, "\(status.all)")
        #expect(status.stderr.contains("chmod 600 \(keyFile)"), "\(status.stderr)")
        #expect(chmod(keyFile, 0o600) == 0)

        let passphraseFile = fixture.directory.appendingPathComponent("passphrase").path
        try "a passphrase file\n".write(toFile: passphraseFile, atomically: false, encoding: .utf8)
        #expect(chmod(passphraseFile, 0o640) == 0)
        let byFile = try await fixture.run(["vault", "list"], extraEnvironment: ["KEYWARD_KEY_FILE": "", "KEYWARD_PASSPHRASE_FILE": passphraseFile])
        #expect(byFile.status == 4, "\(byFile.all)")
        #expect(byFile.stderr.contains("chmod 600 \(passphraseFile)"), "\(byFile.stderr)")

        // A file: reference is checked when the configuration is loaded: exit 2, nothing unlocked.
        let passwordFile = fixture.directory.appendingPathComponent("password").path
        try EngineFixture.password.write(toFile: passwordFile, atomically: false, encoding: .utf8)
        #expect(chmod(passwordFile, 0o644) == 0)
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        let text = try String(contentsOf: config, encoding: .utf8)
            .replacingOccurrences(of: "    username: ops@example.com\n", with: "    username: ops@example.com\n    password: file:password\n")
        try text.write(to: config, atomically: true, encoding: .utf8)
        fixture.simulator.resetCounters()
        for arguments in [["config", "check"], ["sync"]] {
            let result = try await fixture.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.all)")
            #expect(result.stderr.contains("providers.sim.password"), "\(result.stderr)")
            #expect(result.stderr.contains("chmod 600 \(passwordFile)"), "\(result.stderr)")
            #expect(LeakScanner.leaks(in: result.all, of: fixture.secrets()).isEmpty)
        }
        #expect(totalCalls(fixture) == 0)
        #expect(chmod(passwordFile, 0o600) == 0)
        let fixed = try await fixture.run(["config", "check"])
        #expect(fixed.status == 0, "\(fixed.all)")
    }

    // MARK: item 7: clear errors at the edges

    @Test("an empty passphrase is exit 4 'empty passphrase', from the variable, a file or the prompt; never a libgcrypt message")
    func emptyPassphrase() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let vault = directory.appendingPathComponent("v.db").path
        let created = try await CommandRunner.run(["vault", "init"], environment: ["KEYWARD_VAULT": vault, "KEYWARD_PASSPHRASE": "a long enough passphrase"], directory: directory)
        #expect(created.status == 0, "\(created.all)")

        let variable = try await CommandRunner.run(["vault", "list"], environment: ["KEYWARD_VAULT": vault, "KEYWARD_PASSPHRASE": ""], directory: directory)
        #expect(variable.status == 4, "\(variable.all)")
        #expect(variable.stderr.contains("empty passphrase"), "\(variable.stderr)")

        let emptyFile = directory.appendingPathComponent("empty-passphrase").path
        #expect(FileManager.default.createFile(atPath: emptyFile, contents: Data("\n".utf8), attributes: [.posixPermissions: 0o600]))
        let file = try await CommandRunner.run(["vault", "list"], environment: ["KEYWARD_VAULT": vault, "KEYWARD_PASSPHRASE_FILE": emptyFile], directory: directory)
        #expect(file.status == 4, "\(file.all)")
        #expect(file.stderr.contains("empty passphrase"), "\(file.stderr)")

        let prompt = try await TerminalRun.run(["vault", "list"], answers: [("passphrase", "")], environment: ["KEYWARD_VAULT": vault], directory: directory)
        #expect(prompt.status == 4, "\(prompt.output)")
        #expect(prompt.output.contains("empty passphrase"), "\(prompt.output)")

        // vault init alike: the first passphrase is an unlock passphrase.
        let other = directory.appendingPathComponent("other.db").path
        let initEmpty = try await CommandRunner.run(["vault", "init"], environment: ["KEYWARD_VAULT": other, "KEYWARD_PASSPHRASE": ""], directory: directory)
        #expect(initEmpty.status == 4, "\(initEmpty.all)")
        #expect(initEmpty.stderr.contains("empty passphrase"), "\(initEmpty.stderr)")
        #expect(!FileManager.default.fileExists(atPath: other))
        for result in [variable.all, file.all, prompt.output, initEmpty.all] {
            #expect(!result.lowercased().contains("gcrypt"), "\(result)")
        }
    }

    @Test("a missing vault is exit 4 for every command (exec: 125 naming 4); missing unlock files exit 4 too")
    func missingVaultAndUnlockFiles() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let missing = ["KEYWARD_VAULT": fixture.directory.appendingPathComponent("nowhere/vault.db").path]
        let commands: [[String]] = [
            ["vault", "get", "a/b"], ["vault", "put", "a/b"], ["vault", "list"], ["vault", "history", "a/b"], ["vault", "rm", "a/b"],
            ["vault", "passwd"], ["vault", "rekey"], ["vault", "verify"], ["vault", "key", "list"], ["vault", "key", "rm", "2"],
            ["status"], ["sync"], ["rotate"], ["token", "FIU-ALPHA"], ["export", "FIU-ALPHA", "--format", "dotenv"], ["audit"], ["login", "sim"],
        ]
        for arguments in commands {
            let result = try await fixture.run(arguments, stdin: "value", extraEnvironment: missing)
            #expect(result.status == 4, "\(arguments): \(result.all)")
            #expect(result.stderr.contains("no vault at"), "\(arguments): \(result.stderr)")
        }
        let exec = try await fixture.run(["exec", "FIU-ALPHA", "--", "true"], extraEnvironment: missing)
        #expect(exec.status == 125, "\(exec.all)")
        #expect(exec.stderr.contains("no vault at") && exec.stderr.contains("code 4"), "\(exec.stderr)")

        let noKeyFile = ["KEYWARD_KEY_FILE": fixture.directory.appendingPathComponent("gone.key").path]
        for arguments in [["vault", "list"], ["status"], ["sync"]] {
            let result = try await fixture.run(arguments, extraEnvironment: noKeyFile)
            #expect(result.status == 4, "\(arguments): \(result.all)")
            #expect(result.stderr.contains("KEYWARD_KEY_FILE"), "\(result.stderr)")
        }
        let noPassphraseFile = ["KEYWARD_KEY_FILE": "", "KEYWARD_PASSPHRASE_FILE": fixture.directory.appendingPathComponent("gone.txt").path]
        for arguments in [["vault", "list"], ["status"]] {
            let result = try await fixture.run(arguments, extraEnvironment: noPassphraseFile)
            #expect(result.status == 4, "\(arguments): \(result.all)")
            #expect(result.stderr.contains("KEYWARD_PASSPHRASE_FILE"), "\(result.stderr)")
        }
        let initMissingKey = try await fixture.run(["vault", "init"], extraEnvironment: missing.merging(noKeyFile) { $1 })
        #expect(initMissingKey.status == 4, "\(initMissingKey.all)")
    }

    @Test("vault init --new-key-file creates the key file's missing directories with mode 0700")
    func newKeyFileDirectory() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("config/keyward/vault.key").path
        let result = try await CommandRunner.run(["vault", "init", "--new-key-file", keyFile], environment: ["KEYWARD_VAULT": directory.appendingPathComponent("v.db").path], directory: directory)
        #expect(result.status == 0, "\(result.all)")
        for path in ["config", "config/keyward"] {
            var info = stat()
            #expect(stat(directory.appendingPathComponent(path).path, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o700, "\(path): \(String(info.st_mode & 0o777, radix: 8))")
        }
        var info = stat()
        #expect(stat(keyFile, &info) == 0 && info.st_mode & 0o777 == 0o600)
        let list = try await CommandRunner.run(["vault", "list"], environment: ["KEYWARD_VAULT": directory.appendingPathComponent("v.db").path, "KEYWARD_KEY_FILE": keyFile], directory: directory)
        #expect(list.status == 0, "\(list.all)")
    }

    @Test("~ in configured paths expands from $HOME")
    func tildeFromHome() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let home = directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let unique = "keyward-tilde-test-\(UUID().uuidString)"
        // Where a lookup of the user database would put it: removed whatever happens.
        let elsewhere = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(unique)
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        try """
            version: 1
            vault:
              path: ~/\(unique)/vault.db
            """.write(to: directory.appendingPathComponent("keyward.yaml"), atomically: true, encoding: .utf8)
        let result = try await CommandRunner.run(["vault", "init", "--new-key-file", "k.key"],
                                                 environment: ["HOME": home.path], directory: directory)
        #expect(result.status == 0, "\(result.all)")
        #expect(FileManager.default.fileExists(atPath: home.appendingPathComponent("\(unique)/vault.db").path), "\(result.all)")
    }

    // MARK: item 9: a named configuration must exist; loading is linear

    @Test("a missing --config or KEYWARD_CONFIG makes the vault commands exit 2, not fall back to the default vault")
    func missingNamedConfiguration() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("k.key").path
        // A vault at the default place, which a fallback would silently use.
        let created = try await CommandRunner.run(["vault", "init", "--new-key-file", keyFile], directory: directory)
        #expect(created.status == 0, "\(created.all)")
        let absent = directory.appendingPathComponent("absent.yaml").path
        for (arguments, environment) in [
            (["vault", "list", "--config", absent], ["KEYWARD_KEY_FILE": keyFile]),
            (["vault", "list"], ["KEYWARD_KEY_FILE": keyFile, "KEYWARD_CONFIG": absent]),
            (["vault", "put", "a/b", "--config", absent], ["KEYWARD_KEY_FILE": keyFile]),
            (["vault", "key", "list", "--config", absent], ["KEYWARD_KEY_FILE": keyFile]),
            (["vault", "init", "--config", absent], ["KEYWARD_PASSPHRASE": "a long enough passphrase"]),
            (["sync", "--config", absent], ["KEYWARD_KEY_FILE": keyFile]),
        ] {
            let result = try await CommandRunner.run(arguments, environment: environment, stdin: "value", directory: directory)
            #expect(result.status == 2, "\(arguments): \(result.all)")
            #expect(result.stderr.contains(absent) && result.stderr.contains("does not exist"), "\(arguments): \(result.stderr)")
        }
    }

    // MARK: item 10: small things a user hit

    @Test("vault put on a terminal prompts without echo and drops the newline that ends the value")
    func putOnTerminal() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("k.key").path
        let environment = ["KEYWARD_VAULT": directory.appendingPathComponent("v.db").path, "KEYWARD_KEY_FILE": keyFile]
        #expect(try await CommandRunner.run(["vault", "init", "--new-key-file", keyFile], environment: environment, directory: directory).status == 0)
        let typed = "typed-secret-value-42"
        let put = try await TerminalRun.run(["vault", "put", "app/typed"], answers: [("Value for app/typed", typed)],
                                            environment: environment, directory: directory)
        #expect(put.status == 0, "\(put.output)")
        #expect(!put.output.contains(typed), "no echo: \(put.output)")
        let get = try await CommandRunner.run(["vault", "get", "app/typed"], environment: environment, directory: directory)
        #expect(get.stdout == typed, "no trailing newline stored")
    }

    @Test("vault init warns about a passphrase shorter than 12 characters, without showing it")
    func shortPassphraseWarning() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let short = try await CommandRunner.run(["vault", "init"], environment: ["KEYWARD_VAULT": directory.appendingPathComponent("a.db").path, "KEYWARD_PASSPHRASE": "hunter2"], directory: directory)
        #expect(short.status == 0, "\(short.all)")
        #expect(short.stderr.contains("keyward: warning: the passphrase is 7 characters long; use at least 12"), "\(short.stderr)")
        #expect(!short.all.contains("hunter2"))
        let long = try await CommandRunner.run(["vault", "init"], environment: ["KEYWARD_VAULT": directory.appendingPathComponent("b.db").path, "KEYWARD_PASSPHRASE": "twelve chars"], directory: directory)
        #expect(long.status == 0, "\(long.all)")
        #expect(!long.stderr.contains("warning"), "\(long.stderr)")
    }

    @Test("vault get --help shows --version once, and vault get --entry-version N reads version N")
    func getVersionOption() async throws {
        let help = try await CommandRunner.run(["vault", "get", "--help"])
        #expect(help.status == 0, "\(help.all)")
        let mentions = help.stdout.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--version") }
        #expect(mentions.count == 1, "\(help.stdout)")

        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("k.key").path
        let environment = ["KEYWARD_VAULT": directory.appendingPathComponent("v.db").path, "KEYWARD_KEY_FILE": keyFile]
        #expect(try await CommandRunner.run(["vault", "init", "--new-key-file", keyFile], environment: environment, directory: directory).status == 0)
        #expect(try await CommandRunner.run(["vault", "put", "a/b"], environment: environment, stdin: "first", directory: directory).status == 0)
        #expect(try await CommandRunner.run(["vault", "put", "a/b"], environment: environment, stdin: "second", directory: directory).status == 0)
        let first = try await CommandRunner.run(["vault", "get", "a/b", "--entry-version", "1"], environment: environment, directory: directory)
        #expect(first.status == 0 && first.stdout == "first", "\(first.all)")
        let version = try await CommandRunner.run(["--version"])
        #expect(version.status == 0 && version.stdout == "0.1.0\n")
    }

    @Test("an unknown subcommand suggests the closest", arguments: [
        (["synk"], "sync"), (["stauts"], "status"), (["vault", "lsit"], "vault list"), (["vault", "key", "ad"], "vault key add"), (["confg", "check"], "config"),
    ])
    func unknownSubcommand(arguments: [String], suggestion: String) async throws {
        let result = try await CommandRunner.run(arguments)
        #expect(result.status == 2, "\(result.all)")
        #expect(result.stderr.contains("did you mean '\(suggestion)'?"), "\(result.stderr)")
    }
}

extension ConfigurationCLITests {
    // MARK: round 2 (a fresh user's attack)

    /// A minimal valid configuration (no vault needed), with `extra` appended.
    static func minimalConfig(_ extra: String = "", vaultPath: String? = "state/vault.db", password: String? = nil) -> String {
        """
        version: 1
        \(vaultPath.map { "vault:\n  path: \($0)" } ?? "")
        providers:
          sim:
            baseURL: http://127.0.0.1:9/iam/v1
            username: ops@example.com
        \(password.map { "    password: \($0)" } ?? "")
        entities:
          FIU-ALPHA: {}
        \(extra)
        """
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("config check prints the resolved vault path and its source (text and JSON); a missing vault is a note with exit 0")
    func configCheckShowsVault() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // The README's order: the vault first (at the default place), then keyward.yaml.
        let keyFile = directory.appendingPathComponent("vault.key").path
        let initResult = try await CommandRunner.run(["vault", "init", "--new-key-file", keyFile], directory: directory)
        #expect(initResult.status == 0, "\(initResult.all)")
        let defaultVault = directory.appendingPathComponent("data/keyward/vault.db").path
        #expect(FileManager.default.fileExists(atPath: defaultVault))
        let configFile = directory.appendingPathComponent("keyward.yaml").path
        try Self.minimalConfig().write(toFile: configFile, atomically: true, encoding: .utf8)
        let configured = directory.appendingPathComponent("state/vault.db").path

        let check = try await CommandRunner.run(["config", "check"], directory: directory)
        #expect(check.status == 0, "\(check.all)")
        #expect(check.stdout.contains("vault: \(configured) (vault.path in keyward.yaml; it does not exist)"), "\(check.stdout)")
        #expect(check.stderr.contains("keyward: note: there is no vault at \(configured): create it with `keyward vault init`"), "\(check.stderr)")
        #expect(check.stderr.contains("a vault exists at the default place, \(defaultVault)"), "\(check.stderr)")

        let json = try await CommandRunner.run(["config", "check", "--output", "json"], directory: directory)
        #expect(json.status == 0, "\(json.all)")
        let vault = try #require(try Self.json(json.stdout)["vault"] as? [String: Any], "\(json.stdout)")
        #expect(vault["path"] as? String == configured)
        #expect(vault["exists"] as? Bool == false)
        #expect(vault["source"] as? String == "config")

        // --vault, then KEYWARD_VAULT, win over the configuration.
        let flag = try await CommandRunner.run(["config", "check", "--output", "json", "--vault", "other.db"], directory: directory)
        let flagVault = try #require(try Self.json(flag.stdout)["vault"] as? [String: Any], "\(flag.all)")
        #expect(flagVault["path"] as? String == directory.appendingPathComponent("other.db").path)
        #expect(flagVault["source"] as? String == "flag")
        let env = try await CommandRunner.run(["config", "check", "--output", "json"], environment: ["KEYWARD_VAULT": defaultVault], directory: directory)
        let envVault = try #require(try Self.json(env.stdout)["vault"] as? [String: Any], "\(env.all)")
        #expect(envVault["path"] as? String == defaultVault)
        #expect(envVault["exists"] as? Bool == true)
        #expect(envVault["source"] as? String == "env")
        #expect(!env.stderr.contains("note:"), "\(env.stderr)")

        // Without vault.path: the default place, which exists: no note.
        try Self.minimalConfig(vaultPath: nil).write(toFile: configFile, atomically: true, encoding: .utf8)
        let fallback = try await CommandRunner.run(["config", "check"], directory: directory)
        #expect(fallback.status == 0, "\(fallback.all)")
        #expect(fallback.stdout.contains("vault: \(defaultVault) (default)"), "\(fallback.stdout)")
        #expect(!fallback.stderr.contains("note:"), "\(fallback.stderr)")
    }

    @Test("every problem of a sink is reported at once: a bad Kubernetes name beside a bad mode, and a bad template elsewhere")
    func everyProblemAtOnce() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.minimalConfig("""
            sinks:
              k8s:
                type: kubernetes-secret
                path: secret.yaml
                name: Bad_Name
                mode: "0644"
                entities: [FIU-ALPHA]
              app-env:
                type: dotenv
                path: app.env
                entities: [FIU-ALPHA]
                keys:
                  A: "{entity.nope}"
              copy:
                type: dotenv
                path: secret.yaml
                entities: [FIU-ALPHA]
            """).write(to: directory.appendingPathComponent("keyward.yaml"), atomically: true, encoding: .utf8)
        let check = try await CommandRunner.run(["config", "check"], directory: directory)
        #expect(check.status == 2, "\(check.all)")
        #expect(check.stderr.contains("configuration has 4 errors"), "\(check.stderr)")
        #expect(check.stderr.contains("sinks.k8s.name: name 'Bad_Name' is not a DNS-1123 subdomain"), "\(check.stderr)")
        #expect(check.stderr.contains("sinks.k8s.mode"), "\(check.stderr)")
        #expect(check.stderr.contains("sinks.app-env.keys.A"), "\(check.stderr)")
        #expect(check.stderr.contains("sinks.copy.path: writes the same file as sink 'k8s'"), "\(check.stderr)")
        // No consequential noise: the parsed name is not also reported as missing.
        #expect(!check.stderr.contains("missing name"), "\(check.stderr)")
    }

    @Test("a file: reference to a missing file or a directory is a configuration error at load: exit 2 naming the key, its line and the path")
    func missingFileReference() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("keyward.yaml")
        try Self.minimalConfig(password: "file:nonexist.txt").write(to: config, atomically: true, encoding: .utf8)
        let missing = directory.appendingPathComponent("nonexist.txt").path
        let lineNumber = try #require(try String(contentsOf: config, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.contains("file:nonexist.txt") }) + 1
        for arguments in [["config", "check"], ["sync"], ["vault", "list"]] {
            let result = try await CommandRunner.run(arguments, directory: directory)
            #expect(result.status == 2, "\(arguments): \(result.all)")
            #expect(result.stderr.contains("line \(lineNumber), column 15: providers.sim.password: the file \(missing) does not exist"), "\(arguments): \(result.stderr)")
        }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("pwdir"), withIntermediateDirectories: true)
        try Self.minimalConfig(password: "file:pwdir").write(to: config, atomically: true, encoding: .utf8)
        let folder = try await CommandRunner.run(["config", "check"], directory: directory)
        #expect(folder.status == 2, "\(folder.all)")
        #expect(folder.stderr.contains("providers.sim.password: the file \(directory.appendingPathComponent("pwdir").path) is not a regular file"), "\(folder.stderr)")
        // A private, readable file passes.
        let good = directory.appendingPathComponent("password.txt").path
        try "pw\n".write(toFile: good, atomically: false, encoding: .utf8)
        #expect(chmod(good, 0o600) == 0)
        try Self.minimalConfig(password: "file:password.txt").write(to: config, atomically: true, encoding: .utf8)
        let passes = try await CommandRunner.run(["config", "check"], directory: directory)
        #expect(passes.status == 0, "\(passes.all)")
    }

    @Test("sync --dry-run --output json: every plan entry has a reason (detail kept); a sink is skipped only in a dry run")
    func dryRunPlanReasons() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try append("""
            sinks:
              app-env:
                type: dotenv
                path: deploy/app.env
                entities: [FIU-ALPHA]
            """, to: fixture)
        let dry = try await fixture.run(["sync", "--dry-run", "--output", "json"])
        #expect(dry.status == 0, "\(dry.all)")
        let report = try Self.json(dry.stdout)
        let plan = try #require(report["plan"] as? [[String: Any]], "\(dry.stdout)")
        #expect(!plan.isEmpty)
        for entry in plan {
            let reason = entry["reason"] as? String
            #expect(reason?.isEmpty == false, "every action says why: \(entry)")
            if let detail = entry["detail"] as? String { #expect(reason == detail, "detail is kept, the same text: \(entry)") }
        }
        let store = try #require(plan.first { ($0["action"] as? String) == "store new version" && ($0["target"] as? String) == "entities/FIU-ALPHA/secret" })
        #expect(store["reason"] as? String == "the vault holds no secret yet", "\(store)")
        let sinks = try #require(report["sinks"] as? [[String: Any]])
        #expect(sinks.first?["outcome"] as? String == "skipped", "dry run: would be written, is not: \(sinks)")

        let real = try await fixture.run(["sync", "--output", "json"])
        #expect(real.status == 0, "\(real.all)")
        let realSinks = try #require(try Self.json(real.stdout)["sinks"] as? [[String: Any]])
        #expect(realSinks.first?["outcome"] as? String == "written", "\(realSinks)")
        #expect(LeakScanner.leaks(in: dry.all + real.all, of: fixture.secrets()).isEmpty)
    }

    @Test("an entity whose mint failed is not minted again by each sink: the sinks fail naming the entity's error, once prefixed")
    func oneFailingMintPerRun() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        try append("""
            sinks:
              app-env:
                type: dotenv
                path: deploy/app.env
                entities: [FIU-ALPHA]
              app-sh:
                type: shell
                path: deploy/app.sh
                entities: [FIU-ALPHA]
            """, to: fixture)
        #expect(try await fixture.run(["sync"]).status == 0)
        let envBefore = try Data(contentsOf: fixture.directory.appendingPathComponent("deploy/app.env"))
        let shBefore = try Data(contentsOf: fixture.directory.appendingPathComponent("deploy/app.sh"))
        fixture.simulator.advanceClock(bySeconds: 25 * 3_600)
        let day = ["KEYWARD_CLOCK_OFFSET_SECONDS": "\(25 * 3_600)"]
        fixture.simulator.inject(.status500, endpoint: .entityToken, count: 100)

        // What one failing mint costs (the client's own retries included).
        fixture.simulator.resetCounters()
        let token = try await fixture.run(["token", "FIU-ALPHA"], extraEnvironment: day)
        #expect(token.status == 1, "\(token.all)")
        let oneMint = fixture.counter(.entityToken)
        #expect(oneMint >= 1)

        fixture.simulator.resetCounters()
        let sync = try await fixture.run(["sync", "FIU-ALPHA"], extraEnvironment: day)
        fixture.simulator.clearFaults()
        #expect(sync.status == 1, "\(sync.all)")
        #expect(fixture.counter(.entityToken) == oneMint, "one failing mint per entity per run, not one more per sink: \(sync.all)")
        for sink in ["app-env", "app-sh"] {
            #expect(sync.stderr.contains("sink \(sink): "), "\(sync.stderr)")
            #expect(!sync.stderr.contains("sink \(sink): sink \(sink)"), "the prefix once: \(sync.stderr)")
        }
        #expect(sync.stderr.contains("the entity access token of FIU-ALPHA expired"), "\(sync.stderr)")
        #expect(sync.stderr.contains("its mint failed in this run"), "\(sync.stderr)")
        #expect(try Data(contentsOf: fixture.directory.appendingPathComponent("deploy/app.env")) == envBefore)
        #expect(try Data(contentsOf: fixture.directory.appendingPathComponent("deploy/app.sh")) == shBefore)
        #expect(LeakScanner.leaks(in: sync.all + token.all, of: fixture.secrets()).isEmpty)
    }

    @Test("vault init creates the vault with the configuration's vault.auditRetention: audit rows older than it are pruned")
    func initTakesAuditRetention() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
            version: 1
            vault:
              path: v.db
              auditRetention: 1d
            providers:
              uat:
                type: token-service
                baseURL: http://127.0.0.1:9/iam/v1
                username: ops@example.com
            entities:
              FIU-ALPHA: {}
            """.write(to: directory.appendingPathComponent("keyward.yaml"), atomically: true, encoding: .utf8)
        let key = directory.appendingPathComponent("vault.key").path
        let created = try await CommandRunner.run(["vault", "init", "--new-key-file", key], directory: directory)
        #expect(created.status == 0, "\(created.all)")
        let unlock = ["KEYWARD_KEY_FILE": key]
        let first = try await CommandRunner.run(["vault", "put", "app/one"], environment: unlock, stdin: "value-one", directory: directory)
        #expect(first.status == 0, "\(first.all)")
        // Two days later (debug builds' clock hook): appending a row prunes those older than 1 day.
        let later = unlock.merging(["KEYWARD_CLOCK_OFFSET_SECONDS": "\(2 * 86_400)"]) { $1 }
        let second = try await CommandRunner.run(["vault", "put", "app/two"], environment: later, stdin: "value-two", directory: directory)
        #expect(second.status == 0, "\(second.all)")
        let audit = try await CommandRunner.run(["audit", "--output", "json"], environment: later, directory: directory)
        #expect(audit.status == 0, "\(audit.all)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [String: Any])
        let entries = try #require(document["entries"] as? [[String: Any]])
        #expect(entries.compactMap { $0["entity"] as? String } == ["app/two"], "the first put's row is older than 1 day: \(audit.stdout)")
        let verified = try await CommandRunner.run(["vault", "verify"], environment: later, directory: directory)
        #expect(verified.status == 0, "the pruned chain verifies: \(verified.all)")
        #expect(!(audit.all + first.all + second.all).contains("value-"))
    }
}

/// Runs the built `keyward` on a new pseudo-terminal (its controlling terminal, so /dev/tty is
/// it), answering prompts: each answer is typed (followed by Enter) once its prompt text has
/// appeared. Uses python3's `pty` module, as the sink tests use python3 for python-dotenv.
enum TerminalRun {
    struct Result {
        var status: Int32
        /// Everything the terminal showed: stdout, stderr and any echo, merged.
        var output: String
    }

    static let script = #"""
        import json, os, pty, select, sys, time
        spec = json.loads(sys.argv[1])
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(spec["directory"])
            os.execve(spec["binary"], [spec["binary"]] + spec["arguments"], spec["environment"])
        output = b""
        answers = list(spec["answers"])
        waited = 0.0
        status = None
        def read(timeout):
            global output
            ready, _, _ = select.select([fd], [], [], timeout)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return False
                if not data:
                    return False
                output += data
            return True
        while True:
            alive = read(0.1)
            if answers:
                prompt, text = answers[0]
                waited += 0.1
                # Type the answer once its prompt shows (or after 30 s, for a build that never prompts).
                if prompt.encode() in output or waited > 30:
                    answers.pop(0)
                    waited = 0.0
                    os.write(fd, text.encode() + b"\n")
            else:
                waited += 0.1
                if waited > 30:
                    # A build that reads until end of input: end it.
                    os.write(fd, b"\x04")
                    waited = -60
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                while read(0.1):
                    pass
                status = os.waitstatus_to_exitcode(code)
                break
            if not alive:
                _, code = os.waitpid(pid, 0)
                status = os.waitstatus_to_exitcode(code)
                break
        sys.stdout.write(json.dumps({"status": status, "output": output.decode("utf-8", "replace")}))
        """#

    static func run(_ arguments: [String], answers: [(String, String)], environment: [String: String], directory: URL) async throws -> Result {
        var env = ["PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": directory.path,
                   "XDG_DATA_HOME": directory.appendingPathComponent("data").path, "XDG_STATE_HOME": directory.appendingPathComponent("state").path]
        env.merge(environment) { $1 }
        let spec: [String: Any] = [
            "binary": CommandRunner.binary.path, "arguments": arguments, "environment": env, "directory": directory.path,
            "answers": answers.map { [$0.0, $0.1] },
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: spec), as: UTF8.self)
        let output = try await runTool(["python3", "-c", script, json])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        return Result(status: Int32(object["status"] as? Int ?? -1), output: object["output"] as? String ?? "")
    }
}

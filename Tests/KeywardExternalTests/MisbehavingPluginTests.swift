import Foundation
import KeywardCore
@testable import KeywardExternal
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Plugins that break protocol 1, one way each (DESIGN.md, "Plugins").
@Suite("Misbehaving external plugins")
struct MisbehavingPluginTests {
    static let request: [String: JSONValue] = ["operation": .string("fetch"), "entity": .string("FIU-1")]

    /// Calls a `/bin/sh` plugin with `body` and returns its failure (the plugin's path as PLUGIN).
    static func failure(_ body: String, timeout: Duration = .seconds(30), secrets: [[UInt8]] = []) async throws -> ExternalPluginError? {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\n" + body)
        let (logger, _) = RecordingLogHandler.logger()
        do {
            _ = try await scripts.plugin(path, timeout: timeout).call(request, secrets: secrets, logger: logger)
            return nil
        } catch {
            var error = error
            #expect(error.plugin == path)
            error.plugin = "PLUGIN"
            return error
        }
    }

    static func violation(_ message: String) -> ExternalPluginError {
        ExternalPluginError(plugin: "PLUGIN", code: .protocolViolation, message: message)
    }

    /// Whether `pid` is gone (no such process, or a zombie no one has reaped yet), waiting a
    /// little for the kernel to finish a SIGKILL.
    static func isGone(_ pid: pid_t) async throws -> Bool {
        for _ in 0..<100 {
            if kill(pid, 0) != 0 && errno == ESRCH { return true }
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
               let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "Z" { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    @Test("a plugin that hangs is stopped at its timeout, and the child it started is gone too")
    func hangs() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\nsleep 1000 &\necho $! > child.pid\nsleep 1000\n")
        let (logger, _) = RecordingLogHandler.logger()
        await #expect(throws: ExternalPluginError(plugin: path, code: .protocolViolation,
                                                  message: "did not answer within 1s: stopped at its timeout (SIGTERM to its process group, SIGKILL 5s later); raise its timeout if it needs longer")) {
            try await scripts.plugin(path, timeout: .seconds(1)).call(Self.request, logger: logger)
        }
        let text = try String(contentsOf: scripts.directory.appendingPathComponent("child.pid"), encoding: .utf8)
        let child = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try await Self.isGone(child))
    }

    @Test("a plugin that ignores SIGTERM gets SIGKILL 5 s later")
    func ignoresTerm() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\ntrap '' TERM\necho $$ > plugin.pid\nwhile :; do sleep 1; done\n")
        let (logger, _) = RecordingLogHandler.logger()
        await #expect(throws: ExternalPluginError.self) {
            try await scripts.plugin(path, timeout: .milliseconds(500)).call(Self.request, logger: logger)
        }
        let text = try String(contentsOf: scripts.directory.appendingPathComponent("plugin.pid"), encoding: .utf8)
        let pid = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try await Self.isGone(pid))
    }

    @Test("two JSON objects on stdout are refused")
    func twoObjects() async throws {
        #expect(try await Self.failure("cat >/dev/null\necho '{\"protocol\":1}'\necho '{\"protocol\":1}'\n") == Self.violation("answered more than one JSON object"))
    }

    @Test("no JSON on stdout is refused without echoing it")
    func noJSON() async throws {
        #expect(try await Self.failure("cat >/dev/null\necho 'hello s3cret'\n") == Self.violation("did not answer a JSON object"))
        #expect(try await Self.failure("cat >/dev/null\n") == Self.violation("did not answer a JSON object"))
        #expect(try await Self.failure("cat >/dev/null\necho '[1]'\n") == Self.violation("did not answer a JSON object"))
        #expect(try await Self.failure("cat >/dev/null\necho '{\"protocol\":1,'\n") == Self.violation("did not answer a JSON object"))
    }

    @Test("whitespace around the one object is fine")
    func whitespace() async throws {
        #expect(try await Self.failure("cat >/dev/null\nprintf '\\n\\t {\"protocol\":1} \\n\\n'\n") == nil)
    }

    @Test("a non-zero exit names the status; a signal names the signal")
    func exits() async throws {
        #expect(try await Self.failure("cat >/dev/null\necho '{\"protocol\":1}'\nexit 3\n") == Self.violation("exited with status 3"))
        #expect(try await Self.failure("cat >/dev/null\nkill -9 $$\n") == Self.violation("was killed by signal 9"))
    }

    @Test("a non-zero exit with a protocol error object fails with that error")
    func exitWithError() async throws {
        #expect(try await Self.failure("cat >/dev/null\necho '{\"protocol\":1,\"error\":{\"code\":\"auth\",\"message\":\"bad password\"}}'\nexit 1\n")
            == ExternalPluginError(plugin: "PLUGIN", code: .auth, message: "bad password"))
    }

    @Test("another protocol is refused; an answer without protocol too")
    func otherProtocol() async throws {
        #expect(try await Self.failure("cat >/dev/null\necho '{\"protocol\":2,\"secret\":\"x\"}'\n") == Self.violation("speaks protocol 2; Keyward speaks 1"))
        #expect(try await Self.failure("cat >/dev/null\necho '{\"secret\":\"x\"}'\n") == Self.violation("answered without \"protocol\": 1"))
    }

    @Test("error objects map to their codes and categories", arguments: [
        ("invalid", ExternalPluginError.Code.invalid, FailureCategory.usage),
        ("auth", .auth, .authentication),
        ("notFound", .notFound, .operationFailed),
        ("unavailable", .unavailable, .operationFailed),
        ("rateLimited", .rateLimited, .operationFailed),
    ])
    func errorCodes(name: String, code: ExternalPluginError.Code, category: FailureCategory) async throws {
        let error = try #require(try await Self.failure("cat >/dev/null\necho '{\"protocol\":1,\"error\":{\"code\":\"\(name)\",\"message\":\"it went wrong\",\"retryAfterSeconds\":7}}'\n"))
        #expect(error == ExternalPluginError(plugin: "PLUGIN", code: code, message: "it went wrong", retryAfterSeconds: 7))
        #expect(error.category == category)
    }

    @Test("an unknown error code is a protocol violation")
    func unknownCode() async throws {
        #expect(try await Self.failure("cat >/dev/null\necho '{\"protocol\":1,\"error\":{\"code\":\"oops\",\"message\":\"m\"}}'\n")
            == Self.violation("answered an error with an unknown code: m"))
    }

    @Test("a plugin's error message cannot forge lines or drive the terminal: control characters are escaped, 500 characters at most")
    func printableMessage() async throws {
        // JSON escapes: a newline, a forged `keyward:` line, clear-screen and a window title.
        let forged = #"line one\nkeyward: sync: all entities ok\u001b[2J\u001b]0;owned\u0007 end"#
        let error = try await Self.failure("cat >/dev/null\nprintf '%s\\n' '{\"protocol\":1,\"error\":{\"code\":\"auth\",\"message\":\"\(forged)\"}}'\n")
        #expect(error == ExternalPluginError(plugin: "PLUGIN", code: .auth,
                                             message: #"line one\nkeyward: sync: all entities ok\u{1b}[2J\u{1b}]0;owned\u{7} end"#))
        let long = try await Self.failure("cat >/dev/null\nprintf '{\"protocol\":1,\"error\":{\"code\":\"invalid\",\"message\":\"%s\"}}' \"$(printf 'x%.0s' $(seq 5000))\"\n")
        #expect(error?.message.contains("\n") == false)
        #expect(long?.message == String(repeating: "x", count: 500) + "…")
    }

    @Test("a plugin's error message has the known secrets redacted")
    func redactedMessage() async throws {
        let error = try await Self.failure("cat >/dev/null\necho '{\"protocol\":1,\"error\":{\"code\":\"auth\",\"message\":\"password hunter22 refused\"}}'\n",
                                           secrets: [Array("hunter22".utf8)])
        #expect(error == ExternalPluginError(plugin: "PLUGIN", code: .auth, message: "password <redacted> refused"))
    }

    @Test("stdout over 16 MiB stops the plugin")
    func hugeStdout() async throws {
        #expect(try await Self.failure("cat >/dev/null\nprintf '{\"protocol\":1,\"x\":\"'\nhead -c 17000000 /dev/zero | tr '\\0' a\necho '\"}'\n")
            == Self.violation("wrote more than 16 MiB to stdout: stopped"))
    }

    @Test("10 MiB on stderr neither blocks nor fails the call; 64 KiB of it is logged")
    func hugeStderr() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\ncat >/dev/null\nhead -c 10485760 /dev/zero | tr '\\0' 'e' | fold -w 1023 >&2\necho '{\"protocol\":1,\"ok\":true}'\n")
        let (logger, store) = RecordingLogHandler.logger()
        let answer = try await scripts.plugin(path).call(Self.request, logger: logger)
        #expect(answer == ["protocol": .integer(1), "ok": .bool(true)])
        let lines = store.lines.withLock { $0 }
        #expect(lines.last == "(stderr cut at 64 KiB)")
        #expect(lines.dropLast().reduce(0) { $0 + $1.utf8.count + 1 } <= 64 * 1024)
        #expect(lines.dropLast().allSatisfy { $0 == String(repeating: "e", count: 1023) })
    }

    @Test("a plugin that never reads a large request does not deadlock Keyward")
    func ignoresStdin() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\necho '{\"protocol\":1}'\n")
        let (logger, _) = RecordingLogHandler.logger()
        let big: [String: JSONValue] = ["operation": .string("write"), "blob": .string(String(repeating: "x", count: 4 * 1024 * 1024))]
        #expect(try await scripts.plugin(path).call(big, logger: logger) == ["protocol": .integer(1)])
    }

    @Test("the secret echoed on stderr is logged as <redacted>, line by line, naming the plugin")
    func stderrRedacted() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\ncat >&2\necho >&2\necho 'second line' >&2\necho '{\"protocol\":1}'\n")
        let (logger, store) = RecordingLogHandler.logger()
        let secret = "s3cr3t-Value-42"
        _ = try await scripts.plugin(path).call(["operation": .string("token"), "secret": .string(secret)], secrets: [Array(secret.utf8)], logger: logger)
        let lines = store.lines.withLock { $0 }
        #expect(lines == [#"{"operation":"token","protocol":1,"secret":"<redacted>"}"#, "second line"])
        #expect(store.metadata.withLock { $0 }.allSatisfy { $0["plugin"] == .string(path) })
    }

    @Test("a secret the answer carries is redacted from stderr too")
    func answerSecretRedacted() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\ncat >/dev/null\necho 'minted tok-991' >&2\necho '{\"protocol\":1,\"token\":\"tok-991\"}'\n")
        let (logger, store) = RecordingLogHandler.logger()
        _ = try await scripts.plugin(path).call(Self.request, logger: logger)
        #expect(store.lines.withLock { $0 } == ["minted <redacted>"])
    }

    @Test("the environment is PATH, HOME, LANG, TMPDIR, KEYWARD_PLUGIN_PROTOCOL and the env names, never KEYWARD_*")
    func environment() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/usr/bin/env python3\nimport json, os, sys\nsys.stdin.read()\nprint(json.dumps({\"protocol\": 1, \"env\": dict(os.environ), \"cwd\": os.getcwd()}))\n")
        let environment = ["PATH": "/usr/bin:/bin", "HOME": "/home/k", "LANG": "C.UTF-8", "OTHER": "no", "REGION": "eu",
                           "KEYWARD_PASSPHRASE": "hunter2", "KEYWARD_VAULT_KEY": "k"]
        let (logger, _) = RecordingLogHandler.logger()
        let answer = try await scripts.plugin(path, environmentNames: ["REGION", "KEYWARD_PASSPHRASE", "UNSET"], processEnvironment: environment)
            .call(Self.request, logger: logger)
        var env = answer["env"]?.objectValue ?? [:]
        env["LC_CTYPE"] = nil  // python may add it (PEP 538 locale coercion)
        #expect(env == ["PATH": .string("/usr/bin:/bin"), "HOME": .string("/home/k"), "LANG": .string("C.UTF-8"),
                        "REGION": .string("eu"), "KEYWARD_PLUGIN_PROTOCOL": .string("1")])
        let cwd = try #require(answer["cwd"]?.stringValue)
        #expect(URL(fileURLWithPath: cwd).resolvingSymlinksInPath().path == scripts.directory.resolvingSymlinksInPath().path)
    }

    @Test("a plugin inherits no descriptor but its stdin, stdout and stderr (not a vault's, a lock's or another child's pipe)")
    func descriptors() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/usr/bin/env python3\nimport json, os, sys\nsys.stdin.read()\nprint(json.dumps({\"protocol\": 1, \"fds\": sorted(int(fd) for fd in os.listdir('/proc/self/fd'))}))\n")
        // A descriptor Keyward holds without close-on-exec, as a library it links might.
        let inheritable = open("/dev/null", O_RDONLY)
        try #require(inheritable > 2)
        defer { close(inheritable) }
        let (logger, _) = RecordingLogHandler.logger()
        let answer = try await scripts.plugin(path).call(Self.request, logger: logger)
        let descriptors = try #require(answer["fds"]?.arrayValue).compactMap(\.integerValue)
        // 0-2, and the one listdir itself opens on /proc/self/fd.
        #expect(descriptors.count == 4 && Array(descriptors.prefix(3)) == [0, 1, 2], "\(descriptors)")
    }

    @Test("during a call the plugin's argv and environment hold no secret")
    func procHoldsNoSecret() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\ncat >/dev/null\necho $$ > plugin.pid\nwhile [ ! -f go ]; do sleep 0.05; done\necho '{\"protocol\":1}'\n")
        let secret = "s3cr3t-in-flight-77"
        let plugin = scripts.plugin(path, processEnvironment: ["PATH": "/usr/bin:/bin", "SECRET_VALUE": secret])
        let (logger, _) = RecordingLogHandler.logger()
        let call = Task { try await plugin.call(["operation": .string("token"), "secret": .string(secret)], secrets: [Array(secret.utf8)], logger: logger) }
        let pidFile = scripts.directory.appendingPathComponent("plugin.pid")
        var pidText: String?
        while pidText == nil {
            pidText = (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap { $0.hasSuffix("\n") ? $0 : nil }
            try await Task.sleep(for: .milliseconds(20))
        }
        let pid = try #require(Int(pidText!.trimmingCharacters(in: .whitespacesAndNewlines)))
        let cmdline = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))
        let environ = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))
        #expect(String(decoding: cmdline, as: UTF8.self).contains(path))
        #expect(!String(decoding: cmdline, as: UTF8.self).contains(secret))
        #expect(!String(decoding: environ, as: UTF8.self).contains(secret))
        #expect(String(decoding: environ, as: UTF8.self).contains("KEYWARD_PLUGIN_PROTOCOL=1"))
        _ = FileManager.default.createFile(atPath: scripts.directory.appendingPathComponent("go").path, contents: Data())
        #expect(try await call.value == ["protocol": .integer(1)])
    }

    @Test("a command that cannot be started fails naming it")
    func cannotStart() async throws {
        let (logger, _) = RecordingLogHandler.logger()
        let plugin = ExternalPlugin(command: ["/nonexistent/keyward-sink-x"], directory: nil)
        await #expect(throws: ExternalPluginError(plugin: "/nonexistent/keyward-sink-x", code: .protocolViolation, message: "could not be started: No such file or directory")) {
            try await plugin.call(Self.request, logger: logger)
        }
    }
}

@Suite("Redaction")
struct RedactionTests {
    @Test("a secret is redacted raw, JSON-escaped and ASCII-escaped; the longest first")
    func variants() {
        let secret = Array("a\"b\\c\n🔑é".utf8)
        let text = Array(#"raw a"b\c"#.utf8) + [0x0a] + Array("🔑é json a\\\"b\\\\c\\n🔑é ascii a\\\"b\\\\c\\n\\ud83d\\udd11\\u00e9 end".utf8)
        let redacted = Redaction.redact(text, Redaction.variants(of: secret))
        #expect(String(decoding: redacted, as: UTF8.self) == "raw <redacted> json <redacted> ascii <redacted> end")
        #expect(Redaction.redact(Array("xx abcd xx".utf8), [Array("abc".utf8), Array("abcd".utf8), []]) == Array("xx <redacted> xx".utf8))
    }
}

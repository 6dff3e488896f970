import Foundation
import KeywardCore
import KeywardSimulator
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `keyward exec --mask` (DESIGN.md, "Leak scanning and masked output"): a child prints each
/// secret and token it was given in every encoded form, byte by byte with flushes and pauses
/// between, and none of it comes out.
@Suite("keyward exec --mask", .serialized)
struct ExecMaskCLITests {
    /// One value the child is given, by marker name (`FIU-ALPHA/secret`).
    struct Value {
        var kind: String
        var bytes: [UInt8]
    }

    /// One thing the child printed: the value's kind, the bytes, whether the line is expected
    /// to be exactly the marker, and whether it is a spelling ``EncodedForm`` does not cover.
    struct Printed {
        var index: Int
        var kind: String
        var bytes: [UInt8]
        var exact: Bool
        var gap: Bool
    }

    static let entities = ["FIU-ALPHA", "FIU-BETA"]

    /// The child: reads the forms the test computed (EncodedForm.forms, hex), adds the spellings
    /// Python's own encoders produce from the environment it was given, writes the list to
    /// `printed`, then prints each as `item N: …` byte by byte (one write each, a 10 ms pause
    /// in the middle of each, well below the 100 ms hold), first on stdout, then on stderr; exits 3.
    static let child = #"""
        import base64, json, os, re, sys, time, urllib.parse
        forms_path, printed_path = sys.argv[1], sys.argv[2]
        items = []
        for line in open(forms_path):
            kind, hexed = line.split()
            items.append((kind, bytes.fromhex(hexed), True, False))
        for entity in ("FIU_ALPHA", "FIU_BETA"):
            for var, suffix in (("SECRET", "secret"), ("ACCESS_TOKEN", "token")):
                text = os.environ[entity + "_" + var]
                v = text.encode()
                kind = entity.replace("_", "-") + "/" + suffix
                items.append((kind, v, True, False))
                items.append((kind, base64.b64encode(v), True, False))
                items.append((kind, base64.urlsafe_b64encode(v), True, False))
                items.append((kind, base64.urlsafe_b64encode(v).rstrip(b"="), True, False))
                for p in range(3):
                    items.append((kind, base64.b64encode(b"\xfb\xff"[:p] + v + b"tail"), False, False))
                    items.append((kind, base64.urlsafe_b64encode(b"\xfb\xff"[:p] + v + b"tail"), False, False))
                items.append((kind, json.dumps(text).encode(), False, False))
                items.append((kind, json.dumps({"value": text}).encode(), False, False))
                items.append((kind, json.dumps({"value": text}, ensure_ascii=False).encode(), False, False))
                items.append((kind, urllib.parse.quote(text, safe="").encode(), True, False))
                lower_hex = re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(text, safe=""))
                items.append((kind, lower_hex.encode(), True, False))
                items.append((kind, urllib.parse.quote_plus(text).encode(), True, False))
                items.append((kind, urllib.parse.quote(text).encode(), True, False))
        with open(printed_path, "w") as log:
            for k, (kind, data, exact, gap) in enumerate(items):
                log.write("%d\t%s\t%s\t%d\t%d\n" % (k, kind, data.hex(), exact, gap))
        os.write(1, ("tty: %s %s\n" % (os.isatty(1), os.isatty(2))).encode())
        for fd in (1, 2):
            for k, (kind, data, exact, gap) in enumerate(items):
                line = ("item %d: " % k).encode() + data + b"\n"
                for i in range(len(line)):
                    os.write(fd, line[i:i + 1])
                    if i == len(line) // 2:
                        time.sleep(0.01)
            time.sleep(0.2)
        sys.exit(3)
        """#

    /// The values `exec` gives the child: the simulator's secrets and the tokens `keyward token` prints.
    static func values(_ fixture: EngineFixture) async throws -> [Value] {
        var values: [Value] = []
        for entity in entities {
            let secret = try #require(fixture.simulator.currentSecret(for: entity))
            values.append(Value(kind: "\(entity)/secret", bytes: Array(secret.utf8)))
            let token = try await fixture.run(["token", entity])
            #expect(token.status == 0, "\(token.stderr)")
            values.append(Value(kind: "\(entity)/token", bytes: Array(token.stdout.trimmingCharacters(in: .whitespacesAndNewlines).utf8)))
        }
        return values
    }

    /// Writes the child's script and the forms file; returns the child's command line.
    static func prepare(_ fixture: EngineFixture, _ values: [Value]) throws -> (command: [String], printed: URL) {
        let script = fixture.directory.appendingPathComponent("print-forms.py")
        try child.write(to: script, atomically: true, encoding: .utf8)
        var forms = ""
        for value in values {
            for form in EncodedForm.forms(of: value.bytes) {
                forms += "\(value.kind) \(form.bytes.map { String(format: "%02x", $0) }.joined())\n"
            }
        }
        let formsFile = fixture.directory.appendingPathComponent("forms.txt")
        try forms.write(to: formsFile, atomically: true, encoding: .utf8)
        let printed = fixture.directory.appendingPathComponent("printed.txt")
        return (["python3", script.path, formsFile.path, printed.path], printed)
    }

    static func readPrinted(_ url: URL) throws -> [Printed] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let hex = Array(fields[2].utf8)
            let bytes = stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
            return Printed(index: Int(fields[0])!, kind: fields[1], bytes: bytes, exact: fields[3] == "1", gap: fields[4] == "1")
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return Data(haystack).range(of: Data(needle)) != nil
    }

    /// Checks one captured stream (or both merged, `copies` = 2): nothing printed survives, no
    /// encoded form of any value is in it, and each item's line is its marker.
    static func check(_ output: [UInt8], printed: [Printed], values: [Value], copies: Int, label: String) {
        let patterns = LeakPatternSet(values: values.map { (LeakPatternSet.Source(name: "entities/\($0.kind)"), SecretValue(bytes: $0.bytes)) })
        // Booleans first, so a failure names the item and never prints the output or the value.
        let formsSurvived = !patterns.hits(in: output).isEmpty
        #expect(!formsSurvived, "\(label): an encoded form survived")
        for item in printed where !item.gap {
            let survived = contains(output, item.bytes)
            #expect(!survived, "\(label): item \(item.index) (\(item.kind)) survived")
        }
        let lines = String(decoding: output, as: UTF8.self).replacingOccurrences(of: "\r", with: "").split(separator: "\n").map(String.init)
        for item in printed where !item.gap {
            let found = lines.filter { $0.hasPrefix("item \(item.index): ") }
            #expect(found.count == copies, "\(label): item \(item.index) lines: \(found.count)")
            for line in found {
                let rest = line.dropFirst("item \(item.index): ".count)
                // `rest` holds no value when these fail: the checks above would have failed too.
                let good = item.exact ? rest == "<redacted:\(item.kind)>" : rest.contains("<redacted:\(item.kind)>")
                #expect(good, "\(label): item \(item.index): \(rest)")
            }
        }
        for value in values {
            let marked = contains(output, Array("<redacted:\(value.kind)>".utf8))
            #expect(marked, "\(label): no marker for \(value.kind)")
        }
    }

    @Test("through pipes: every form of every secret and token, byte by byte, is masked on stdout and stderr; CMD's status comes back")
    func pipes() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let values = try await Self.values(fixture)
        let (command, printedFile) = try Self.prepare(fixture, values)
        let result = try await fixture.run(["exec", "--mask"] + Self.entities + ["--"] + command)
        #expect(result.status == 3, "\(result.stderr.prefix(500))")
        let printed = try Self.readPrinted(printedFile)
        // The raw values the child was given are the ones the forms were computed from.
        for value in values {
            #expect(printed.contains { $0.kind == value.kind && $0.bytes == value.bytes })
        }
        #expect(printed.count > 80)
        #expect(result.stdout.hasPrefix("tty: False False\n"))
        Self.check(Array(result.stdout.utf8), printed: printed, values: values, copies: 1, label: "stdout")
        Self.check(Array(result.stderr.utf8), printed: printed, values: values, copies: 1, label: "stderr")
        let audit = try await fixture.run(["audit"]).stdout
        #expect(audit.contains("\texec\tFIU-ALPHA,FIU-BETA\tok"), "\(audit)")
    }

    @Test("through a pseudo-terminal (keyward under script(1)): the child sees terminals, and nothing leaks")
    func terminal() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let values = try await Self.values(fixture)
        let (command, printedFile) = try Self.prepare(fixture, values)
        let words = [CommandRunner.binary.path, "exec", "--mask"] + Self.entities + ["--"] + command
        let line = "exec " + words.map { "'\($0.replacingOccurrences(of: "'", with: "'\\''"))'" }.joined(separator: " ")
        let result = try await CommandRunner.run(["-q", "-e", "-c", line, "/dev/null"], environment: fixture.environment,
                                                 directory: fixture.directory, executable: "script")
        #expect(result.status == 3, "\(result.stderr.prefix(500))")
        let printed = try Self.readPrinted(printedFile)
        #expect(result.stdout.replacingOccurrences(of: "\r", with: "").hasPrefix("tty: True True\n"), "\(result.stdout.prefix(40))")
        Self.check(Array(result.stdout.utf8), printed: printed, values: values, copies: 2, label: "terminal")
    }

    @Test("Ctrl-C on the terminal reaches CMD (same process group); Keyward survives it and exits with CMD's status")
    func terminalInterrupt() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let words = [CommandRunner.binary.path, "exec", "--mask", "FIU-ALPHA", "--", "sh", "-c",
                     #"trap 'echo caught; exit 7' INT; echo "ready $FIU_ALPHA_SECRET"; while :; do sleep 0.05; done"#]
        let line = "exec " + words.map { "'\($0.replacingOccurrences(of: "'", with: "'\\''"))'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["script", "-q", "-e", "-c", line, "/dev/null"]
        process.environment = fixture.environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]) { $1 }
        process.currentDirectoryURL = fixture.directory
        let out = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardInput = input
        try process.run()
        let seen = Captured()
        let reader = Thread {
            while true {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen.append(chunk)
            }
            seen.finish()
        }
        reader.start()
        for _ in 0..<600 where !seen.text.contains("ready") { try await Task.sleep(for: .milliseconds(100)) }
        // The terminal's interrupt character: script's pseudo-terminal turns it into SIGINT for
        // its foreground process group (keyward and CMD).
        input.fileHandleForWriting.write(Data([0x03]))
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { process.waitUntilExit(); continuation.resume() }
        }
        try? input.fileHandleForWriting.close()
        for _ in 0..<600 where !seen.done { try await Task.sleep(for: .milliseconds(50)) }
        #expect(process.terminationStatus == 7)
        let text = seen.text.replacingOccurrences(of: "\r", with: "")
        #expect(text.contains("ready <redacted:FIU-ALPHA/secret>\n"))
        #expect(text.hasSuffix("caught\n"), "\(text)")
    }

    @Test("base64 wrapped at 76 (base64, MIME) or 64 (PEM, openssl) columns is masked, at any column")
    func wrappedBase64() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let secret = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        let token = try await fixture.vaultGet("entities/FIU-ALPHA/token")
        // coreutils base64 (76), base64 -w 64 (PEM), and Python's MIME encoder after a prefix of
        // 0 to 5 bytes, so the value starts at other columns and alignments.
        let script = #"""
            import base64, os, sys
            for name in ("FIU_ALPHA_SECRET", "FIU_ALPHA_ACCESS_TOKEN"):
                v = os.environ[name].encode()
                for prefix in range(6):
                    blob = b"p" * prefix + v + b"suffix"
                    sys.stdout.write(base64.encodebytes(blob).decode())
                    sys.stdout.write("--\n")
                    body = base64.b64encode(blob).decode()
                    sys.stdout.write("\n".join(body[i:i + 64] for i in range(0, len(body), 64)) + "\n--\n")
            """#
        let result = try await fixture.run(["exec", "--mask", "FIU-ALPHA", "--", "python3", "-c", script])
        #expect(result.status == 0, "\(result.stderr)")
        let joined = result.stdout.replacingOccurrences(of: "\n", with: "")
        for value in [secret, token] {
            for prefix in 0..<6 {
                let blob = Data((String(repeating: "p", count: prefix) + value + "suffix").utf8).base64EncodedString()
                // The characters that carry the value alone must be gone from every copy.
                let core = String(decoding: EncodedForm.forms(of: Array(value.utf8)).filter { $0.encoding == .base64 }.last!.bytes, as: UTF8.self)
                // Booleans first: a failure must not print the output (it would hold the value).
                let coreSurvived = joined.contains(core)
                let blobSurvived = joined.contains(blob)
                #expect(!coreSurvived && !blobSurvived, "a wrapped base64 copy survived (prefix \(prefix))")
            }
        }
        let markers = result.stdout.components(separatedBy: "<redacted:FIU-ALPHA/").count - 1
        #expect(markers == 24, "one marker per copy")
    }

    @Test("a prompt that ends like the start of a secret is shown without more output (the 100 ms release)")
    func prompt() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let secret = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        let prefix = String(secret.prefix(5))
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = ["exec", "--mask", "FIU-ALPHA", "--", "sh", "-c",
                             #"printf 'password: %s' "${FIU_ALPHA_SECRET%"${FIU_ALPHA_SECRET#?????}"}"; read answer; printf '\nthanks %s\n' "$answer"; exit 4"#]
        process.environment = fixture.environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]) { $1 }
        process.currentDirectoryURL = fixture.directory
        let out = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardInput = input
        try process.run()
        let seen = Captured()
        let reader = Thread {
            while true {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen.append(chunk)
            }
            seen.finish()
        }
        reader.start()
        // Generous: the bytes come 100 ms after the prompt; this only bounds a hang.
        for _ in 0..<600 where !seen.text.hasSuffix("password: \(prefix)") {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(seen.text == "password: \(prefix)", "the held prefix was not released while the child waits")
        input.fileHandleForWriting.write(Data("yes\n".utf8))
        try input.fileHandleForWriting.close()
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { process.waitUntilExit(); continuation.resume() }
        }
        for _ in 0..<600 where !seen.done { try await Task.sleep(for: .milliseconds(50)) }
        #expect(process.terminationStatus == 4)
        #expect(seen.text == "password: \(prefix)\nthanks yes\n")
    }

    @Test("signals sent to keyward reach CMD; a CMD killed by a signal gives 128 + N; 126 and 127 as without --mask")
    func signalsAndFailures() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = ["exec", "--mask", "FIU-ALPHA", "--", "sh", "-c", "trap 'echo \"$FIU_ALPHA_SECRET\"; exit 42' TERM; echo ready; while :; do sleep 0.05; done"]
        process.environment = fixture.environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]) { $1 }
        process.currentDirectoryURL = fixture.directory
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("ready") {
            let chunk = out.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            seen.append(chunk)
        }
        kill(process.processIdentifier, SIGTERM)
        let rest = try await CommandRunner.offPool { try out.fileHandleForReading.readToEnd() ?? Data() }
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { process.waitUntilExit(); continuation.resume() }
        }
        #expect(process.terminationStatus == 42)
        #expect(String(decoding: seen + rest, as: UTF8.self) == "ready\n<redacted:FIU-ALPHA/secret>\n")

        let killed = try await fixture.run(["exec", "--mask", "FIU-ALPHA", "--", "sh", "-c", "echo \"$FIU_ALPHA_SECRET\"; kill -TERM $$"])
        #expect(killed.status == 128 + SIGTERM)
        #expect(killed.stdout == "<redacted:FIU-ALPHA/secret>\n")
        // Keyward's stdout refuses (a full disk): CMD's status still comes back, the reason is said.
        let full = try await CommandRunner.run(["-c", "exec '\(CommandRunner.binary.path)' exec --mask FIU-ALPHA -- sh -c 'echo \"$FIU_ALPHA_SECRET\"; exit 5' > /dev/full"],
                                               environment: fixture.environment, directory: fixture.directory, executable: "sh")
        #expect(full.status == 5)
        #expect(full.stderr == "keyward: warning: --mask: cannot write CMD's output to standard output: No space left on device\n")
        #expect(try await fixture.run(["exec", "--mask", "FIU-ALPHA", "--", "no-such-command-xyz"]).status == 127)
        let notExecutable = fixture.directory.appendingPathComponent("script.sh")
        try "echo hi\n".write(to: notExecutable, atomically: true, encoding: .utf8)
        #expect(try await fixture.run(["exec", "--mask", "FIU-ALPHA", "--", notExecutable.path]).status == 126)
        #expect(try await fixture.run(["exec", "--mask", "FIU-NOPE", "--", "true"]).status == 125)
        // Without --mask nothing changes: CMD replaces keyward and prints what it likes.
        let plain = try await fixture.run(["exec", "FIU-ALPHA", "--", "sh", "-c", "echo \"$FIU_ALPHA_SECRET\""])
        #expect(plain.stdout == (fixture.simulator.currentSecret(for: "FIU-ALPHA") ?? "") + "\n")
    }
}

/// What a reader thread has captured so far.
private final class Captured: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var ended = false

    func append(_ chunk: Data) { lock.withLock { data.append(chunk) } }
    func finish() { lock.withLock { ended = true } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
    var done: Bool { lock.withLock { ended } }
}

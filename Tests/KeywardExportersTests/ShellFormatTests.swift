import Foundation
import KeywardCore
import KeywardExporters
import Testing

/// Values only a single-quoting shell format carries, or that would run a command if the
/// quoting were wrong.
let shellValues: [HostileValue] = dialectValues + [
    HostileValue("invalid UTF-8", bytes: [0x61, 0xFF, 0xFE, 0x62]),
    HostileValue("a carriage return", "line1\r\nline2"),
    HostileValue("the escape itself", #"'\''"#),
    HostileValue("only quotes", "''''"),
    HostileValue("a command substitution that would touch a file", "$(touch PWNED)"),
    HostileValue("backticks that would touch a file", "`touch PWNED`"),
    HostileValue("a quote-breaking attempt", "'; touch PWNED; '"),
    HostileValue("a trailing newline run", "x\n\n\n"),
    HostileValue("every byte but NUL", bytes: Array(1...255)),
]

@Suite("shell: export lines that bash and dash eval back byte for byte")
struct ShellFormatTests {
    enum Shell: String, CaseIterable { case bash, dash }

    /// Evaluates `file` in `shell` (by `eval "$(cat FILE)"` or by `. FILE`) in `directory`,
    /// then dumps each variable as hex with od, and whether it is exported, and returns them.
    func evaluate(_ file: String, in shell: Shell, source: Bool, keys: [String], directory: String) throws -> [String: [UInt8]] {
        let load = source ? ". \"$1\"" : "eval \"$(cat \"$1\")\""
        // od prints the bytes of each value; env shows it was exported (a count of matches).
        let script = """
            cd "$2" || exit 9
            \(load)
            shift 2
            for k in "$@"; do
              eval "v=\\${$k}"
              printf '%s ' "$k"; printf '%s' "$v" | od -An -v -tx1 | tr -d ' \\n'; printf ' %s\\n' "$(env | grep -c "^$k=")"
            done
            """
        let output = try Readers.run(shell.rawValue, ["-c", script, shell.rawValue, file, directory] + keys)
        #expect(output.status == 0, "\(shell.rawValue): \(output.stderr)")
        var values: [String: [UInt8]] = [:]
        for line in String(decoding: output.stdout, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            #expect(Int(fields[2]) ?? 0 >= 1, "\(fields[0]) was not exported by \(shell.rawValue)")
            values[String(fields[0])] = try Readers.bytes(fromHex: String(fields[1]))
        }
        return values
    }

    @Test("every hostile value but NUL is read back exactly by bash and dash, by eval and by .",
          arguments: hostileValues.filter { !$0.bytes.contains(0) } + shellValues)
    func roundTrip(_ hostile: HostileValue) throws {
        let directory = try TemporaryDirectory()
        let file = directory.file("env.sh")
        let pairs = [SinkKeys.Pair(key: "HOSTILE", value: hostile.value), SinkKeys.Pair(key: "AFTER", value: SecretValue(utf8: "after"))]
        try Data(try ShellFormat.render(pairs)).write(to: URL(fileURLWithPath: file))
        for shell in Shell.allCases {
            for source in [false, true] {
                let values = try evaluate(file, in: shell, source: source, keys: ["HOSTILE", "AFTER"], directory: directory.path)
                let how = "\(shell.rawValue) \(source ? "." : "eval")"
                #expect(values["HOSTILE"] == hostile.bytes, "\(how) read \(hostile.label) differently")
                #expect(values["AFTER"] == Array("after".utf8), "\(how) lost the key after \(hostile.label)")
            }
        }
        #expect(try directory.contents() == ["env.sh"], "a command ran while reading \(hostile.label)")
    }

    @Test("the layout: a header, then export KEY='value' with ' as '\\''")
    func layout() throws {
        let rendered = try ShellFormat.render([SinkKeys.Pair(key: "A", value: SecretValue(utf8: "it's")), SinkKeys.Pair(key: "B", value: SecretValue(utf8: ""))])
        #expect(String(decoding: rendered, as: UTF8.self) == "# written by keyward; do not edit\nexport A='it'\\''s'\nexport B=''\n")
    }

    @Test("a NUL byte is refused, naming the key")
    func nul() throws {
        let error = try #require(throws: KeywardError.self) {
            try ShellFormat.render([SinkKeys.Pair(key: "BINARY", value: SecretValue(bytes: [0x61, 0, 0x62]))])
        }
        #expect(error.category == .operationFailed)
        #expect(error.message.contains("BINARY"))
    }

    @Test("keys must match [A-Za-z_][A-Za-z0-9_]*", arguments: [
        ("A", true), ("_x1", true), ("lower", true), ("", false), ("1A", false), ("A-B", false), ("A;B", false),
        ("A=B", false), ("$(id)", false), ("A B", false), ("É", false),
    ])
    func keyRule(key: String, valid: Bool) throws {
        let pairs = [SinkKeys.Pair(key: key, value: SecretValue(utf8: "v"))]
        if valid {
            _ = try ShellFormat.render(pairs)
        } else {
            let error = try #require(throws: KeywardError.self) { try ShellFormat.render(pairs) }
            #expect(error.category == .usage)
            #expect(error.message.contains("'\(key)'"))
        }
    }

    @Test("a shell sink writes a 0600 file with the default names that bash evaluates; a second write is unchanged")
    func sink() async throws {
        let directory = try TemporaryDirectory()
        let sink = try makeSink("sh", sinksYAML: """
              sh:
                type: shell
                path: app.sh
                entities: [FIU-EXAMPLE-1]
            """, directory: directory.path)
        let batch = [material(secret: "it's $(touch PWNED)\n")]
        #expect(try await sink.write(batch, context: OperationContext()) == .written)
        let values = try evaluate(directory.file("app.sh"), in: .bash, source: false,
                                  keys: ["FIU_EXAMPLE_1_SECRET", "FIU_EXAMPLE_1_ENTITY_ID"], directory: directory.path)
        #expect(values["FIU_EXAMPLE_1_SECRET"] == Array("it's $(touch PWNED)\n".utf8))
        #expect(values["FIU_EXAMPLE_1_ENTITY_ID"] == Array("FIU-EXAMPLE-1".utf8))
        var info = stat()
        #expect(lstat(directory.file("app.sh"), &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o600)
        #expect(try await sink.write(batch, context: OperationContext()) == .unchanged)
        #expect(try directory.contents() == ["app.sh"])
    }
}

@Suite("shell as an export format")
struct ShellExportFormatTests {
    @Test("ExportFormat.shell renders with ShellFormat, by its --format name")
    func exportFormat() throws {
        let pairs = [SinkKeys.Pair(key: "K", value: SecretValue(utf8: "it's"))]
        #expect(ExportFormat(rawValue: "shell") == .shell)
        #expect(try ExportFormat.shell.render(pairs: pairs) == ShellFormat.render(pairs))
    }
}

import Foundation
import KeywardCore
@testable import KeywardExporters
import Testing

/// A value that some user's secret might hold, and whether the portable dialect must refuse it.
struct HostileValue: Sendable, CustomTestStringConvertible {
    var label: String
    var bytes: [UInt8]
    /// `true` when no quoting is read back identically by python-dotenv, node, bash and dash.
    var refused: Bool

    init(_ label: String, _ text: String, refused: Bool = false) {
        self.init(label, bytes: Array(text.utf8), refused: refused)
    }

    init(_ label: String, bytes: [UInt8], refused: Bool = false) {
        self.label = label
        self.bytes = bytes
        self.refused = refused
    }

    var testDescription: String { label }
    var value: SecretValue { SecretValue(bytes: bytes) }
}

/// The same deterministic pseudo-random bytes every run (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let pem = """
    -----BEGIN PRIVATE KEY-----
    MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAq7BFUpkGp3+XQ0Wz
    -----END PRIVATE KEY-----
    """

let fourKiB: String = {
    var generator = SeededGenerator(state: 4096)
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_.~ #$%&()*;:<>?@[]^{|}!".utf8)
    return String(decoding: (0..<4096).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
}()

let hostileValues: [HostileValue] = [
    HostileValue("a space", "two words"),
    HostileValue("a hash", "a#b"),
    HostileValue("a leading space and hash", " #not a comment"),
    HostileValue("$HOME", "$HOME"),
    HostileValue("$(id)", "$(id)"),
    HostileValue("backticks", "`id`"),
    HostileValue("a single quote", "it's"),
    HostileValue("double quotes", "say \"hi\""),
    HostileValue("a lone backslash", #"C:\Users\new"#),
    HostileValue("a trailing space", "trailing "),
    HostileValue("only spaces", "   "),
    HostileValue("empty", ""),
    HostileValue("equals signs", "a=b=="),
    HostileValue("unicode", "héllo ☃ 日本 🔑"),
    HostileValue("base64", "a+b/c=="),
    HostileValue("a 3-line PEM block", pem),
    HostileValue("4 KiB", fourKiB),
    HostileValue("a newline", "line1\nline2"),
    HostileValue("a trailing newline", "value\n"),
    HostileValue("a line that looks like another key", "x\nOTHER=2"),
    HostileValue("tab and escape", "\tcolour\u{1b}[0m"),
    HostileValue("JSON", #"{"a": [1, 2]}"#),
    HostileValue("$ before braces", "$X and $Y{Z}"),
    HostileValue("${X without a close", "${X"),
    HostileValue("${a:b} (no interpolation: ':' without '-')", "${a:b}"),
    HostileValue("a single quote with double quotes' neighbours", "it's a 'test'; 100% sure"),
    HostileValue("a single quote and a literal $", "it's 5$ / $ each"),
    HostileValue("a single quote and a newline", "it's\nfine"),
    // Refused: no form carries them for every reader.
    HostileValue("${X}", "${X}", refused: true),
    HostileValue("${X $Y} (python-dotenv names may hold spaces)", "${X $Y}", refused: true),
    HostileValue("${X:-default}", "pre${X:-default}post", refused: true),
    HostileValue("${} (empty name)", "a${}b", refused: true),
    HostileValue("a single quote and a backslash", #"it's a\b"#, refused: true),
    HostileValue("two backslashes", #"\\server\share"#, refused: true),
    HostileValue("a trailing backslash", #"ends with\"#, refused: true),
    HostileValue("a single quote and a double quote", #"it's "quoted""#, refused: true),
    HostileValue("a single quote and $HOME", "it's $HOME", refused: true),
    HostileValue("a single quote and a backtick", "it's `id`", refused: true),
    HostileValue("a carriage return", "line1\r\nline2", refused: true),
    HostileValue("a NUL byte", bytes: [0x61, 0x00, 0x62], refused: true),
    HostileValue("invalid UTF-8", bytes: [0x61, 0xFF, 0xFE, 0x62], refused: true),
]

@Suite("dotenv, portable dialect: what python-dotenv, node, bash and dash read back")
struct DotenvFormatTests {
    @Test("each hostile value is read back exactly by every reader, or refused naming the key", arguments: hostileValues)
    func roundTrip(_ hostile: HostileValue) throws {
        let pairs = [SinkKeys.Pair(key: "HOSTILE", value: hostile.value), SinkKeys.Pair(key: "AFTER", value: SecretValue(utf8: "after"))]
        if hostile.refused {
            let error = try #require(throws: KeywardError.self) { try DotenvFormat.render(pairs, dialect: .portable) }
            #expect(error.category == .operationFailed)
            #expect(error.message.contains("HOSTILE"))
            return
        }
        let directory = try TemporaryDirectory()
        let file = directory.file("app.env")
        try Data(try DotenvFormat.render(pairs, dialect: .portable)).write(to: URL(fileURLWithPath: file))
        for reader in Readers.EnvReader.allCases {
            let values = try Readers.read(file, keys: ["HOSTILE", "AFTER"], with: reader)
            #expect(values["HOSTILE"] == hostile.bytes, "\(reader.rawValue) read \(hostile.label) differently")
            // The value must end where it should: the next line is still its own key.
            #expect(values["AFTER"] == Array("after".utf8), "\(reader.rawValue) lost the key after \(hostile.label)")
        }
    }

    @Test("each refused value really defeats the plain single- and double-quoted forms",
          arguments: hostileValues.filter(\.refused))
    func refusalsAreNecessary(_ hostile: HostileValue) throws {
        let directory = try TemporaryDirectory()
        let escaped = hostile.bytes.flatMap { byte -> [UInt8] in
            [UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "$"), UInt8(ascii: "`")].contains(byte) ? [UInt8(ascii: "\\"), byte] : [byte]
        }
        let forms: [(String, [UInt8])] = [
            ("single quotes", [UInt8(ascii: "'")] + hostile.bytes + [UInt8(ascii: "'")]),
            ("double quotes", [UInt8(ascii: "\"")] + hostile.bytes + [UInt8(ascii: "\"")]),
            ("double quotes with sh escapes", [UInt8(ascii: "\"")] + escaped + [UInt8(ascii: "\"")]),
        ]
        for (form, quoted) in forms {
            let file = directory.file("\(form.replacingOccurrences(of: " ", with: "-")).env")
            try Data(Array("HOSTILE=".utf8) + quoted + Array("\nAFTER='after'\n".utf8)).write(to: URL(fileURLWithPath: file))
            var exact: [String] = []
            for reader in Readers.EnvReader.allCases {
                let values = try? Readers.read(file, keys: ["HOSTILE", "AFTER"], with: reader)
                if values?["HOSTILE"] == hostile.bytes, values?["AFTER"] == Array("after".utf8) { exact.append(reader.rawValue) }
            }
            #expect(exact.count < Readers.EnvReader.allCases.count, "\(form) would carry \(hostile.label) for every reader")
        }
    }

    @Test("every accepted value of a seeded random mix survives in one file, with no bleed between lines")
    func randomMix() throws {
        var generator = SeededGenerator(state: 2024)
        // Printable ASCII and controls (no NUL, no CR), some UTF-8, and the sequences that matter.
        var alphabet = (1...127).filter { $0 != 13 }.map { String(UnicodeScalar(UInt8($0))) }
        alphabet += ["é", "☃", "${", "}", "\\\\", "' #", "$ ", "\n"]
        var pairs: [SinkKeys.Pair] = []
        var expected: [String: [UInt8]] = [:]
        for index in 0..<300 {
            let length = Int.random(in: 0...24, using: &generator)
            let text = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }.joined()
            let pair = SinkKeys.Pair(key: "K\(index)", value: SecretValue(utf8: text))
            // Refusals are checked by the table; here, what is accepted must be exact.
            guard (try? DotenvFormat.render([pair])) != nil else { continue }
            pairs.append(pair)
            expected[pair.key] = Array(text.utf8)
        }
        #expect(pairs.count > 200)
        let directory = try TemporaryDirectory()
        let file = directory.file("mix.env")
        try Data(try DotenvFormat.render(pairs)).write(to: URL(fileURLWithPath: file))
        for reader in Readers.EnvReader.allCases {
            let values = try Readers.read(file, keys: pairs.map(\.key), with: reader)
            let wrong = expected.keys.filter { values[$0] != expected[$0] }.sorted()
            #expect(wrong.isEmpty, "\(reader.rawValue) read \(wrong.count) values differently: \(wrong.prefix(10))")
        }
    }

    @Test("the file starts with the header, then KEY=value lines in the given order")
    func layout() throws {
        let pairs = [
            SinkKeys.Pair(key: "B_FIRST", value: SecretValue(utf8: "plain")),
            SinkKeys.Pair(key: "A_SECOND", value: SecretValue(utf8: "it's")),
            SinkKeys.Pair(key: "EMPTY", value: SecretValue(utf8: "")),
        ]
        let text = String(decoding: try DotenvFormat.render(pairs), as: UTF8.self)
        #expect(text == "# written by keyward; do not edit\nB_FIRST='plain'\nA_SECOND=\"it's\"\nEMPTY=''\n")
        #expect(String(decoding: try DotenvFormat.render([]), as: UTF8.self) == "# written by keyward; do not edit\n")
    }

    @Test("keys must match [A-Za-z_][A-Za-z0-9_]*", arguments: [
        ("A", true), ("_", true), ("_x1", true), ("FIU_EXAMPLE_1_SECRET", true), ("lower_case", true),
        ("", false), ("1A", false), ("A-B", false), ("A B", false), ("A=B", false), ("A.B", false),
        ("É", false), ("KEY\n", false), ("export K", false),
    ])
    func keyRule(key: String, valid: Bool) throws {
        #expect(DotenvFormat.isValidKey(key) == valid)
        let pairs = [SinkKeys.Pair(key: key, value: SecretValue(utf8: "v"))]
        if valid {
            _ = try DotenvFormat.render(pairs)
        } else {
            let error = try #require(throws: KeywardError.self) { try DotenvFormat.render(pairs) }
            #expect(error.category == .usage)
            #expect(error.message.contains("'\(key)'"))
        }
    }

    @Test("python-dotenv's interpolation pattern is recognised exactly", arguments: [
        ("${X}", true), ("${}", true), ("${X:-}", true), ("${X:-a b}", true), ("a${X}b", true), ("$${X}", true),
        ("${X", false), ("$X}", false), ("${a:b}", false), ("${a:b}c}", false), ("$ {X}", false), ("{X}", false), ("${X:", false),
        ("${a:b} ${c}", true),
    ])
    func interpolationPattern(text: String, matches: Bool) {
        #expect(PortableQuoting.containsInterpolation(Array(text.utf8)) == matches)
    }
}

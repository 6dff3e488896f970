import Foundation
import KeywardCore
@testable import KeywardExporters
import Testing

/// Values that matter to one dialect more than to the portable one.
let dialectValues: [HostileValue] = [
    HostileValue("leading spaces", "  lead"),
    HostileValue("a leading tab", "\tlead"),
    HostileValue("trailing tab", "trail\t"),
    HostileValue("a carriage return inside", "a\rb"),
    HostileValue("a trailing carriage return", "value\r"),
    HostileValue("a byte order mark first", "\u{FEFF}x"),
    HostileValue("quotes around", #""quoted""#),
    HostileValue("single quotes around", "'single'"),
    HostileValue("a semicolon first", ";not a comment"),
    HostileValue("a hash first", "#not a comment"),
    HostileValue("backslash n, literally", #"a\nb"#),
    HostileValue("backslash before newline", "it's a\\\nb"),
    HostileValue("a trailing backslash", #"ends with\"#),
    HostileValue("a single quote, $, backtick, backslash and double quote", #"it's $HOME `id` \ "x""#),
    HostileValue("U+FDD0 (noncharacter)", bytes: [0x61, 0xEF, 0xB7, 0x90, 0x62]),
    HostileValue("U+FFFE (noncharacter)", bytes: [0x61, 0xEF, 0xBF, 0xBE]),
    HostileValue("U+10FFFF (noncharacter)", bytes: [0x61, 0xF4, 0x8F, 0xBF, 0xBF]),
    HostileValue("U+FFFD (a character)", "a\u{FFFD}"),
    HostileValue("controls", "\u{1}\u{7}\u{7f}\u{1b}"),
]

let allDialectValues = hostileValues + dialectValues

/// The documented reasons each dialect refuses a value, restated from the rules (not from the
/// code under test), so the table checks the implementation against them.
func dockerRefuses(_ bytes: [UInt8]) -> Bool {
    bytes.contains(0) || bytes.contains(UInt8(ascii: "\n")) || String(validating: bytes, as: UTF8.self) == nil
        || bytes.last == UInt8(ascii: "\r")
}

func systemdRefuses(_ bytes: [UInt8]) -> Bool {
    guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else { return true }
    return text.unicodeScalars.contains { $0.value == 0xFEFF || (0xFDD0...0xFDEF).contains($0.value) || $0.value & 0xFFFE == 0xFFFE }
}

@Suite("dotenv, docker dialect: what docker run --env-file reads, through the real docker CLI")
struct DockerDialectTests {
    @Test("each hostile value is read back exactly by docker-env-read, or refused naming the key", arguments: allDialectValues)
    func roundTrip(_ hostile: HostileValue) throws {
        let pairs = [SinkKeys.Pair(key: "HOSTILE", value: hostile.value), SinkKeys.Pair(key: "AFTER", value: SecretValue(utf8: "after"))]
        if dockerRefuses(hostile.bytes) {
            let error = try #require(throws: KeywardError.self) { try DotenvFormat.render(pairs, dialect: .docker) }
            #expect(error.category == .operationFailed)
            #expect(error.message.contains("HOSTILE"))
            #expect(error.message.contains("(docker)"))
            return
        }
        let directory = try TemporaryDirectory()
        let file = directory.file("app.env")
        try Data(try DotenvFormat.render(pairs, dialect: .docker)).write(to: URL(fileURLWithPath: file))
        let values = try #require(try Readers.readDocker(file), "docker refused the file for \(hostile.label)")
        #expect(values["HOSTILE"] == hostile.bytes)
        #expect(values["AFTER"] == Array("after".utf8))
        #expect(values.count == 2, "docker read extra variables: \(values.keys.sorted())")
    }

    @Test("each refusal but NUL is necessary: the bare line is not read back by docker",
          arguments: allDialectValues.filter { dockerRefuses($0.bytes) && !$0.bytes.contains(0) })
    func refusalsAreNecessary(_ hostile: HostileValue) throws {
        let directory = try TemporaryDirectory()
        let file = directory.file("bare.env")
        try Data(Array("HOSTILE=".utf8) + hostile.bytes + Array("\nAFTER=after\n".utf8)).write(to: URL(fileURLWithPath: file))
        let values = try Readers.readDocker(file)
        #expect(values?["HOSTILE"] != hostile.bytes || values?["AFTER"] != Array("after".utf8))
    }

    @Test("the longest line docker reads is written and read back; one byte more is refused")
    func lineLimit() throws {
        let longest = DockerEnvQuoting.maximumLineLength - "HOSTILE=".utf8.count
        let directory = try TemporaryDirectory()
        for (length, fits) in [(longest, true), (longest + 1, false)] {
            let value = [UInt8](repeating: UInt8(ascii: "x"), count: length)
            let pairs = [SinkKeys.Pair(key: "HOSTILE", value: SecretValue(bytes: value))]
            let file = directory.file("long-\(length).env")
            if fits {
                try Data(try DotenvFormat.render(pairs, dialect: .docker)).write(to: URL(fileURLWithPath: file))
                #expect(try Readers.readDocker(file)?["HOSTILE"] == value)
            } else {
                let error = try #require(throws: KeywardError.self) { try DotenvFormat.render(pairs, dialect: .docker) }
                #expect(error.message.contains("HOSTILE"))
                // And docker really refuses that line.
                try Data(Array("# header\nHOSTILE=".utf8) + value + [UInt8(ascii: "\n")]).write(to: URL(fileURLWithPath: file))
                #expect(try Readers.readDocker(file) == nil)
            }
        }
    }

    @Test("a dotenv sink with dialect docker writes what docker reads, with the default names")
    func sink() async throws {
        let directory = try TemporaryDirectory()
        let sink = try makeSink("d", sinksYAML: """
              d:
                type: dotenv
                path: app.env
                entities: [FIU-EXAMPLE-1]
                dialect: docker
            """, directory: directory.path)
        #expect(try await sink.write([material(secret: #" it's "$HOME" #x "#)], context: OperationContext()) == .written)
        let values = try #require(try Readers.readDocker(directory.file("app.env")))
        #expect(values["FIU_EXAMPLE_1_SECRET"] == Array(#" it's "$HOME" #x "#.utf8))
        #expect(values["FIU_EXAMPLE_1_ACCESS_TOKEN"] == Array("eyJhbGciOi.payload.sig".utf8))
    }
}

/// A reader of systemd `EnvironmentFile=` files written from the rules in systemd.exec(5),
/// "EnvironmentFile=", and from nothing else (systemd itself is not run by these tests):
///
/// 1. The file must be UTF-8; valid characters are Unicode scalar values other than
///    noncharacters, U+0000 and U+FEFF; otherwise the file is unreadable.
/// 2. Assignments are separated by newlines. Empty lines, lines without `=`, and lines starting
///    with `;` or `#` are ignored.
/// 3. The key is the text before the first `=` (surrounding spaces and tabs dropped).
/// 4. Unquoted value: leading and trailing whitespace (space, tab, carriage return) is dropped,
///    interior whitespace and quotes are kept; a backslash keeps the character after it; a
///    backslash ending the line continues the value on the next line, the newline dropped.
/// 5. `'`-quoted value: may span lines; every character but `'` verbatim; no escapes.
/// 6. `"`-quoted value: may span lines; a backslash before one of `` "\`$ `` keeps that
///    character; a backslash before a newline is a continuation (both dropped); a backslash
///    before anything else is kept along with that character.
/// 7. Whitespace outside the quotes is discarded. Anything else after a closing quote is not
///    described by the page, so this reader refuses it (Keyward never writes it).
/// 8. A later assignment of the same key replaces an earlier one.
enum SystemdReference {
    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    static func read(_ file: [UInt8]) throws -> [String: [UInt8]] {
        guard !file.contains(0), let text = String(validating: file, as: UTF8.self) else {
            throw Unreadable(description: "rule 1: not UTF-8 or holds NUL")
        }
        if text.unicodeScalars.contains(where: { $0.value == 0xFEFF || (0xFDD0...0xFDEF).contains($0.value) || $0.value & 0xFFFE == 0xFFFE }) {
            throw Unreadable(description: "rule 1: a character that is not valid")
        }
        let newline = UInt8(ascii: "\n"), backslash = UInt8(ascii: "\\")
        let isSpace: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }
        var result: [String: [UInt8]] = [:]
        var index = 0
        func lineEnd(from start: Int) -> Int { file[start...].firstIndex(of: newline) ?? file.count }
        while index < file.count {
            let end = lineEnd(from: index)
            let line = Array(file[index..<end])
            let content = line.drop(while: isSpace)
            guard let first = content.first, first != UInt8(ascii: "#"), first != UInt8(ascii: ";"),
                  let equals = line.firstIndex(of: UInt8(ascii: "=")) else {
                index = end + 1
                continue
            }
            let key = String(decoding: line[..<equals].drop(while: isSpace).reversed().drop(while: isSpace).reversed(), as: UTF8.self)
            var cursor = index + equals + 1
            while cursor < file.count, file[cursor] != newline, isSpace(file[cursor]) { cursor += 1 }
            var value: [UInt8] = []
            let quote = cursor < file.count ? file[cursor] : newline
            if quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") {
                cursor += 1
                var closed = false
                while cursor < file.count {
                    let byte = file[cursor]
                    if byte == quote { closed = true; cursor += 1; break }
                    if quote == UInt8(ascii: "\""), byte == backslash, cursor + 1 < file.count {
                        let next = file[cursor + 1]
                        if Set("\"\\`$".utf8).contains(next) { value.append(next) }
                        else if next != newline { value += [byte, next] }
                        cursor += 2
                        continue
                    }
                    value.append(byte)
                    cursor += 1
                }
                guard closed else { throw Unreadable(description: "rule 5/6: quote not closed for \(key)") }
                let rest = lineEnd(from: cursor)
                guard file[cursor..<rest].allSatisfy(isSpace) else {
                    throw Unreadable(description: "rule 7: text after the closing quote for \(key)")
                }
                index = rest + 1
            } else {
                while cursor < file.count, file[cursor] != newline {
                    if file[cursor] == backslash {
                        if cursor + 1 < file.count, file[cursor + 1] != newline {
                            value.append(file[cursor + 1])
                        }
                        // A backslash before the newline skips it: the value goes on.
                        cursor += 2
                        continue
                    }
                    value.append(file[cursor])
                    cursor += 1
                }
                while let last = value.last, isSpace(last) { value.removeLast() }
                index = cursor + 1
            }
            result[key] = value
        }
        return result
    }
}

@Suite("dotenv, systemd dialect: what EnvironmentFile= reads, by systemd.exec(5)'s rules")
struct SystemdDialectTests {
    @Test("the reference reader follows the documented rules", arguments: [
        ("A=plain\n", "plain"),
        ("A=  interior  space \t\r\n", "interior  space"),
        ("A= it's \"kept\"\n", "it's \"kept\""),
        ("A=back\\\\slash\n", "back\\slash"),
        ("A=a\\qb\n", "aqb"),
        ("A=con\\\ntinued\n", "continued"),
        ("A='  single $HOME \\n\n  line'  \n", "  single $HOME \\n\n  line"),
        ("A=\"d \\\" \\\\ \\` \\$ \\q\"\n", "d \" \\ ` $ \\q"),
        ("A=\"con\\\ntinued\nnext\"\n", "continued\nnext"),
        ("#A=comment\n;A=comment\nno separator\n\nA=last\n", "last"),
        ("A=first\nA=second\n", "second"),
        ("  A  =  x\n", "x"),
    ])
    func referenceReader(file: String, expected: String) throws {
        #expect(try SystemdReference.read(Array(file.utf8))["A"] == Array(expected.utf8))
    }

    @Test("each hostile value is read back exactly by the reference reader, or refused naming the key",
          arguments: allDialectValues)
    func roundTrip(_ hostile: HostileValue) throws {
        let pairs = [SinkKeys.Pair(key: "HOSTILE", value: hostile.value), SinkKeys.Pair(key: "AFTER", value: SecretValue(utf8: "after"))]
        if systemdRefuses(hostile.bytes) {
            let error = try #require(throws: KeywardError.self) { try DotenvFormat.render(pairs, dialect: .systemd) }
            #expect(error.category == .operationFailed)
            #expect(error.message.contains("HOSTILE"))
            #expect(error.message.contains("(systemd)"))
            // The rule is real: a file holding the value cannot be read at all.
            #expect(throws: SystemdReference.Unreadable.self) {
                try SystemdReference.read(Array("HOSTILE='".utf8) + hostile.bytes + Array("'\n".utf8))
            }
            return
        }
        let rendered = try DotenvFormat.render(pairs, dialect: .systemd)
        let values = try SystemdReference.read(rendered)
        #expect(values["HOSTILE"] == hostile.bytes)
        #expect(values["AFTER"] == Array("after".utf8))
        #expect(values.count == 2)
    }

    @Test("the forms chosen: single quotes unless the value holds one; then double quotes with escapes", arguments: [
        ("plain", "'plain'"),
        ("$HOME \\ \"x\" `id`", "'$HOME \\ \"x\" `id`'"),
        ("it's $HOME \\ \"x\" `id`", "\"it's \\$HOME \\\\ \\\"x\\\" \\`id\\`\""),
        ("it's\nfine", "\"it's\nfine\""),
        ("", "''"),
    ])
    func forms(value: String, line: String) throws {
        let rendered = try DotenvFormat.render([SinkKeys.Pair(key: "K", value: SecretValue(utf8: value))], dialect: .systemd)
        #expect(String(decoding: rendered, as: UTF8.self) == "\(DotenvFormat.header)\nK=\(line)\n")
    }

    @Test("a seeded random mix of accepted values survives in one file")
    func randomMix() throws {
        var generator = SeededGenerator(state: 77)
        let alphabet = (1...127).map { String(UnicodeScalar(UInt8($0))) } + ["é", "☃", "'", "\"", "\\", "\\\n", "$", "`", "#", ";"]
        var pairs: [SinkKeys.Pair] = []
        for index in 0..<300 {
            let text = (0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }.joined()
            pairs.append(SinkKeys.Pair(key: "K\(index)", value: SecretValue(utf8: text)))
        }
        let values = try SystemdReference.read(try DotenvFormat.render(pairs, dialect: .systemd))
        for pair in pairs {
            #expect(values[pair.key] == pair.value.revealBytes(), "\(pair.key)")
        }
    }
}

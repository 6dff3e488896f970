import Foundation
import KeywardCore
import KeywardExporters
import Testing

@Suite("json: an ordered object that python's json.load reads back exactly")
struct JSONFormatTests {
    @Test("every valid UTF-8 hostile value round-trips through json.load, keys in order", arguments: [false, true])
    func roundTrip(pretty: Bool) throws {
        var values = hostileValues.filter { String(validating: $0.bytes, as: UTF8.self) != nil }.map(\.bytes)
        // JSON carries what dotenv cannot: NUL, CR, controls, the line separators.
        values += [[0x00], Array("\u{7f}\u{1}\u{1f}\u{8}\u{c}\r\n\t".utf8), Array("a\u{2028}b\u{2029}c".utf8), Array(#"\"/\\"#.utf8)]
        let pairs = values.enumerated().map { SinkKeys.Pair(key: "Z_KEY_\(values.count - $0.offset)", value: SecretValue(bytes: $0.element)) }
            + [SinkKeys.Pair(key: "quote\"and\\key", value: SecretValue(utf8: "k"))]
        let directory = try TemporaryDirectory()
        let file = directory.file("out.json")
        let rendered = try JSONFormat.render(pairs, pretty: pretty)
        #expect(rendered.last == UInt8(ascii: "\n"))
        try Data(rendered).write(to: URL(fileURLWithPath: file))
        let read = try Readers.readJSON(file)
        #expect(read.map(\.key) == pairs.map(\.key))
        for (pair, readPair) in zip(pairs, read) {
            #expect(readPair.value == pair.value.revealBytes(), "value of \(pair.key)")
        }
    }

    @Test("compact and pretty layouts")
    func layout() throws {
        let pairs = [SinkKeys.Pair(key: "B", value: SecretValue(utf8: "1")), SinkKeys.Pair(key: "A", value: SecretValue(utf8: "line\n\"q\""))]
        #expect(String(decoding: try JSONFormat.render(pairs, pretty: false), as: UTF8.self) == #"{"B":"1","A":"line\n\"q\""}"# + "\n")
        #expect(String(decoding: try JSONFormat.render(pairs, pretty: true), as: UTF8.self) == "{\n  \"B\": \"1\",\n  \"A\": \"line\\n\\\"q\\\"\"\n}\n")
        #expect(String(decoding: try JSONFormat.render([], pretty: true), as: UTF8.self) == "{}\n")
    }

    @Test("a value that is not UTF-8 is refused, naming the key")
    func invalidUTF8() throws {
        let pairs = [SinkKeys.Pair(key: "BINARY", value: SecretValue(bytes: [0x61, 0xC3, 0x28]))]
        let error = try #require(throws: KeywardError.self) { try JSONFormat.render(pairs, pretty: false) }
        #expect(error.message.contains("BINARY"))
        #expect(error.category == .operationFailed)
    }

    @Test("ExportFormat renders with the sink formats, by its --format name")
    func exportFormat() throws {
        let pairs = [SinkKeys.Pair(key: "K", value: SecretValue(utf8: "v"))]
        #expect(ExportFormat(rawValue: "dotenv") == .dotenv)
        #expect(ExportFormat(rawValue: "json") == .json)
        #expect(try ExportFormat.dotenv.render(pairs: pairs) == DotenvFormat.render(pairs, dialect: .portable))
        #expect(try ExportFormat.json.render(pairs: pairs, pretty: true) == JSONFormat.render(pairs, pretty: true))
        #expect(try ExportFormat.json.render(pairs: pairs) == Array("{\"K\":\"v\"}\n".utf8))
    }
}

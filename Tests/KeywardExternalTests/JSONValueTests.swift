import Foundation
import KeywardExternal
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    @Test("a request object survives encoding and decoding")
    func roundTrip() throws {
        let value: JSONValue = .object(["protocol": .integer(1), "operation": .string("describe"), "list": .array([.bool(true), .null])])
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
    }

    /// Every ASCII character (the 32 controls included), quotes, backslashes, `/`, non-ASCII
    /// UTF-8 and a 64 KiB value.
    static let hostile: JSONValue = .object([
        "ascii": .string(String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self)),
        "quotes \"and\" \\": .string("say \"hi\" \\ back\\slash / slash \\u0041"),
        "unicode": .string("émoji 🔑, 中文, \u{2028}\u{2029}, \u{7F}"),
        "big": .string(String(repeating: "0123456789abcdef", count: 4_096)),
        "numbers": .array([.integer(0), .integer(-42), .integer(Int.max), .number(1.5), .number(-2.25e-5), .bool(false), .null]),
        "nested": .object(["": .array([]), "b": .object([:])]),
    ])

    @Test("the serializer's text decodes to the same value with Foundation's decoder")
    func serializerRoundTrip() throws {
        let text = Self.hostile.serialized()
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(text)) == Self.hostile)
    }

    @Test("the serializer's text is read back exactly by Python's json module, an independent reader")
    func serializerReadByPython() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-json-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("value.json")
        try Data(Self.hostile.serialized()).write(to: input)
        // Python re-encodes it with sorted keys and ASCII escapes; Foundation decodes that.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import json,sys; sys.stdout.write(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))", input.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == Self.hostile)
    }

    @Test("control characters are escaped, everything else is written as is, keys in sorted order")
    func serializerBytes() {
        let value: JSONValue = .object(["b": .string("\u{0}\u{1F}\n\t\"\\/é"), "a": .integer(1)])
        #expect(String(decoding: value.serialized(), as: UTF8.self) == #"{"a":1,"b":"\u0000\u001f\n\t\"\\/é"}"#)
    }
}

import Foundation
import KeywardCore
import Testing

/// What Fuzz/fuzz-configuration found (issue 16, item 1): the same file gave its duplicate-key
/// problem on one line on one run and on another line on the next.
@Suite("keyward.yaml: duplicate keys reported the same way every time")
struct ConfigurationDuplicateKeyTests {
    let loader = ConfigurationLoader(registry: recordingRegistry())

    /// Two keys that are mappings, each twice: Yams orders `{k: 1}` and `{k: 2}` as equal and
    /// picked the one to name by hash order (line 2 or 4).
    static let complexKeys = "version: 1\n? {k: 1}\n: x\n? {k: 2}\n: x\n? {k: 1}\n: y\n? {k: 2}\n: y\n"

    func problems(_ yaml: String) throws -> [ConfigurationError.Problem] {
        try #require(throws: ConfigurationError.self) { try loader.parse(yaml: yaml, file: "keyward.yaml", directory: "/srv") }.problems
    }

    @Test("duplicated keys that are mappings: one problem, without a line, the same on every load")
    func complexDuplicateKeys() throws {
        let first = try problems(Self.complexKeys)
        #expect(first == [.init(keyPath: "", line: nil, column: nil,
                                message: "not valid YAML: a mapping holds the same key twice, and the key is not plain text (keyward.yaml's keys are plain text)")])
        // Each load builds new dictionaries, whose order Swift seeds per instance.
        for _ in 0..<20 {
            #expect(try problems(Self.complexKeys) == first)
        }
    }

    @Test("a duplicated plain key keeps its line and name")
    func plainDuplicateKey() throws {
        let found = try problems("version: 1\nvault:\n  retention: 3\n  retention: 4\n")
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "retention")
        #expect(found.first?.line == 3)
        #expect(found.first?.message == "duplicate key in this mapping")
    }
}

import Foundation
import KeywardCore
import Testing

@Suite("Multi-pattern matcher and encoded forms")
struct LeakPatternTests {
    /// A deterministic generator, so a failure can be replayed (SplitMix64).
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func bytes(_ count: Int, _ rng: inout Seeded, alphabet: [UInt8]? = nil) -> [UInt8] {
        (0..<count).map { _ in alphabet.map { $0.randomElement(using: &rng)! } ?? UInt8.random(in: 0...255, using: &rng) }
    }

    static func naive(_ patterns: [[UInt8]], in text: [UInt8]) -> Set<MultiPatternMatcher.Match> {
        var result: Set<MultiPatternMatcher.Match> = []
        for (index, pattern) in patterns.enumerated() where pattern.count >= 8 && pattern.count <= text.count {
            for start in 0...(text.count - pattern.count) where text[start..<(start + pattern.count)].elementsEqual(pattern) {
                result.insert(.init(pattern: index, start: start, end: start + pattern.count))
            }
        }
        return result
    }

    @Test("finds exactly what a naive search finds, over random patterns and planted text (strides 1 to 4)",
          arguments: [(1, 8), (2, 8), (3, 9), (4, 10), (5, 11), (6, 30)])
    func agreesWithNaiveSearch(seed: UInt64, shortest: Int) {
        var rng = Seeded(state: seed)
        let alphabet = Array("abcab".utf8)  // a small alphabet makes overlaps and near-misses common
        var patterns = (0..<200).map { _ in Self.bytes(Int.random(in: shortest...(shortest + 16), using: &rng), &rng, alphabet: alphabet) }
        patterns.append(Array("short".utf8))  // under the minimum: never found
        var text = Self.bytes(4000, &rng, alphabet: alphabet)
        for _ in 0..<50 {
            let pattern = patterns.randomElement(using: &rng)!
            let at = Int.random(in: 0...(text.count - pattern.count), using: &rng)
            text.replaceSubrange(at..<(at + pattern.count), with: pattern)
        }
        text += Array("short".utf8)
        let matcher = MultiPatternMatcher(patterns: patterns)
        let found = matcher.matches(in: text)
        #expect(Set(found) == Self.naive(patterns, in: text))
        #expect(found.count == Set(found).count)
        #expect(found.map(\.start) == found.map(\.start).sorted())
    }

    @Test("base64 and base64url forms are found at every alignment inside a longer blob")
    func base64Alignments() throws {
        var rng = Seeded(state: 7)
        for length in [8, 9, 10, 11, 31, 64] {
            let value = Self.bytes(length, &rng)
            let set = LeakPatternSet(values: [(.init(name: "entities/E/secret"), SecretValue(bytes: value))])
            for prefix in 0..<6 {
                for suffix in 0..<4 {
                    let blob = Self.bytes(prefix, &rng) + value + Self.bytes(suffix, &rng)
                    for urlSafe in [false, true] {
                        var text = Data(blob).base64EncodedString()
                        if urlSafe { text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_") }
                        let hits = set.hits(in: Array(("x=" + text + "\n").utf8))
                        let hit = try #require(hits.first, "length \(length) prefix \(prefix) suffix \(suffix)")
                        #expect(hit.encoding == .base64 || hit.encoding == .base64url)
                        #expect(hit.source.name == "entities/E/secret")
                    }
                }
            }
        }
    }

    @Test("percent, form and JSON forms are found and named", arguments: [
        ("päss/wörd with space&\"quote\"", LeakEncoding.percent),
        ("päss/wörd with space&\"quote\"", LeakEncoding.form),
        ("päss/wörd with space&\"quote\"", LeakEncoding.json),
    ])
    func textEncodings(value: String, encoding: LeakEncoding) throws {
        let forms = EncodedForm.forms(of: Array(value.utf8)).filter { $0.encoding == encoding }
        #expect(!forms.isEmpty)
        let set = LeakPatternSet(values: [(.init(name: "providers/iam/password"), SecretValue(utf8: value))])
        for form in forms {
            let hits = set.hits(in: Array("prefix ".utf8) + form.bytes + Array(" suffix".utf8))
            #expect(hits.map(\.encoding) == [encoding])
            #expect(hits.first?.start == 7)
        }
        // The spellings other tools produce.
        let python = try #require(String(data: try JSONEncoder().encode([value]), encoding: .utf8))
        #expect(!set.hits(in: Array(python.utf8)).isEmpty)
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let percent = try #require(value.addingPercentEncoding(withAllowedCharacters: allowed))
        #expect(set.hits(in: Array(percent.utf8)).map(\.encoding) == [.percent])
        let lowerHex = percent.replacingOccurrences(of: "%[0-9A-F]{2}", with: "$0", options: .regularExpression)
            .split(separator: "%", omittingEmptySubsequences: false).enumerated()
            .map { $0.offset == 0 ? String($0.element) : $0.element.prefix(2).lowercased() + $0.element.dropFirst(2) }.joined(separator: "%")
        #expect(lowerHex != percent)
        #expect(set.hits(in: Array(lowerHex.utf8)).map(\.encoding) == [.percent])
    }

    @Test("a value differing by one byte is not found")
    func nearMisses() {
        var rng = Seeded(state: 11)
        let values = (0..<100).map { _ in Self.bytes(Int.random(in: 8...40, using: &rng), &rng) }
        let set = LeakPatternSet(values: values.enumerated().map { (.init(name: "v\($0.offset)"), SecretValue(bytes: $0.element)) })
        for value in values {
            var missed = value
            let at = Int.random(in: 0..<value.count, using: &rng)
            missed[at] ^= 0x01
            #expect(set.hits(in: missed).filter { $0.encoding == .raw }.isEmpty)
            #expect(set.hits(in: value).first?.encoding == .raw)
        }
    }

    @Test("values shorter than 8 bytes are listed as skipped, duplicates searched once")
    func shortAndDuplicate() {
        let set = LeakPatternSet(values: [
            (.init(name: "a"), SecretValue(utf8: "1234567")),
            (.init(name: "b"), SecretValue(utf8: "12345678")),
            (.init(name: "c"), SecretValue(utf8: "12345678")),
        ])
        #expect(set.skipped.map(\.name) == ["a"])
        #expect(set.sources.map(\.name) == ["b"])
        #expect(set.hits(in: Array("..12345678..".utf8)).map(\.source.name) == ["b"])
    }

    @Test("the held-back suffix is the longest proper prefix of a pattern")
    func pendingPrefix() {
        let matcher = MultiPatternMatcher(patterns: [Array("secretvalue1".utf8), Array("another-one".utf8)])
        func pending(_ text: String) -> Int { Array(text.utf8).withUnsafeBytes { matcher.pendingPrefixLength(of: $0) } }
        #expect(pending("hello secretval") == 9)
        #expect(pending("hello anoth") == 5)
        #expect(pending("hello") == 0)
        #expect(pending("secretvalue1") == 0)
        #expect(pending("xsecretvalue") == 11)
    }

    @Test("JSON as Jackson and .NET write it (upper-case \\u hex, <>& escaped) and Go's mixed with Python's is found")
    func jsonSpellings() {
        let set = LeakPatternSet(values: [(.init(name: "entities/E/secret"), SecretValue(utf8: "café<tag>&more/x"))])
        // Spelled by hand, not by EncodedForm, so the test checks the list, not itself.
        for text in [#"caf\u00E9\u003Ctag\u003E\u0026more/x"#, #"caf\u00e9\u003ctag\u003e\u0026more\/x"#, #"caf\u00E9<tag>&more\/x"#] {
            #expect(set.hits(in: Array(("{\"v\":\"" + text + "\"}").utf8)).map(\.encoding) == [.json], "\(text)")
        }
    }

    @Test("a repetitive value in repetitive text is reported once per non-overlapping occurrence")
    func repetitiveValue() {
        let set = LeakPatternSet(values: [(.init(name: "entities/E/secret"), SecretValue(utf8: String(repeating: "a", count: 16)))])
        let findings = SecretScanner(patterns: set).scan(bytes: Array(String(repeating: "a", count: 64).utf8), path: "f")
        #expect(findings.map(\.offset) == [0, 16, 32, 48])
    }

    @Test("control characters in a path are escaped in the text form, so a name cannot forge a line")
    func pathEscaping() {
        let set = LeakPatternSet(values: [(.init(name: "entities/E/secret", version: "v1", fingerprint: "1a2b3c4d"), SecretValue(utf8: "secretvalue1"))])
        let finding = SecretScanner(patterns: set).scan(bytes: Array("x\nsecretvalue1".utf8), path: "a\nb:1:1: fake\tx")
        #expect(finding.map(\.summary) == [#"a\nb:1:1: fake\tx:2:1: entities/E/secret v1 (fingerprint 1a2b3c4d, raw)"#])
    }
}

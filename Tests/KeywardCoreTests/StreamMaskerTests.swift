import Foundation
import KeywardCore
import Testing

@Suite("Streaming masker (exec --mask)")
struct StreamMaskerTests {
    typealias Seeded = LeakPatternTests.Seeded

    static func patternSet(_ values: [(String, [UInt8])]) -> LeakPatternSet {
        LeakPatternSet(values: values.map { (.init(name: $0.0), SecretValue(bytes: $0.1)) })
    }

    static func patternSet(_ values: [(String, String)]) -> LeakPatternSet {
        patternSet(values.map { ($0.0, Array($0.1.utf8)) })
    }

    /// Streams `chunks` through a fresh masker at one instant (no release), then ends the stream.
    static func masked(_ set: LeakPatternSet, _ chunks: [[UInt8]]) -> [UInt8] {
        let masker = StreamMasker(patterns: set, chunkSize: 64)
        var out: [UInt8] = []
        for chunk in chunks {
            chunk.withUnsafeBytes { masker.write($0, now: 0) { out += $0 } }
        }
        masker.finish { out += $0 }
        #expect(masker.heldCount == 0)
        return out
    }

    static func masked(_ set: LeakPatternSet, _ text: String) -> String {
        String(decoding: masked(set, [Array(text.utf8)]), as: UTF8.self)
    }

    /// `bytes` in pieces of the given sizes (cycled), the last piece whatever is left.
    static func split(_ bytes: [UInt8], sizes: [Int]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var at = 0
        var index = 0
        while at < bytes.count {
            let size = min(max(1, sizes[index % sizes.count]), bytes.count - at)
            result.append(Array(bytes[at..<(at + size)]))
            at += size
            index += 1
        }
        return result
    }

    static let alpha = "s3cr3t-Valu/e+with spaces&\"quotes\""
    static let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJGSVUtQUxQSEEifQ.c2lnbmF0dXJl"

    /// A text holding both values in every encoded form, each on its own line between words.
    static func everyForm() -> [UInt8] {
        var text = Array("start\n".utf8)
        for value in [alpha, token] {
            for form in EncodedForm.forms(of: Array(value.utf8)) {
                text += Array("before ".utf8) + form.bytes + Array(" after\n".utf8)
            }
        }
        return text
    }

    @Test("every encoded form of every value is replaced by its marker, whole or split at any byte")
    func everyFormEverySplit() throws {
        let set = Self.patternSet([("entities/FIU-ALPHA/secret", Self.alpha), ("entities/FIU-ALPHA/token", Self.token)])
        let text = Self.everyForm()
        let whole = Self.masked(set, [text])
        #expect(set.hits(in: whole).isEmpty)
        let lines = String(decoding: whole, as: UTF8.self).split(separator: "\n").dropFirst()
        #expect(lines.count == text.count(where: { $0 == UInt8(ascii: "\n") }) - 1)
        for line in lines {
            #expect(line == "before <redacted:FIU-ALPHA/secret> after" || line == "before <redacted:FIU-ALPHA/token> after", "\(line)")
        }
        for cut in 0...text.count {
            let parts = [Array(text[..<cut]), Array(text[cut...])]
            #expect(Self.masked(set, parts) == whole, "split at \(cut)")
        }
        #expect(Self.masked(set, text.map { [$0] }) == whole, "byte by byte")
        for sizes in [[2], [3], [7], [63], [64], [65], [1, 5, 13]] {
            #expect(Self.masked(set, Self.split(text, sizes: sizes)) == whole, "pieces of \(sizes)")
        }
    }

    @Test("overlapping values both disappear, whole and byte by byte")
    func overlapping() {
        let set = Self.patternSet([("entities/A/secret", "abcdefgh12345"), ("entities/B/secret", "12345zyxwvut")])
        let text = "x abcdefgh12345zyxwvut y"
        let expected = "x <redacted:A/secret><redacted:B/secret> y"
        #expect(Self.masked(set, text) == expected)
        let bytes = Array(text.utf8)
        #expect(String(decoding: Self.masked(set, bytes.map { [$0] }), as: UTF8.self) == expected)
        for cut in 0...bytes.count {
            #expect(String(decoding: Self.masked(set, [Array(bytes[..<cut]), Array(bytes[cut...])]), as: UTF8.self) == expected)
        }
    }

    @Test("a value that is a prefix of another: the longer is named where it occurs, the shorter elsewhere")
    func prefixOfAnother() {
        let set = Self.patternSet([("entities/A/secret", "secretvalue"), ("entities/B/secret", "secretvalue-long")])
        let text = "x secretvalue-long y secretvalue z secretvalue"
        let expected = "x <redacted:B/secret> y <redacted:A/secret> z <redacted:A/secret>"
        #expect(Self.masked(set, text) == expected)
        let bytes = Array(text.utf8)
        #expect(String(decoding: Self.masked(set, bytes.map { [$0] }), as: UTF8.self) == expected)
        for cut in 0...bytes.count {
            #expect(String(decoding: Self.masked(set, [Array(bytes[..<cut]), Array(bytes[cut...])]), as: UTF8.self) == expected)
        }
    }

    @Test("binary data with planted values: streamed in random pieces, the same output as whole, nothing left", arguments: [1, 2, 3])
    func binary(seed: UInt64) {
        var rng = Seeded(state: seed)
        let values = (0..<6).map { index in ("entities/E\(index)/secret", LeakPatternTests.bytes(Int.random(in: 8...48, using: &rng), &rng)) }
        let set = Self.patternSet(values)
        var text = LeakPatternTests.bytes(20_000, &rng)
        for _ in 0..<60 {
            let (_, value) = values.randomElement(using: &rng)!
            let form = EncodedForm.forms(of: value).randomElement(using: &rng)!.bytes
            let at = Int.random(in: 0...(text.count - form.count), using: &rng)
            text.replaceSubrange(at..<(at + form.count), with: form)
        }
        let whole = Self.masked(set, [text])
        #expect(set.hits(in: whole).isEmpty)
        #expect(whole.count != text.count || whole != text)
        let sizes = (0..<50).map { _ in Int.random(in: 1...200, using: &rng) }
        #expect(Self.masked(set, Self.split(text, sizes: sizes)) == whole)
        #expect(Self.masked(set, text.map { [$0] }) == whole)
    }

    @Test("random small-alphabet values and text (overlaps everywhere): no value survives any chunking", arguments: [5, 6, 7, 8])
    func randomOverlaps(seed: UInt64) {
        var rng = Seeded(state: seed)
        let alphabet = Array("abcab".utf8)
        let values = (0..<30).map { index in ("v\(index)", LeakPatternTests.bytes(Int.random(in: 8...16, using: &rng), &rng, alphabet: alphabet)) }
        let set = Self.patternSet(values)
        var text = LeakPatternTests.bytes(3000, &rng, alphabet: alphabet)
        for _ in 0..<40 {
            let value = values.randomElement(using: &rng)!.1
            let at = Int.random(in: 0...(text.count - value.count), using: &rng)
            text.replaceSubrange(at..<(at + value.count), with: value)
        }
        let sizes = (0..<20).map { _ in Int.random(in: 1...40, using: &rng) }
        for chunks in [[text], text.map { [$0] }, Self.split(text, sizes: sizes)] {
            let out = Self.masked(set, chunks)
            let raw = set.hits(in: out).filter { $0.encoding == .raw }
            #expect(raw.isEmpty)
            #expect(out.count(where: { $0 == UInt8(ascii: "<") }) > 0)
        }
    }

    @Test("held bytes are released at the deadline (injected clock), not before; more input moves the deadline")
    func holdRelease() {
        let set = Self.patternSet([("entities/E/secret", "secretvalue1")])
        let masker = StreamMasker(patterns: set)
        var out: [UInt8] = []
        func write(_ text: String, at now: UInt64) { Array(text.utf8).withUnsafeBytes { masker.write($0, now: now) { out += $0 } } }
        var text: String { String(decoding: out, as: UTF8.self) }

        write("password: secr", at: 1_000)
        #expect(text == "password: ")
        #expect(masker.heldCount == 4)
        #expect(masker.releaseDeadline == 1_000 + 100_000_000)
        masker.releaseIfDue(now: 100_000_999) { out += $0 }
        #expect(text == "password: ")
        masker.releaseIfDue(now: 100_001_000) { out += $0 }
        #expect(text == "password: secr")
        #expect(masker.heldCount == 0)
        #expect(masker.releaseDeadline == nil)

        out = []
        write("again secr", at: 200_000_000)
        write("etva", at: 260_000_000)
        #expect(masker.releaseDeadline == 360_000_000)
        masker.releaseIfDue(now: 300_000_000) { out += $0 }
        write("lue1 done\n", at: 350_000_000)
        #expect(text == "again <redacted:E/secret> done\n")
        #expect(masker.heldCount == 0)
        #expect(masker.releaseDeadline == nil)

        // A value written more slowly than the hold escapes: the documented limit.
        out = []
        write("secretva", at: 400_000_000)
        masker.releaseIfDue(now: 500_000_000) { out += $0 }
        write("lue1", at: 600_000_000)
        masker.finish { out += $0 }
        #expect(text == "secretvalue1")
    }

    @Test("the pending-prefix table agrees with the matcher's own answer", arguments: [9, 10, 11])
    func pendingPrefixTable(seed: UInt64) {
        var rng = Seeded(state: seed)
        let alphabet = Array("abcab".utf8)
        let patterns = (0..<40).map { _ in LeakPatternTests.bytes(Int.random(in: 4...30, using: &rng), &rng, alphabet: alphabet) }
        let matcher = MultiPatternMatcher(patterns: patterns)
        let table = PendingPrefixTable(patterns: patterns)
        for _ in 0..<500 {
            let buffer = LeakPatternTests.bytes(Int.random(in: 0...40, using: &rng), &rng, alphabet: alphabet)
            buffer.withUnsafeBytes { raw in
                #expect(table.pendingLength(of: raw) == matcher.pendingPrefixLength(of: raw))
            }
        }
    }
}

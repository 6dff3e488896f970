import Foundation
import KeywardCore
import Testing

/// ``StreamMasker/handOver(to:now:output:)``: the value set of a masked stream grows while it
/// runs (`exec --serve-tokens --mask`, issue 17).
@Suite("Streaming masker: handing over to a masker with more values")
struct StreamMaskerHandOverTests {
    @Test("a value split across the hand-over is masked, and so is a value added by it; nothing is lost or repeated")
    func splitValueAndNewValue() {
        let old = "old-secret-0123456789abcdef"
        let new = "new-token-fedcba9876543210"
        let before = StreamMaskerTests.patternSet([("entities/A/secret", old)])
        let after = StreamMaskerTests.patternSet([("entities/A/secret", old), ("entities/A/token", new)])
        let first = StreamMasker(patterns: before, chunkSize: 64)
        var out: [UInt8] = []
        // Ends with the first half of the old value: held back, not yet emitted.
        Array("line one \(old.prefix(10))".utf8).withUnsafeBytes { first.write($0, now: 0) { out += $0 } }
        #expect(first.heldCount == 10)
        let second = StreamMasker(patterns: after, chunkSize: 64)
        first.handOver(to: second, now: 0) { out += $0 }
        #expect(first.heldCount == 0)
        Array("\(old.dropFirst(10)) and \(new) end".utf8).withUnsafeBytes { second.write($0, now: 0) { out += $0 } }
        second.finish { out += $0 }
        #expect(String(decoding: out, as: UTF8.self) == "line one <redacted:A/secret> and <redacted:A/token> end")
    }

    @Test("handing over with nothing held emits nothing")
    func nothingHeld() {
        let set = StreamMaskerTests.patternSet([("entities/A/secret", "old-secret-0123456789abcdef")])
        let first = StreamMasker(patterns: set, chunkSize: 64)
        var out: [UInt8] = []
        Array("plain text\n".utf8).withUnsafeBytes { first.write($0, now: 0) { out += $0 } }
        first.handOver(to: StreamMasker(patterns: set), now: 0) { out += $0 }
        #expect(String(decoding: out, as: UTF8.self) == "plain text\n")
    }
}

/// Finds every occurrence of many byte patterns in one pass over the input (DESIGN.md, "Leak
/// scanning and masked output": one pass, multi-pattern, however many values).
///
/// Every pattern is at least ``minimumLength`` (8) bytes long, so each occurrence holds 8-byte
/// windows of its pattern. The matcher reads one 8-byte window of the input every `stride`
/// positions (up to 4, when every pattern has at least 7 + stride bytes), hashes it (a multiply
/// and a shift) into a bit set that holds the hashes of every pattern's windows at offsets
/// 0 ..< stride, and compares bytes only where the bit is set: the cost per input byte does not
/// grow with the number of patterns, and a false candidate costs one 8-byte compare. (The idea of the window hash is Rabin and Karp's; a bit-set prefilter is what
/// Hyperscan's "FDR" and Wu–Manber's shift table do with blocks.)
public struct MultiPatternMatcher: Sendable {
    /// The shortest pattern the matcher accepts, in bytes. Shorter values would match by chance.
    public static let minimumLength = 8

    /// One occurrence: the pattern's index (in the array given to `init`) and the occurrence's
    /// byte range in the searched buffer.
    public struct Match: Sendable, Hashable {
        /// Index of the pattern in the array given to ``MultiPatternMatcher/init(patterns:)``.
        public let pattern: Int
        /// Offset of the occurrence's first byte.
        public let start: Int
        /// Offset one past the occurrence's last byte.
        public let end: Int

        /// A match of `pattern` over `start ..< end`.
        public init(pattern: Int, start: Int, end: Int) {
            self.pattern = pattern
            self.start = start
            self.end = end
        }
    }

    /// The patterns, as given (patterns shorter than ``minimumLength`` are kept but never found).
    public let patterns: [[UInt8]]
    /// The longest pattern's length in bytes (0 with none).
    public let maximumLength: Int

    private let shift: UInt64
    private let stride: Int
    private let filter: [UInt64]
    private let bucketStarts: [Int32]
    /// Per bucket entry: the pattern, the offset of its indexed window, and that window.
    private let entryPatterns: [Int32]
    private let entryOffsets: [Int32]
    private let entryAnchors: [UInt64]

    /// A matcher for `patterns`. Patterns shorter than ``minimumLength`` bytes are ignored.
    public init(patterns: [[UInt8]]) {
        self.patterns = patterns
        let usable = patterns.indices.filter { patterns[$0].count >= Self.minimumLength }
        maximumLength = usable.map { patterns[$0].count }.max() ?? 0
        // Every pattern is indexed by its 8-byte windows at offsets 0 ..< stride, so reading one
        // window every `stride` positions meets each occurrence exactly once: an occurrence at s
        // holds the position p in s ..< s+stride that is a multiple of the stride, and its window
        // at offset p - s. That needs patterns of at least 7 + stride bytes; up to 4.
        let shortest = usable.map { patterns[$0].count }.min() ?? Self.minimumLength
        stride = max(1, min(4, shortest - 7))
        let entries = usable.count * stride
        // A table about 16 times the number of entries keeps false candidates rare (about one
        // window in 16 when every slot of a full table would be hit); 4 Ki to 4 Mi bits.
        var bits = 12
        while bits < 22, (1 << bits) < entries * 16 { bits += 1 }
        shift = UInt64(64 - bits)
        let size = 1 << bits
        var counts = [Int32](repeating: 0, count: size + 1)
        var filter = [UInt64](repeating: 0, count: max(1, size / 64))
        var slots: [(slot: Int, pattern: Int, offset: Int, anchor: UInt64)] = []
        slots.reserveCapacity(entries)
        for index in usable {
            for offset in 0..<stride {
                let anchor = patterns[index].withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
                let slot = Int(Self.hash(anchor, shift: UInt64(64 - bits)))
                filter[slot >> 6] |= 1 << UInt64(slot & 63)
                counts[slot + 1] += 1
                slots.append((slot, index, offset, anchor))
            }
        }
        for slot in 0..<size { counts[slot + 1] += counts[slot] }
        var next = counts
        var entryPatterns = [Int32](repeating: 0, count: slots.count)
        var entryOffsets = [Int32](repeating: 0, count: slots.count)
        var entryAnchors = [UInt64](repeating: 0, count: slots.count)
        for entry in slots {
            let at = Int(next[entry.slot])
            entryPatterns[at] = Int32(entry.pattern)
            entryOffsets[at] = Int32(entry.offset)
            entryAnchors[at] = entry.anchor
            next[entry.slot] += 1
        }
        self.filter = filter
        self.bucketStarts = counts
        self.entryPatterns = entryPatterns
        self.entryOffsets = entryOffsets
        self.entryAnchors = entryAnchors
    }

    @inline(__always)
    private static func hash(_ window: UInt64, shift: UInt64) -> UInt64 {
        (window &* 0x9E37_79B9_7F4A_7C15) >> shift
    }

    /// Calls `body` for every occurrence of every pattern in `buffer` that starts at an offset
    /// `>= startingAt`, each once. The order is by start offset only within a few bytes (up to
    /// the stride, 4): sort when order matters. Overlapping occurrences are all reported.
    public func forEachMatch(
        in buffer: UnsafeRawBufferPointer, startingAt firstStart: Int = 0, _ body: (Match) -> Void
    ) {
        let count = buffer.count
        guard maximumLength > 0, count >= Self.minimumLength, let base = buffer.baseAddress else { return }
        let last = count - Self.minimumLength
        let first = max(0, firstStart)
        var position = first
        let stride = self.stride
        filter.withUnsafeBufferPointer { filter in
            while position <= last {
                let window = base.loadUnaligned(fromByteOffset: position, as: UInt64.self)
                let slot = Int(truncatingIfNeeded: Self.hash(window, shift: shift))
                if filter[slot &>> 6] & (1 &<< UInt64(slot & 63)) != 0 {
                    candidates(at: position, window: window, slot: slot, first: first, base: base, count: count, body)
                }
                position &+= stride
            }
        }
    }

    private func candidates(
        at position: Int, window: UInt64, slot: Int, first: Int, base: UnsafeRawPointer, count: Int, _ body: (Match) -> Void
    ) {
        for entry in Int(bucketStarts[slot])..<Int(bucketStarts[slot + 1]) where entryAnchors[entry] == window {
            let index = Int(entryPatterns[entry])
            let start = position - Int(entryOffsets[entry])
            let pattern = patterns[index]
            let end = start + pattern.count
            guard start >= first, end <= count else { continue }
            let equal = pattern.withUnsafeBytes { bytes in
                memcmp(base + start, bytes.baseAddress!, pattern.count) == 0
            }
            if equal { body(Match(pattern: index, start: start, end: end)) }
        }
    }

    /// Every occurrence in `bytes`, sorted by start offset, then pattern index (see
    /// ``forEachMatch(in:startingAt:_:)``).
    public func matches(in bytes: [UInt8]) -> [Match] {
        var result: [Match] = []
        bytes.withUnsafeBytes { buffer in forEachMatch(in: buffer) { result.append($0) } }
        return result.sorted { ($0.start, $0.pattern) < ($1.start, $1.pattern) }
    }

    /// The length of the longest suffix of `buffer` that is a proper prefix of some pattern: the
    /// bytes a stream must hold back because more input could complete an occurrence. At most
    /// ``maximumLength`` − 1.
    public func pendingPrefixLength(of buffer: UnsafeRawBufferPointer) -> Int {
        let limit = min(buffer.count, maximumLength - 1)
        guard limit > 0, let base = buffer.baseAddress else { return 0 }
        var length = limit
        while length > 0 {
            let suffix = UnsafeRawBufferPointer(start: base + (buffer.count - length), count: length)
            for pattern in patterns where pattern.count > length && pattern.count >= Self.minimumLength {
                let isPrefix = pattern.withUnsafeBytes { memcmp($0.baseAddress!, suffix.baseAddress!, length) == 0 }
                if isPrefix { return length }
            }
            length -= 1
        }
        return 0
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds every occurrence of many byte patterns in one pass over the input (DESIGN.md, "Leak
/// scanning and masked output": one pass, multi-pattern, however many values).
///
/// Every pattern is at least ``minimumLength`` (8) bytes long, so each occurrence starts with an
/// 8-byte window equal to its pattern's first 8 bytes. The matcher reads the input one 8-byte
/// window per position, hashes it (a multiply and a shift) into a bit set that holds the hashes
/// of all patterns' first windows, and compares bytes only where the bit is set: the cost per
/// input byte does not grow with the number of patterns, and a false candidate costs one 8-byte
/// compare. (The idea of the window hash is Rabin and Karp's; a bit-set prefilter is what
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
    private let filter: [UInt64]
    private let bucketStarts: [Int32]
    private let bucketPatterns: [Int32]
    private let anchors: [UInt64]

    /// A matcher for `patterns`. Patterns shorter than ``minimumLength`` bytes are ignored.
    public init(patterns: [[UInt8]]) {
        self.patterns = patterns
        let usable = patterns.indices.filter { patterns[$0].count >= Self.minimumLength }
        maximumLength = usable.map { patterns[$0].count }.max() ?? 0
        // A table about 16 times the number of patterns keeps false candidates rare (about one
        // position in 16 when every slot of a full table would be hit); 4 Ki to 4 Mi bits.
        var bits = 12
        while bits < 22, (1 << bits) < usable.count * 16 { bits += 1 }
        shift = UInt64(64 - bits)
        let size = 1 << bits
        var anchors = [UInt64](repeating: 0, count: patterns.count)
        var counts = [Int32](repeating: 0, count: size + 1)
        var filter = [UInt64](repeating: 0, count: max(1, size / 64))
        var slots: [(slot: Int, pattern: Int)] = []
        for index in usable {
            let anchor = patterns[index].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            anchors[index] = anchor
            let slot = Int(Self.hash(anchor, shift: UInt64(64 - bits)))
            filter[slot >> 6] |= 1 << UInt64(slot & 63)
            counts[slot + 1] += 1
            slots.append((slot, index))
        }
        for slot in 0..<size { counts[slot + 1] += counts[slot] }
        var next = counts
        var bucketPatterns = [Int32](repeating: 0, count: slots.count)
        for (slot, pattern) in slots {
            bucketPatterns[Int(next[slot])] = Int32(pattern)
            next[slot] += 1
        }
        self.anchors = anchors
        self.filter = filter
        self.bucketStarts = counts
        self.bucketPatterns = bucketPatterns
    }

    @inline(__always)
    private static func hash(_ window: UInt64, shift: UInt64) -> UInt64 {
        (window &* 0x9E37_79B9_7F4A_7C15) >> shift
    }

    /// Calls `body` for every occurrence of every pattern in `buffer` that starts at an offset
    /// `>= startingAt`, in order of start offset (patterns with the same start in the order they
    /// were given). Overlapping occurrences are all reported.
    public func forEachMatch(
        in buffer: UnsafeRawBufferPointer, startingAt firstStart: Int = 0, _ body: (Match) -> Void
    ) {
        let count = buffer.count
        guard maximumLength > 0, count >= Self.minimumLength, let base = buffer.baseAddress else { return }
        let last = count - Self.minimumLength
        var position = max(0, firstStart)
        filter.withUnsafeBufferPointer { filter in
            while position <= last {
                let window = base.loadUnaligned(fromByteOffset: position, as: UInt64.self)
                let slot = Int(truncatingIfNeeded: Self.hash(window, shift: shift))
                if filter[slot &>> 6] & (1 &<< UInt64(slot & 63)) != 0 {
                    candidates(at: position, window: window, slot: slot, base: base, count: count, body)
                }
                position &+= 1
            }
        }
    }

    private func candidates(
        at position: Int, window: UInt64, slot: Int, base: UnsafeRawPointer, count: Int, _ body: (Match) -> Void
    ) {
        for entry in Int(bucketStarts[slot])..<Int(bucketStarts[slot + 1]) {
            let index = Int(bucketPatterns[entry])
            guard anchors[index] == window else { continue }
            let pattern = patterns[index]
            let end = position + pattern.count
            guard end <= count else { continue }
            let equal = pattern.withUnsafeBytes { bytes in
                memcmp(base + position + 8, bytes.baseAddress! + 8, pattern.count - 8) == 0
            }
            if equal { body(Match(pattern: index, start: position, end: end)) }
        }
    }

    /// Every occurrence in `bytes` (see ``forEachMatch(in:startingAt:_:)``).
    public func matches(in bytes: [UInt8]) -> [Match] {
        var result: [Match] = []
        bytes.withUnsafeBytes { buffer in forEachMatch(in: buffer) { result.append($0) } }
        return result
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

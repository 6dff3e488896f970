/// Replaces every known secret value, in every encoded form, in a byte stream as it passes:
/// what `keyward exec --mask` runs the child's stdout and stderr through (DESIGN.md, "Leak
/// scanning and masked output", second bullet).
///
/// Each occurrence a ``LeakPatternSet`` finds becomes a marker: `<redacted:ID/secret>` for a
/// source named `entities/ID/secret` (the name without its `entities/` prefix, in general).
/// The stream is searched in chunks; a chunk's tail that could be the start of a value (the
/// longest suffix that is a proper prefix of some pattern) is held back until the next chunk
/// decides it, so a value split across two reads is still masked. Held bytes are released, as
/// they are, when ``releaseIfDue(now:to:)`` is called at or after ``releaseDeadline`` (the
/// last input plus ``holdNanoseconds``, 100 ms by default), so a prompt that happens to end like
/// the start of a value is not stalled; a value written more slowly than that may escape (the
/// documented limit).
///
/// Overlapping occurrences of different values are all replaced: the output has a marker for
/// each, and no byte of either. An occurrence inside another one (a value that is a prefix of
/// another value, where the longer one is present) gives only the outer marker.
///
/// Time is a caller's monotonic clock in nanoseconds (`now` arguments), so the hold can be
/// tested with an injected clock. Not thread-safe: one masker per stream, used by one thread.
public final class StreamMasker {
    /// The default hold: 100 ms, in nanoseconds (DESIGN.md).
    public static let defaultHoldNanoseconds: UInt64 = 100_000_000
    /// The default read size of ``append(now:reading:to:)``, in bytes.
    public static let defaultChunkSize = 256 * 1024

    /// How long held bytes wait for more input, in nanoseconds.
    public let holdNanoseconds: UInt64
    /// When the held bytes are due for release (the caller's clock, nanoseconds), or `nil` when
    /// nothing is held.
    public private(set) var releaseDeadline: UInt64?

    private let patterns: LeakPatternSet
    private let prefixes: PendingPrefixTable
    private let markers: [String: [UInt8]]
    private let capacity: Int
    private let storage: UnsafeMutableRawPointer
    /// Bytes at the front of `storage` not yet emitted (at most the longest pattern less one).
    private var held = 0
    /// How many of the held bytes an emitted marker already covers (never emitted again).
    private var covered = 0

    /// A masker for `patterns`.
    ///
    /// - Parameters:
    ///   - patterns: the values to remove, with their sources' names.
    ///   - holdNanoseconds: how long bytes that may start a value are held without more input.
    ///   - chunkSize: the most bytes ``append(now:reading:to:)`` offers its reader at once.
    public init(patterns: LeakPatternSet, holdNanoseconds: UInt64 = StreamMasker.defaultHoldNanoseconds,
                chunkSize: Int = StreamMasker.defaultChunkSize) {
        self.patterns = patterns
        self.holdNanoseconds = holdNanoseconds
        prefixes = PendingPrefixTable(patterns: patterns.matcher.patterns)
        var markers: [String: [UInt8]] = [:]
        for source in patterns.sources { markers[source.name] = Self.marker(for: source) }
        self.markers = markers
        capacity = max(1, chunkSize) + patterns.matcher.maximumLength
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// The marker that replaces an occurrence of `source`'s value: `<redacted:ID/secret>` for
    /// `entities/ID/secret`, `<redacted:NAME>` for a name without that prefix.
    public static func marker(for source: LeakPatternSet.Source) -> [UInt8] {
        let name = source.name.hasPrefix("entities/") ? String(source.name.dropFirst("entities/".count)) : source.name
        return Array("<redacted:\(name)>".utf8)
    }

    /// How many bytes are held back, waiting for more input or the release.
    public var heldCount: Int { held - covered }

    /// Lets `reading` fill the masker's buffer directly (no copy; for `read(2)`), then masks.
    ///
    /// - Parameters:
    ///   - now: the caller's monotonic clock, in nanoseconds.
    ///   - reading: is given free space (at least `chunkSize` bytes) and returns how many bytes
    ///     it put at its start; 0 or less (end of input, an error) changes nothing.
    ///   - output: called with each piece of masked output, in order.
    /// - Returns: what `reading` returned.
    @discardableResult
    public func append(now: UInt64, reading: (UnsafeMutableRawBufferPointer) -> Int,
                       to output: (UnsafeRawBufferPointer) -> Void) -> Int {
        let space = UnsafeMutableRawBufferPointer(start: storage + held, count: capacity - held)
        let count = reading(space)
        guard count > 0 else { return count }
        precondition(count <= space.count, "StreamMasker: the reader reported more bytes than it was given")
        mask(count: held + count, final: false, output)
        releaseDeadline = held > covered ? now &+ holdNanoseconds : nil
        return count
    }

    /// Masks `bytes` (copied in chunks; see ``append(now:reading:to:)``).
    public func write(_ bytes: UnsafeRawBufferPointer, now: UInt64, to output: (UnsafeRawBufferPointer) -> Void) {
        var offset = 0
        while offset < bytes.count {
            append(now: now, reading: { space in
                let count = min(space.count, bytes.count - offset)
                space.baseAddress!.copyMemory(from: bytes.baseAddress! + offset, byteCount: count)
                offset += count
                return count
            }, to: output)
        }
    }

    /// Releases the held bytes (masking whatever complete values they hold) when `now` has
    /// reached ``releaseDeadline``; does nothing before.
    public func releaseIfDue(now: UInt64, to output: (UnsafeRawBufferPointer) -> Void) {
        guard let deadline = releaseDeadline, now >= deadline else { return }
        finish(to: output)
    }

    /// Releases everything held: the end of the stream.
    public func finish(to output: (UnsafeRawBufferPointer) -> Void) {
        mask(count: held, final: true, output)
        releaseDeadline = nil
    }

    /// Moves the bytes this masker holds back (not emitted, not under an emitted marker) into
    /// `other`, which masks them with its own values as if they had been written to it; this
    /// masker is left holding nothing. For a stream whose set of values grows while it runs
    /// (`keyward exec --serve-tokens --mask`: a token minted during the run), so that a value
    /// split across the change is still caught: the new masker's values include the old ones.
    ///
    /// - Parameters:
    ///   - now: the caller's monotonic clock, in nanoseconds.
    ///   - output: called with each piece of masked output `other` releases, in order.
    public func handOver(to other: StreamMasker, now: UInt64, output: (UnsafeRawBufferPointer) -> Void) {
        if held > covered {
            other.write(UnsafeRawBufferPointer(start: storage + covered, count: held - covered), now: now, to: output)
        }
        held = 0
        covered = 0
        releaseDeadline = nil
    }

    /// Masks the first `count` bytes of `storage`: emits everything before the cut (the start of
    /// the longest suffix that may begin a value; the end when `final`), keeps the rest held.
    private func mask(count: Int, final: Bool, _ output: (UnsafeRawBufferPointer) -> Void) {
        let buffer = UnsafeRawBufferPointer(start: storage, count: count)
        let cut = final ? count : count - prefixes.pendingLength(of: buffer)
        // Bytes before `done` are emitted or under an emitted marker. An occurrence that starts
        // before the cut is complete (a longer pattern starting there would make it part of the
        // held suffix); one that starts at or after it is decided next time.
        var done = covered
        for hit in patterns.hits(in: buffer) where hit.start < cut {
            guard hit.end > done else { continue }  // inside an occurrence already replaced
            if hit.start > done { output(UnsafeRawBufferPointer(rebasing: buffer[done..<hit.start])) }
            markers[hit.source.name, default: Self.marker(for: hit.source)].withUnsafeBytes { output($0) }
            done = hit.end
        }
        if done < cut {
            output(UnsafeRawBufferPointer(rebasing: buffer[done..<cut]))
            done = cut
        }
        held = count - cut
        covered = max(0, done - cut)
        if held > 0, cut > 0 { storage.copyMemory(from: storage + cut, byteCount: held) }
    }
}

/// The longest suffix of a buffer that is a proper prefix of one of the patterns: the same
/// answer as ``MultiPatternMatcher/pendingPrefixLength(of:)``, in time proportional to the
/// longest pattern rather than to its length times the number of patterns (which, for a few
/// entities' tokens in every encoding, cost more than the search itself on every read).
///
/// Every proper prefix of every pattern (of at least ``MultiPatternMatcher/minimumLength``
/// bytes) is kept as a polynomial hash in an open-addressing table; the buffer's suffixes are
/// hashed from the end backwards, each looked up, and a hit is confirmed byte for byte (a hash
/// collision falls back to comparing every pattern at that length).
package struct PendingPrefixTable: Sendable {
    private static let base: UInt64 = 0x100_0000_01B3  // FNV's 64-bit prime: odd, spreads bytes
    private let patterns: [[UInt8]]
    private let maximumLength: Int
    private let keys: [UInt64]
    private let owners: [Int32]  // a pattern with that prefix, -1 for an empty slot
    private let lengths: [Int32]
    private let shift: UInt64

    /// The table for `patterns` (those shorter than the matcher's minimum are ignored, as the
    /// matcher ignores them).
    package init(patterns: [[UInt8]]) {
        let usable = patterns.filter { $0.count >= MultiPatternMatcher.minimumLength }
        self.patterns = usable
        maximumLength = usable.map(\.count).max() ?? 0
        let entries = usable.reduce(0) { $0 + $1.count - 1 }
        var bits = 4
        while (1 << bits) < entries * 2 { bits += 1 }
        shift = UInt64(64 - bits)
        var keys = [UInt64](repeating: 0, count: 1 << bits)
        var owners = [Int32](repeating: -1, count: 1 << bits)
        var lengths = [Int32](repeating: 0, count: 1 << bits)
        let mask = (1 << bits) - 1
        for (index, pattern) in usable.enumerated() {
            var hash: UInt64 = 0
            for length in 1..<pattern.count {
                hash = hash &* Self.base &+ UInt64(pattern[length - 1])
                var slot = Self.slot(hash, shift: shift)
                while owners[slot] >= 0, !(keys[slot] == hash && lengths[slot] == Int32(length)) { slot = (slot + 1) & mask }
                if owners[slot] < 0 {
                    keys[slot] = hash
                    owners[slot] = Int32(index)
                    lengths[slot] = Int32(length)
                }
            }
        }
        self.keys = keys
        self.owners = owners
        self.lengths = lengths
    }

    @inline(__always)
    private static func slot(_ hash: UInt64, shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (hash &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The length of the longest suffix of `buffer` that is a proper prefix of some pattern, at
    /// most the longest pattern's length less one.
    package func pendingLength(of buffer: UnsafeRawBufferPointer) -> Int {
        let limit = min(buffer.count, maximumLength - 1)
        guard limit > 0, let end = buffer.baseAddress.map({ $0 + buffer.count }) else { return 0 }
        var best = 0
        var hash: UInt64 = 0
        var power: UInt64 = 1
        let mask = keys.count - 1
        for length in 1...limit {
            hash = hash &+ UInt64(end.load(fromByteOffset: -length, as: UInt8.self)) &* power
            power = power &* Self.base
            var slot = Self.slot(hash, shift: shift)
            while owners[slot] >= 0 {
                if keys[slot] == hash, lengths[slot] == Int32(length) {
                    if isPrefix(length, end: end, owner: Int(owners[slot])) { best = length }
                    break
                }
                slot = (slot + 1) & mask
            }
        }
        return best
    }

    /// Whether the last `length` bytes before `end` are a proper prefix of some pattern: of
    /// `owner` (whose prefix has that hash) unless the hashes collided, else of another.
    private func isPrefix(_ length: Int, end: UnsafeRawPointer, owner: Int) -> Bool {
        let equal = patterns[owner].withUnsafeBytes { memcmp($0.baseAddress!, end - length, length) == 0 }
        if equal { return true }
        for pattern in patterns where pattern.count > length {
            let equal = pattern.withUnsafeBytes { memcmp($0.baseAddress!, end - length, length) == 0 }
            if equal { return true }
        }
        return false
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

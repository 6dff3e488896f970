#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One place where a known value was found: where, which value (by name, version and
/// fingerprint, never the value) and in which encoding (DESIGN.md, "Leak scanning and masked
/// output").
public struct LeakFinding: Sendable, Hashable, Codable {
    /// The file as given or walked (`-` for standard input, the index path with `--staged`).
    public var path: String
    /// 1-based line of the occurrence's first byte (lines end at `\n`).
    public var line: Int
    /// 1-based byte column of the occurrence's first byte within its line.
    public var column: Int
    /// Byte offset of the occurrence's first byte in the input.
    public var offset: Int
    /// Byte length of the occurrence.
    public var length: Int
    /// The value's name (`entities/<ID>/secret`, `providers/<NAME>/password`).
    public var name: String
    /// The vault version (`v3`), or `nil` for a configuration credential.
    public var secretVersion: String?
    /// The vault's fingerprint of the value (8 hex digits).
    public var fingerprint: String?
    /// The form in which it was found.
    public var encoding: LeakEncoding

    enum CodingKeys: String, CodingKey {
        case path, line, column, offset, length, name, secretVersion = "version", fingerprint, encoding
    }

    /// `PATH:LINE:COLUMN: NAME vN (fingerprint F, ENCODING)`: DESIGN.md's text form. Control
    /// characters in the path are shown escaped (`\n`, `\t`, `\x1b`), so a file name cannot
    /// forge another finding's line.
    public var summary: String {
        var shown = ""
        for scalar in path.unicodeScalars {
            switch scalar {
            case "\n": shown += "\\n"
            case "\t": shown += "\\t"
            case "\r": shown += "\\r"
            case "\\": shown += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    shown += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    shown.unicodeScalars.append(scalar)
                }
            }
        }
        var text = "\(shown):\(line):\(column): \(name)"
        if let secretVersion { text += " \(secretVersion)" }
        var details: [String] = []
        if let fingerprint { details.append("fingerprint \(fingerprint)") }
        details.append(encoding.rawValue)
        return text + " (" + details.joined(separator: ", ") + ")"
    }
}

/// Searches byte streams for a ``LeakPatternSet``'s values in one pass, in fixed-size chunks
/// (a value split across two chunks is found: the last `maximumLength - 1` bytes are carried
/// over), so memory stays bounded whatever the input's size.
public struct SecretScanner: Sendable {
    /// What is searched for.
    public let patterns: LeakPatternSet
    /// Bytes read per `read(2)`.
    public let chunkSize: Int

    /// A scanner for `patterns`, reading `chunkSize` bytes at a time (default 1 MiB).
    public init(patterns: LeakPatternSet, chunkSize: Int = 1 << 20) {
        self.patterns = patterns
        self.chunkSize = max(chunkSize, 4096)
    }

    /// An error reading the input: its path and `errno`'s text, never content.
    public struct ReadError: Error, CustomStringConvertible {
        /// The path being read.
        public let path: String
        /// `errno` from the failed call.
        public let code: Int32
        public var description: String { "\(path): \(String(cString: strerror(code)))" }
    }

    /// The findings in what `descriptor` yields until end of file, named `path`, in order of
    /// offset. With `countingLines` false, lines are not counted as the input passes (faster):
    /// every finding's line is 0, and the caller that needs them (a file) scans again.
    ///
    /// - Throws: ``ReadError`` when `read(2)` fails.
    public func scan(descriptor: CInt, path: String, countingLines: Bool = true) throws(ReadError) -> [LeakFinding] {
        // The carry holds a whole pattern: an occurrence that ends at the end of what was read
        // waits for the next byte (base64's edge check needs it), so it must fit in the carry.
        let carryLimit = patterns.matcher.maximumLength
        var buffer = [UInt8](repeating: 0, count: carryLimit + chunkSize)
        var findings: [LeakFinding] = []
        var carry = 0
        var bufferOffset = 0  // absolute offset of buffer[0]
        var lines = 0  // newlines before buffer[0]
        var lastNewline = -1  // absolute offset of the last newline before buffer[0]
        var ended = false
        while !ended {
            let count = buffer.withUnsafeMutableBytes { raw -> Int in
                var got: Int
                repeat { got = read(descriptor, raw.baseAddress! + carry, chunkSize) } while got < 0 && errno == EINTR
                return got
            }
            if count < 0 { throw ReadError(path: path, code: errno) }
            ended = count == 0
            if ended && carry == 0 { break }
            let total = carry + count
            let keep = ended ? 0 : min(total, carryLimit)
            buffer.withUnsafeBytes { raw in
                let window = UnsafeRawBufferPointer(rebasing: raw[0..<total])
                var countedTo = 0
                var chunkLines = lines
                var chunkLastNewline = lastNewline
                // New: ends at or after the carry (the carry's last byte ended the previous read,
                // whose occurrences ending there waited); not at the end of this read unless the
                // input ended.
                let hits = patterns.hits(in: window, offset: bufferOffset, exactEdges: (starts: bufferOffset == 0, ends: ended))
                for hit in hits where hit.end - bufferOffset >= max(carry, 1) && (ended || hit.end - bufferOffset < total) {
                    if countingLines {
                        Self.countNewlines(window, from: countedTo, to: hit.start - bufferOffset, base: bufferOffset,
                                           lines: &chunkLines, lastNewline: &chunkLastNewline)
                        countedTo = hit.start - bufferOffset
                    }
                    findings.append(LeakFinding(
                        path: path, line: countingLines ? chunkLines + 1 : 0, column: countingLines ? hit.start - chunkLastNewline : 0,
                        offset: hit.start, length: hit.end - hit.start, name: hit.source.name, secretVersion: hit.source.version,
                        fingerprint: hit.source.fingerprint, encoding: hit.encoding))
                }
                if countingLines {
                    // Count only what leaves the buffer; the carried bytes are counted next time.
                    Self.countNewlines(window, from: 0, to: total - keep, base: bufferOffset, lines: &lines, lastNewline: &lastNewline)
                }
            }
            buffer.withUnsafeMutableBytes { raw in
                if keep > 0 { memmove(raw.baseAddress!, raw.baseAddress! + (total - keep), keep) }
            }
            bufferOffset += total - keep
            carry = keep
        }
        return Self.outermost(findings)
    }

    /// `findings` without those that overlap an earlier (or, at one offset, longer) finding of the
    /// same value: a chunk reports what it sees, and the next one may see a longer form around
    /// it; and a repetitive value in repetitive text (`aaaa…`) is reported once per
    /// non-overlapping occurrence, not at every offset.
    static func outermost(_ findings: [LeakFinding]) -> [LeakFinding] {
        let sorted = findings.sorted { ($0.offset, $1.length) < ($1.offset, $0.length) }
        var reach: [String: Int] = [:]
        var result: [LeakFinding] = []
        for finding in sorted {
            let key = finding.name + " " + (finding.secretVersion ?? "")
            if let end = reach[key], end > finding.offset { continue }
            reach[key] = finding.offset + finding.length
            result.append(finding)
        }
        return result
    }

    /// The findings in `bytes`, named `path`.
    public func scan(bytes: [UInt8], path: String) -> [LeakFinding] {
        Self.outermost(scanOnce(bytes: bytes, path: path))
    }

    private func scanOnce(bytes: [UInt8], path: String) -> [LeakFinding] {
        var findings: [LeakFinding] = []
        var lines = 0
        var lastNewline = -1
        var countedTo = 0
        bytes.withUnsafeBytes { raw in
            for hit in patterns.hits(in: raw, exactEdges: (starts: true, ends: true)) {
                Self.countNewlines(raw, from: countedTo, to: hit.start, base: 0, lines: &lines, lastNewline: &lastNewline)
                countedTo = hit.start
                findings.append(LeakFinding(path: path, line: lines + 1, column: hit.start - lastNewline, offset: hit.start, length: hit.end - hit.start,
                                            name: hit.source.name, secretVersion: hit.source.version,
                                            fingerprint: hit.source.fingerprint, encoding: hit.encoding))
            }
        }
        return findings
    }

    /// Opens `path` read-only and scans it: first without counting lines, and again, counting,
    /// only when something was found (most files hold nothing).
    ///
    /// - Throws: ``ReadError`` when the file cannot be opened or read.
    public func scan(file path: String, displayPath: String? = nil) throws(ReadError) -> [LeakFinding] {
        let name = displayPath ?? path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard descriptor >= 0 else { throw ReadError(path: name, code: errno) }
        defer { close(descriptor) }
        // O_NONBLOCK only guards the open (a FIFO with no writer would block it); reads block.
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw ReadError(path: name, code: errno) }
        // A pipe or device named on the command line is read once, counting lines as it goes.
        guard info.st_mode & S_IFMT == S_IFREG else { return try scan(descriptor: descriptor, path: name, countingLines: true) }
        let found = try scan(descriptor: descriptor, path: name, countingLines: false)
        guard !found.isEmpty else { return [] }
        guard lseek(descriptor, 0, SEEK_SET) == 0 else { throw ReadError(path: name, code: errno) }
        return try scan(descriptor: descriptor, path: name, countingLines: true)
    }

    private static func countNewlines(_ buffer: UnsafeRawBufferPointer, from start: Int, to end: Int, base: Int,
                                      lines: inout Int, lastNewline: inout Int) {
        guard end > start, let pointer = buffer.baseAddress else { return }
        var position = start
        while position < end {
            guard let found = memchr(pointer + position, 0x0A, end - position) else { break }
            let offset = pointer.distance(to: UnsafeRawPointer(found))
            lines += 1
            lastNewline = base + offset
            position = offset + 1
        }
    }
}

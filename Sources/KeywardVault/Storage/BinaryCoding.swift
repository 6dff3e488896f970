/// A tiny, unambiguous binary encoding for what the vault seals: big-endian fixed-width
/// integers and u32-length-prefixed byte strings. Readers reject trailing or missing bytes.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    mutating func u32(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func i64(_ value: Int64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func raw(_ value: [UInt8]) { bytes.append(contentsOf: value) }

    mutating func raw(_ value: StaticString) {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: value.utf8Start, count: value.utf8CodeUnitCount))
    }

    mutating func field(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func field(_ value: String) { field(Array(value.utf8)) }

    mutating func optionalField(_ value: String?) {
        if let value {
            u8(1)
            field(value)
        } else {
            u8(0)
        }
    }

    mutating func optionalI64(_ value: Int64?) {
        if let value {
            u8(1)
            i64(value)
        } else {
            u8(0)
        }
    }

    /// Hands the bytes over and leaves nothing behind in this writer.
    mutating func take() -> [UInt8] {
        defer { bytes = [] }
        return bytes
    }
}

struct ByteReader {
    struct Malformed: Error {}

    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func u8() throws -> UInt8 {
        guard offset < bytes.count else { throw Malformed() }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u32() throws -> UInt32 {
        guard bytes.count - offset >= 4 else { throw Malformed() }
        var value: UInt32 = 0
        for _ in 0..<4 { value = value << 8 | UInt32(bytes[offset]); offset += 1 }
        return value
    }

    mutating func i64() throws -> Int64 {
        guard bytes.count - offset >= 8 else { throw Malformed() }
        var value: UInt64 = 0
        for _ in 0..<8 { value = value << 8 | UInt64(bytes[offset]); offset += 1 }
        return Int64(bitPattern: value)
    }

    /// The times the vault stores: milliseconds since 1970 (UTC) from a day before
    /// 0000-01-01T00:00:00Z to a day after 10000-01-01T00:00:00Z, every time an RFC 3339
    /// date-time (four-digit year, any offset) names. Each one is a `Date` and back to the same
    /// millisecond; far outside it a `Double` loses milliseconds, and beyond ±2^63 / 1000
    /// seconds converting back to `Int64` traps (found by Fuzz/fuzz-vault).
    static let timeRange: ClosedRange<Int64> = -62_167_305_600_000...253_402_387_200_000

    /// A time (``i64()``) within ``timeRange``.
    mutating func time() throws -> Int64 {
        let value = try i64()
        guard Self.timeRange.contains(value) else { throw Malformed() }
        return value
    }

    /// An optional time: a presence byte (0 or 1), then ``time()``.
    mutating func optionalTime() throws -> Int64? {
        switch try u8() {
        case 0: return nil
        case 1: return try time()
        default: throw Malformed()
        }
    }

    mutating func field() throws -> [UInt8] {
        let count = Int(try u32())
        guard bytes.count - offset >= count else { throw Malformed() }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func string() throws -> String {
        guard let text = String(validating: try field(), as: UTF8.self) else { throw Malformed() }
        return text
    }

    mutating func optionalString() throws -> String? {
        switch try u8() {
        case 0: return nil
        case 1: return try string()
        default: throw Malformed()
        }
    }

    mutating func optionalI64() throws -> Int64? {
        switch try u8() {
        case 0: return nil
        case 1: return try i64()
        default: throw Malformed()
        }
    }

    func finish() throws {
        guard isAtEnd else { throw Malformed() }
    }
}

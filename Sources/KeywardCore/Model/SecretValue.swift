/// The bytes of a secret: an entity secret, a password, an access token, a vault entry.
///
/// A `SecretValue` never shows its bytes by accident: `description` is `<redacted>`,
/// `debugDescription` gives only the byte count, reflection (`dump`, `Mirror`) shows no children,
/// and `Encodable` writes `"<redacted>"`. Reading the bytes is always an explicit call whose
/// name contains `reveal`, so every place that does it can be found with grep.
///
/// Equality runs in time that depends only on the lengths, never on where the bytes differ.
public struct SecretValue: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable, Equatable, Hashable
{
    private let bytes: [UInt8]

    /// Wraps the given bytes.
    public init(bytes: some Sequence<UInt8>) {
        self.bytes = Array(bytes)
    }

    /// Wraps the UTF-8 encoding of `string`.
    public init(utf8 string: String) {
        self.bytes = Array(string.utf8)
    }

    /// The number of bytes held.
    public var count: Int { bytes.count }

    /// `true` when no bytes are held.
    public var isEmpty: Bool { bytes.isEmpty }

    /// The secret's bytes. Call only where the value must leave the process (an HTTP body,
    /// the vault's cipher, a sink's file).
    public func revealBytes() -> [UInt8] { bytes }

    /// The secret's bytes decoded as UTF-8 (invalid sequences repaired with U+FFFD). Call only
    /// where the value must leave the process.
    public func revealUTF8() -> String { String(decoding: bytes, as: UTF8.self) }

    /// Gives the body temporary access to the bytes without copying them.
    public func withRevealedBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes(body)
    }

    /// `true` when the bytes are valid UTF-8.
    public var isValidUTF8: Bool { String(validating: bytes, as: UTF8.self) != nil }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "SecretValue(<redacted \(bytes.count) bytes>)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// Constant-time comparison: the loop visits every byte whatever the contents.
    public static func == (lhs: SecretValue, rhs: SecretValue) -> Bool {
        guard lhs.bytes.count == rhs.bytes.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.bytes.indices {
            difference |= lhs.bytes[index] ^ rhs.bytes[index]
        }
        return difference == 0
    }

    /// Hashes the length only, so a hash table never becomes an oracle for the contents.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.count)
    }

    /// `true` when `text` contains these bytes (as UTF-8). Used by leak scans and by the
    /// scrubbing of server-provided error text. An empty secret is never "contained".
    public func occurs(in text: String) -> Bool {
        guard !bytes.isEmpty else { return false }
        let haystack = Array(text.utf8)
        guard haystack.count >= bytes.count else { return false }
        for start in 0...(haystack.count - bytes.count)
        where haystack[start] == bytes[0] && Array(haystack[start..<start + bytes.count]) == bytes {
            return true
        }
        return false
    }
}

extension SecretValue: Encodable {
    /// Always encodes the string `"<redacted>"`: a `SecretValue` cannot reach JSON by accident.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode("<redacted>")
    }
}

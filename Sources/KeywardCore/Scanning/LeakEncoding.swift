import Foundation

/// A form in which a secret value can appear in text, as `keyward scan` and `keyward exec --mask`
/// search for it (DESIGN.md, "Leak scanning and masked output").
public enum LeakEncoding: String, Sendable, Hashable, CaseIterable, Codable {
    /// The value's own bytes.
    case raw
    /// Standard base64 (RFC 4648 section 4), the value at any of the three byte alignments
    /// inside a longer encoded blob.
    case base64
    /// base64url (RFC 4648 section 5), at any of the three alignments.
    case base64url
    /// Percent-encoding (RFC 3986 section 2.1): every byte outside the unreserved set of section
    /// 2.3 as `%XX`, hex digits in either case; also as encoders that keep `/` (Python's
    /// `urllib.parse.quote`) or `!'()*` (JavaScript's `encodeURIComponent`) write it.
    case percent
    /// `application/x-www-form-urlencoded`: percent-encoding with space as `+`, with RFC 3986's
    /// unreserved set or the WHATWG URL standard's ("application/x-www-form-urlencoded
    /// serializing": `*-._` kept, `~` escaped).
    case form
    /// The inside of a JSON string (RFC 8259 section 7): `"` `\` and control characters escaped,
    /// with `/` as `\/` or not, non-ASCII characters as `\uXXXX` or not, `<>&` as `\u003c` or
    /// not, hex digits in either case.
    case json
}

/// One searchable form of a value: its encoding and the bytes to look for.
public struct EncodedForm: Sendable, Hashable {
    /// How `bytes` was derived from the value.
    public let encoding: LeakEncoding
    /// The bytes to search for.
    public let bytes: [UInt8]
    /// For the value-only characters of a base64 form inside a longer blob: the bits of the
    /// value that the characters just before and after hold, which a match must agree with.
    public let edges: Base64Edges?

    /// A form with the given encoding and bytes.
    public init(encoding: LeakEncoding, bytes: [UInt8], edges: Base64Edges? = nil) {
        self.encoding = encoding
        self.bytes = bytes
        self.edges = edges
    }

    /// Every distinct form of `value` that `keyward scan` searches for: the raw bytes first, then
    /// base64 and base64url (the standalone padded encoding and, for each of the three
    /// alignments at which the value can sit inside a longer encoded blob, the characters that
    /// depend on the value's bytes alone), percent and form encoding (upper- and lower-case hex),
    /// and JSON string escapes (only for UTF-8 text). A form whose bytes equal an earlier one's
    /// is dropped, so the earlier (simpler) encoding names a hit.
    public static func forms(of value: [UInt8]) -> [EncodedForm] {
        var result: [EncodedForm] = []
        var seen: Set<[UInt8]> = []
        func add(_ encoding: LeakEncoding, _ bytes: [UInt8]) {
            guard !bytes.isEmpty, seen.insert(bytes).inserted else { return }
            result.append(EncodedForm(encoding: encoding, bytes: bytes))
        }
        add(.raw, value)
        for urlSafe in [false, true] {
            let encoding: LeakEncoding = urlSafe ? .base64url : .base64
            // Padded and unpadded (JWT-style): an unpadded standard form keeps a base64url one
            // without `-` or `_` named base64.
            add(encoding, base64(value, urlSafe: urlSafe, padded: true))
            add(encoding, base64(value, urlSafe: urlSafe, padded: false))
            for alignment in 0..<3 {
                let core = base64Core(value, alignment: alignment, urlSafe: urlSafe)
                guard !core.isEmpty, seen.insert(core).inserted else { continue }
                result.append(EncodedForm(encoding: encoding, bytes: core,
                                          edges: Base64Edges(value, alignment: alignment, urlSafe: urlSafe)))
            }
        }
        // RFC 3986's unreserved set; the same keeping `/` (Python's `urllib.parse.quote` by
        // default, path encoders); JavaScript's `encodeURIComponent`, which also keeps `!'()*`.
        for kept in [unreserved, unreserved.union([UInt8(ascii: "/")]), unreserved.union(Array("!'()*".utf8))] {
            for upper in [true, false] { add(.percent, percentEncoded(value, keeping: kept, spaceAsPlus: false, upperHex: upper)) }
        }
        // Form encoding: the same with space as `+`, and the WHATWG URL standard's set, which keeps
        // `*` and escapes `~`.
        for kept in [unreserved, whatwgForm] {
            for upper in [true, false] { add(.form, percentEncoded(value, keeping: kept, spaceAsPlus: true, upperHex: upper)) }
        }
        if let text = String(validating: value, as: UTF8.self) {
            // Every combination encoders choose: `/` as `\/` (PHP, Java's JSONObject), non-ASCII
            // as `\uXXXX` (Python's default), `<>&` as `\u003c` (Go), hex digits in lower case
            // (Python, Go) or upper case (Jackson, .NET, Django).
            for upperHex in [false, true] {
                for escapeSlash in [false, true] {
                    for asciiOnly in [false, true] {
                        for htmlSafe in [false, true] {
                            add(.json, jsonEscaped(text, escapeSlash: escapeSlash, asciiOnly: asciiOnly, htmlSafe: htmlSafe, upperHex: upperHex))
                        }
                    }
                }
            }
        }
        return result
    }

    // MARK: - base64

    static func base64(_ value: [UInt8], urlSafe: Bool, padded: Bool) -> [UInt8] {
        var text = Data(value).base64EncodedString()
        if urlSafe {
            text = String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
        }
        if !padded { while text.hasSuffix("=") { text.removeLast() } }
        return Array(text.utf8)
    }

    /// The characters of the base64 encoding of a blob holding `value` at byte offset
    /// `alignment` (mod 3) whose six bits all come from `value`: character `i` covers bits
    /// `6i ..< 6i+6`, the value bits `8·alignment ..< 8·(alignment+count)`.
    static func base64Core(_ value: [UInt8], alignment: Int, urlSafe: Bool) -> [UInt8] {
        let padded = [UInt8](repeating: 0, count: alignment) + value + [0, 0]
        let encoded = base64(padded, urlSafe: urlSafe, padded: true)
        let firstBit = 8 * alignment
        let endBit = 8 * (alignment + value.count)
        let first = (firstBit + 5) / 6
        let end = endBit / 6
        guard end > first else { return [] }
        return Array(encoded[first..<end])
    }

    // MARK: - percent and form encoding

    static let unreserved: Set<UInt8> = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8))

    /// The application/x-www-form-urlencoded byte set of the WHATWG URL standard: alphanumerics
    /// and `*-._` stay as they are.
    private static let whatwgForm: Set<UInt8> = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-._".utf8))

    static func percentEncoded(_ value: [UInt8], keeping kept: Set<UInt8> = unreserved, spaceAsPlus: Bool, upperHex: Bool) -> [UInt8] {
        let digits = Array((upperHex ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var result: [UInt8] = []
        result.reserveCapacity(value.count * 3)
        for byte in value {
            if kept.contains(byte) {
                result.append(byte)
            } else if byte == 0x20, spaceAsPlus {
                result.append(UInt8(ascii: "+"))
            } else {
                result += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            }
        }
        return result
    }

    // MARK: - JSON

    static func jsonEscaped(_ text: String, escapeSlash: Bool, asciiOnly: Bool, htmlSafe: Bool, upperHex: Bool = false) -> [UInt8] {
        var result: [UInt8] = []
        func unicodeEscape(_ unit: UInt16) {
            result += Array(String(format: upperHex ? "\\u%04X" : "\\u%04x", unit).utf8)
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += Array(#"\""#.utf8)
            case "\\": result += Array(#"\\"#.utf8)
            case "/" where escapeSlash: result += Array(#"\/"#.utf8)
            case "\n": result += Array(#"\n"#.utf8)
            case "\r": result += Array(#"\r"#.utf8)
            case "\t": result += Array(#"\t"#.utf8)
            case "\u{08}": result += Array(#"\b"#.utf8)
            case "\u{0C}": result += Array(#"\f"#.utf8)
            case "<" where htmlSafe, ">" where htmlSafe, "&" where htmlSafe:
                unicodeEscape(UInt16(scalar.value))
            default:
                if scalar.value < 0x20 {
                    unicodeEscape(UInt16(scalar.value))
                } else if scalar.isASCII || !asciiOnly {
                    result += Array(String(scalar).utf8)
                } else {
                    for unit in String(scalar).utf16 { unicodeEscape(unit) }
                }
            }
        }
        return result
    }
}

/// What the characters around a base64 form's value-only characters must hold: the character
/// before carries the value's first `leadingBits` bits in its low bits (alignments 1 and 2), the
/// character after its last `trailingBits` bits in its high bits. Checking them keeps a value
/// that differs from the secret only in those bits from being reported as the secret.
public struct Base64Edges: Sendable, Hashable {
    /// Bits of the value in the character before (0, 2 or 4).
    public let leadingBits: Int
    /// Their value (the character's low `leadingBits` bits).
    public let leading: UInt8
    /// Bits of the value in the character after (0, 2 or 4).
    public let trailingBits: Int
    /// Their value (the character's high `trailingBits` of its six bits).
    public let trailing: UInt8
    /// Whether the alphabet is base64url's.
    public let urlSafe: Bool

    init?(_ value: [UInt8], alignment: Int, urlSafe: Bool) {
        guard !value.isEmpty else { return nil }
        let startBit = 8 * alignment
        let endBit = 8 * (alignment + value.count)
        leadingBits = (6 - startBit % 6) % 6
        trailingBits = endBit % 6
        leading = leadingBits == 0 ? 0 : value[0] >> UInt8(8 - leadingBits)
        trailing = trailingBits == 0 ? 0 : value[value.count - 1] & UInt8((1 << trailingBits) - 1)
        self.urlSafe = urlSafe
        if leadingBits == 0 && trailingBits == 0 { return nil }
    }

    /// The six bits `character` stands for in base64 or base64url (a form without `+/-_` is the
    /// same in both, and is kept once), or `nil` for another character.
    func sextet(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"), UInt8(ascii: "-"): 62
        case UInt8(ascii: "/"), UInt8(ascii: "_"): 63
        default: nil
        }
    }

    /// Whether the characters around a match agree: `before` and `after` are the bytes just
    /// outside it, `nil` where the buffer ends there. A missing neighbour at the input's own
    /// start or end (`atInputStart`, `atInputEnd`) fails (a valid encoding has it); one cut off
    /// by a buffer's edge inside the input is not held against the match.
    public func agree(before: UInt8?, after: UInt8?, atInputStart: Bool, atInputEnd: Bool) -> Bool {
        if leadingBits > 0 {
            if let before {
                guard let bits = sextet(before), bits & UInt8((1 << leadingBits) - 1) == leading else { return false }
            } else if atInputStart {
                return false
            }
        }
        if trailingBits > 0 {
            if let after {
                guard let bits = sextet(after), bits >> UInt8(6 - trailingBits) == trailing else { return false }
            } else if atInputEnd {
                return false
            }
        }
        return true
    }
}

import KeywardCore

/// Renders key/value pairs as one JSON object (RFC 8259), keys in the order given, followed by
/// a newline (DESIGN.md, "Sinks", json).
///
/// Written by hand rather than with `JSONSerialization`, which does not keep key order.
/// Strings are escaped per RFC 8259, section 7: `"` and `\` as `\"` and `\\`, control
/// characters as `\b \f \n \r \t` or `\u00XX`; U+2028 and U+2029 as `\u2028` and `\u2029` too,
/// so the output is also a valid JavaScript literal. Everything else is written as UTF-8.
public enum JSONFormat {
    /// Renders `pairs` as `{"KEY":"value",…}`, or indented by two spaces, one key a line, when
    /// `pretty` is `true`. An empty list gives `{}`.
    ///
    /// - Throws: ``KeywardError`` (operation failed) naming the key when a value is not valid
    ///   UTF-8 (a JSON string cannot carry arbitrary bytes), never the value.
    public static func render(_ pairs: [SinkKeys.Pair], pretty: Bool) throws -> [UInt8] {
        guard !pairs.isEmpty else { return Array("{}\n".utf8) }
        var output: [UInt8] = [UInt8(ascii: "{")]
        output.reserveCapacity(pairs.reduce(4) { $0 + $1.key.utf8.count + $1.value.count + 10 })
        for (index, pair) in pairs.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            if pretty { output += Array("\n  ".utf8) }
            appendString(Array(pair.key.utf8), to: &output)
            output.append(UInt8(ascii: ":"))
            if pretty { output.append(UInt8(ascii: " ")) }
            let bytes = pair.value.revealBytes()
            // ASCII is UTF-8; only other bytes need the full validation.
            guard bytes.allSatisfy({ $0 < 0x80 }) || String(validating: bytes, as: UTF8.self) != nil else {
                throw KeywardError.operationFailed("json: refusing to write the value of \(pair.key): it is not valid UTF-8, which a JSON string cannot carry")
            }
            appendString(bytes, to: &output)
        }
        if pretty { output.append(UInt8(ascii: "\n")) }
        output += Array("}\n".utf8)
        return output
    }

    /// Appends `utf8` (already valid UTF-8) as a quoted JSON string.
    static func appendString(_ utf8: [UInt8], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        // Nothing to escape (every byte printable ASCII but `"` and `\`): the bytes as they are.
        if utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            output += utf8
            output.append(UInt8(ascii: "\""))
            return
        }
        let hex = Array("0123456789abcdef".utf8)
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            switch byte {
            case UInt8(ascii: "\""): output += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): output += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x08: output += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: output += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x0A: output += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: output += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: output += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x00..<0x20:
                output += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            // U+2028 and U+2029 (E2 80 A8, E2 80 A9): legal in JSON, line breaks in older JavaScript.
            case 0xE2 where index + 2 < utf8.count && utf8[index + 1] == 0x80 && (utf8[index + 2] == 0xA8 || utf8[index + 2] == 0xA9):
                output += Array((utf8[index + 2] == 0xA8 ? "\\u2028" : "\\u2029").utf8)
                index += 2
            default: output.append(byte)
            }
            index += 1
        }
        output.append(UInt8(ascii: "\""))
    }
}

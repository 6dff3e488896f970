import KeywardCore

/// `application/x-www-form-urlencoded` bodies, built field by field (WHATWG URL Standard,
/// "application/x-www-form-urlencoded serializing"): every byte outside `[A-Za-z0-9*-._]` is
/// percent-encoded and space becomes `+`, so secrets with `+ / = & %` arrive intact
/// (contract, "Quirks").
enum FormEncoding {
    static func encode(_ fields: [(String, SecretValue)]) -> [UInt8] {
        var body: [UInt8] = []
        for (index, (name, value)) in fields.enumerated() {
            if index > 0 { body.append(UInt8(ascii: "&")) }
            append(Array(name.utf8), to: &body)
            body.append(UInt8(ascii: "="))
            value.withRevealedBytes { append(Array($0), to: &body) }
        }
        return body
    }

    private static func append(_ bytes: [UInt8], to body: inout [UInt8]) {
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "*"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
                body.append(byte)
            case UInt8(ascii: " "):
                body.append(UInt8(ascii: "+"))
            default:
                body.append(UInt8(ascii: "%"))
                body.append(hex[Int(byte >> 4)])
                body.append(hex[Int(byte & 0x0F)])
            }
        }
    }
}

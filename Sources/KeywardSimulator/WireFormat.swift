import Foundation

/// Text formats of the token service's wire (token-service-contract.md).
enum WireFormat {
    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// RFC 3339 in UTC with `fractionDigits` fractional digits (0...9) and a `Z`, as the real
    /// service sends (`2024-10-10T10:33:56.177646614Z` with 9 digits).
    static func timestamp(_ date: Date, fractionDigits: Int) -> String {
        dateTime(date, fractionDigits: fractionDigits) + "Z"
    }

    /// `expirationDate`: a date-time in UTC with milliseconds and **no zone**
    /// (`2024-12-17T07:10:52.929`).
    static func expirationDate(_ date: Date) -> String {
        dateTime(date, fractionDigits: 3)
    }

    private static func dateTime(_ date: Date, fractionDigits: Int) -> String {
        let interval = date.timeIntervalSince1970
        let wholeSeconds = interval.rounded(.down)
        var nanoseconds = Int(((interval - wholeSeconds) * 1_000_000_000).rounded(.down))
        nanoseconds = min(max(nanoseconds, 0), 999_999_999)
        let parts = utc.dateComponents(
            [.year, .month, .day, .hour, .minute, .second],
            from: Date(timeIntervalSince1970: wholeSeconds)
        )
        var text = String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d",
            parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1,
            parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0
        )
        if fractionDigits > 0 {
            let digits = String(format: "%09d", nanoseconds)
            text += "." + digits.prefix(min(fractionDigits, 9))
        }
        return text
    }

    /// Whether `text` is an RFC 3339 date-time (fraction of up to 9 digits, `Z` or an offset).
    static func isRFC3339(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Bool {
            range.upperBound <= bytes.count && bytes[range].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        }
        func byte(_ index: Int, _ expected: Character) -> Bool {
            index < bytes.count && bytes[index] == expected.asciiValue!
        }
        guard digits(0..<4), byte(4, "-"), digits(5..<7), byte(7, "-"), digits(8..<10),
            byte(10, "T") || byte(10, "t"), digits(11..<13), byte(13, ":"), digits(14..<16), byte(16, ":"), digits(17..<19)
        else { return false }
        var index = 19
        if byte(index, ".") {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            guard (1...9).contains(index - start) else { return false }
        }
        if byte(index, "Z") || byte(index, "z") { return index + 1 == bytes.count }
        guard byte(index, "+") || byte(index, "-") else { return false }
        return digits(index + 1..<index + 3) && byte(index + 3, ":") && digits(index + 4..<index + 6) && index + 6 == bytes.count
    }

    /// Decodes an `application/x-www-form-urlencoded` body (WHATWG URL standard,
    /// "application/x-www-form-urlencoded parsing"): `+` is a space, `%XX` a byte, the bytes UTF-8.
    /// The first occurrence of a name wins. `nil` when a field is not valid percent-encoded UTF-8.
    static func decodeForm(_ body: [UInt8]) -> [String: String]? {
        var fields: [String: String] = [:]
        for pair in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(parts[0]) else { return nil }
            guard let value = percentDecode(parts.count > 1 ? parts[1] : []) else { return nil }
            if fields[name] == nil { fields[name] = value }
        }
        return fields
    }

    private static func percentDecode(_ encoded: ArraySlice<UInt8>) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encoded.count)
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let byte = encoded[index]
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
                index += 1
            case UInt8(ascii: "%"):
                guard index + 2 < encoded.endIndex,
                    let high = hexValue(encoded[index + 1]), let low = hexValue(encoded[index + 2])
                else { return nil }
                bytes.append(high << 4 | low)
                index += 3
            default:
                bytes.append(byte)
                index += 1
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// 32 random bytes from the system's CSPRNG, base64: the shape of a generated secret.
    static func randomSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
    }
}

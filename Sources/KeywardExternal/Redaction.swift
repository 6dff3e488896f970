import Foundation

/// Replaces known secret values in bytes a plugin wrote (stderr, an error message) before they
/// are logged or shown (DESIGN.md, "Plugins": every known secret value becomes `<redacted>`).
enum Redaction {
    static let marker = Array("<redacted>".utf8)

    /// A secret as a plugin may echo it: its bytes, and, when it is text, the inside of the JSON
    /// string Keyward sent (`"` `\\` and control characters escaped) and of the same string with
    /// every non-ASCII character as `\\uXXXX` (Python's `json.dumps` default).
    static func variants(of secret: [UInt8]) -> [[UInt8]] {
        guard let text = String(validating: secret, as: UTF8.self) else { return [secret] }
        var result = [secret]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        if let data = try? encoder.encode(text), data.count >= 2 {
            let escaped = Array(data.dropFirst().dropLast())
            result.append(escaped)
            var ascii: [UInt8] = []
            for scalar in String(decoding: escaped, as: UTF8.self).unicodeScalars {
                if scalar.isASCII {
                    ascii.append(UInt8(scalar.value))
                } else {
                    for unit in String(scalar).utf16 { ascii += Array(String(format: "\\u%04x", unit).utf8) }
                }
            }
            result.append(ascii)
        }
        return result
    }

    /// `bytes` with every occurrence of each non-empty secret replaced by `<redacted>`, the
    /// longest secrets first (one that contains another is replaced whole).
    static func redact(_ bytes: [UInt8], _ secrets: [[UInt8]]) -> [UInt8] {
        var result = bytes
        for secret in Set(secrets).filter({ !$0.isEmpty }).sorted(by: { $0.count > $1.count }) {
            guard result.count >= secret.count else { continue }
            var output: [UInt8] = []
            output.reserveCapacity(result.count)
            var index = 0
            let first = secret[0]
            while index < result.count {
                if result[index] == first, index + secret.count <= result.count, result[index..<(index + secret.count)].elementsEqual(secret) {
                    output.append(contentsOf: marker)
                    index += secret.count
                } else {
                    output.append(result[index])
                    index += 1
                }
            }
            result = output
        }
        return result
    }
}

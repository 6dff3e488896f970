/// Replaces known secret values in bytes a plugin wrote (stderr, an error message) before they
/// are logged or shown (DESIGN.md, "Plugins": every known secret value becomes `<redacted>`).
enum Redaction {
    static let marker = Array("<redacted>".utf8)

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

import KeywardCore

/// Renders key/value pairs as `export KEY='value'` lines for a POSIX shell to `eval` or source
/// (DESIGN.md, "Sinks", shell).
///
/// Every value is single-quoted, and each `'` in it is written `'\''` (close, an escaped
/// quote, reopen): inside single quotes a POSIX shell gives no byte a meaning (XCU 2.2.2), so
/// `$(…)`, backticks, `$NAME`, backslashes, newlines and bytes that are not UTF-8 are all kept
/// literally and nothing runs. A NUL byte is refused (no shell variable can hold one).
public enum ShellFormat {
    /// The first line of every file Keyward writes in this format.
    public static let header = "# written by keyward; do not edit"

    /// Renders `pairs`, in order, under ``header``.
    ///
    /// - Throws: ``KeywardError`` (usage) for a key outside `[A-Za-z_][A-Za-z0-9_]*` (XCU 2.2
    ///   "Name"); (operation failed) for a value holding a NUL byte. Both name the key, never
    ///   the value.
    public static func render(_ pairs: [SinkKeys.Pair]) throws -> [UInt8] {
        var output = Array("\(header)\n".utf8)
        output.reserveCapacity(output.count + pairs.reduce(0) { $0 + $1.key.utf8.count + $1.value.count + 11 })
        for pair in pairs {
            guard DotenvFormat.isValidKey(pair.key) else {
                throw KeywardError.usage("shell: key '\(pair.key)' is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)")
            }
            let bytes = pair.value.revealBytes()
            guard !bytes.contains(0) else {
                throw KeywardError.operationFailed("shell: refusing to write the value of \(pair.key): it contains a NUL byte, which no shell variable can hold")
            }
            output.append(contentsOf: "export ".utf8)
            output.append(contentsOf: pair.key.utf8)
            output.append(contentsOf: "='".utf8)
            if bytes.contains(UInt8(ascii: "'")) {
                for byte in bytes {
                    if byte == UInt8(ascii: "'") {
                        output.append(contentsOf: #"'\''"#.utf8)
                    } else {
                        output.append(byte)
                    }
                }
            } else {
                output += bytes
            }
            output.append(contentsOf: "'\n".utf8)
        }
        return output
    }
}

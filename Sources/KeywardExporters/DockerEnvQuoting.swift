/// The `docker` dialect (``DotenvFormat/Dialect/docker``): what `docker run --env-file` reads.
///
/// The Docker CLI (28.2, `opts/envfile.go`, checked with the real CLI against a fake engine)
/// reads the file line by line with Go's `bufio.Scanner`, trims whitespace at the start of the
/// line, skips lines that then start with `#`, and splits the rest at the first `=`. The value
/// is everything after it, byte for byte: no quotes are removed, no escapes decoded, no `$`
/// expanded, and leading and trailing spaces and tabs are kept. So a value is written bare,
/// and refused (naming the key, never the value) when it holds
/// - a newline: it would end the line;
/// - a NUL byte: no environment variable can hold one;
/// - bytes that are not UTF-8: the CLI rejects the whole file;
/// - a carriage return as its last byte: the scanner drops one `\r` before each newline
///   (a carriage return elsewhere in the value is kept);
/// - a line longer than ``maximumLineLength`` bytes: the scanner stops with "token too long".
enum DockerEnvQuoting {
    /// The longest `KEY=VALUE` line (without its newline) the CLI reads: the line and its
    /// newline must fit `bufio.Scanner`'s 64 KiB buffer (checked at the boundary with the CLI).
    static let maximumLineLength = 65_535

    static func quote(_ value: UnsafeRawBufferPointer, key: String) -> Result<[UInt8], Refusal> {
        let bytes = Array(value.bindMemory(to: UInt8.self))
        if bytes.contains(0) {
            return .failure(Refusal(reason: "it contains a NUL byte, which no environment variable can hold"))
        }
        if bytes.contains(UInt8(ascii: "\n")) {
            return .failure(Refusal(reason: "it contains a newline, and docker --env-file reads one line per variable with no quoting"))
        }
        if String(validating: bytes, as: UTF8.self) == nil {
            return .failure(Refusal(reason: "it is not valid UTF-8, and docker rejects the whole file"))
        }
        if bytes.last == UInt8(ascii: "\r") {
            return .failure(Refusal(reason: "it ends with a carriage return, which docker drops before the newline"))
        }
        if key.utf8.count + 1 + bytes.count > maximumLineLength {
            return .failure(Refusal(reason: "the line would be longer than \(maximumLineLength) bytes, the longest docker --env-file reads"))
        }
        return .success(bytes)
    }
}

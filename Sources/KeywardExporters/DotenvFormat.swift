import KeywardCore

/// Renders key/value pairs as an env file, one `KEY=value` a line (DESIGN.md, "Sinks", dotenv).
///
/// Keys must match `[A-Za-z_][A-Za-z0-9_]*`. Each value is written in a form that every reader
/// of the chosen ``Dialect`` reads back as exactly the same bytes; a value that no form carries
/// for all of them is refused with an error naming the key, never written mangled.
public enum DotenvFormat {
    /// Which readers a file must satisfy; the raw value is the sink's `dialect` option.
    public enum Dialect: String, Sendable, CaseIterable {
        /// Read back exactly by python-dotenv (`dotenv_values`, interpolation on, its default),
        /// `node --env-file` (Node 20), and `set -a; . file` in bash and dash.
        ///
        /// A value is written `'in single quotes'` when it holds no `'`, no two backslashes in a
        /// row and does not end in a backslash (python-dotenv reads `\\` and `\'` as escapes
        /// inside single quotes; sh and node do not). Otherwise it is written `"in double quotes"`
        /// when it holds no `"`, backslash or backtick, and every `$` is followed by nothing or
        /// by a character after which no shell expands it (space, tab, newline,
        /// `%&')+,./:;<=>]^|}~`): inside double quotes sh expands `$`, backticks and backslash
        /// escapes, python-dotenv decodes backslash escapes, and node decodes none, so no
        /// escaping works for all three. Refused in every form: a NUL byte (no environment
        /// variable can hold one), a carriage return (python-dotenv reads files with universal
        /// newlines and turns it into `\n`), bytes that are not UTF-8 (python-dotenv and node
        /// decode the file as UTF-8; python-dotenv then fails on the whole file), and `${…}`
        /// (python-dotenv interpolates `${NAME}` and `${NAME:-default}` in every quoting form).
        case portable
        /// Read back exactly by `docker run --env-file` (Docker CLI 28): each line is taken
        /// literally as `KEY=VALUE` up to the newline, with no quote or escape processing, so
        /// values are written bare and quotes, `$`, `#` and leading or trailing whitespace are
        /// all kept as they are. See ``DockerEnvQuoting`` for what is refused.
        case docker
        /// Read back exactly by systemd's `EnvironmentFile=` (systemd.exec(5)). A value is
        /// written `'in single quotes'` (verbatim, no escapes) when it holds no `'`, otherwise
        /// `"in double quotes"` with `"`, `\`, `` ` `` and `$` escaped by a backslash; both
        /// forms may span lines. See ``SystemdEnvQuoting`` for what is refused.
        case systemd
    }

    /// The first line of every file Keyward writes in this format.
    public static let header = "# written by keyward; do not edit"

    /// Renders `pairs`, in order, under ``header``.
    ///
    /// - Throws: ``KeywardError`` (usage) for a key outside `[A-Za-z_][A-Za-z0-9_]*`;
    ///   (operation failed) for a value the dialect cannot carry. Both name the key and the
    ///   reason, never the value.
    public static func render(_ pairs: [SinkKeys.Pair], dialect: Dialect = .portable) throws -> [UInt8] {
        var output = Array("\(header)\n".utf8)
        output.reserveCapacity(output.count + pairs.reduce(0) { $0 + $1.key.utf8.count + $1.value.count + 4 })
        for pair in pairs {
            guard isValidKey(pair.key) else {
                throw KeywardError.usage("dotenv: key '\(pair.key)' is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)")
            }
            let result: Result<[UInt8], Refusal> = switch dialect {
            case .portable: pair.value.withRevealedBytes { PortableQuoting.quote($0) }
            case .docker: pair.value.withRevealedBytes { DockerEnvQuoting.quote($0, key: pair.key) }
            case .systemd: pair.value.withRevealedBytes { SystemdEnvQuoting.quote($0) }
            }
            let quoted: [UInt8]
            switch result {
            case .success(let bytes):
                quoted = bytes
            case .failure(let refusal):
                throw KeywardError.operationFailed("dotenv (\(dialect.rawValue)): refusing to write the value of \(pair.key): \(refusal.reason)")
            }
            output.append(contentsOf: pair.key.utf8)
            output.append(UInt8(ascii: "="))
            output += quoted
            output.append(UInt8(ascii: "\n"))
        }
        return output
    }

    /// `true` when `key` matches `[A-Za-z_][A-Za-z0-9_]*`, the variable names every dialect
    /// accepts (POSIX.1-2017, 8.1 and XCU 2.2 "Name").
    public static func isValidKey(_ key: String) -> Bool {
        let bytes = key.utf8
        guard let first = bytes.first, first.isASCIILetter || first == UInt8(ascii: "_") else { return false }
        return bytes.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == UInt8(ascii: "_") }
    }
}

/// Why a value cannot be written in the portable dialect. The reasons name characters, never
/// the value.
struct Refusal: Error, Equatable {
    var reason: String
}

/// The portable dialect's choice of quoting, worked out against python-dotenv 1.2, Node 20's
/// `--env-file`, bash 5.2 and dash 0.5 (see ``DotenvFormat/Dialect/portable``).
enum PortableQuoting {
    static func quote(_ value: UnsafeRawBufferPointer) -> Result<[UInt8], Refusal> {
        // The common case (printable ASCII without `'`, `\`, `$` or a carriage return: every
        // base64 secret and JWT) passes every check below and is single-quoted; one pass
        // decides it without the copies and the UTF-8 validation the full path makes.
        if value.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "'") && $0 != UInt8(ascii: "\\") && $0 != UInt8(ascii: "$") }) {
            var quoted: [UInt8] = []
            quoted.reserveCapacity(value.count + 2)
            quoted.append(UInt8(ascii: "'"))
            quoted.append(contentsOf: value)
            quoted.append(UInt8(ascii: "'"))
            return .success(quoted)
        }
        let bytes = Array(value.bindMemory(to: UInt8.self))
        if bytes.contains(0) {
            return .failure(Refusal(reason: "it contains a NUL byte, which no environment variable can hold"))
        }
        if String(validating: bytes, as: UTF8.self) == nil {
            return .failure(Refusal(reason: "it is not valid UTF-8"))
        }
        if bytes.contains(UInt8(ascii: "\r")) {
            return .failure(Refusal(reason: "it contains a carriage return, which python-dotenv reads as a newline"))
        }
        if containsInterpolation(bytes) {
            return .failure(Refusal(reason: "it contains ${…}, which python-dotenv replaces with a variable in every quoting form"))
        }
        let single = singleQuotedProblem(bytes)
        if single == nil {
            return .success([UInt8(ascii: "'")] + bytes + [UInt8(ascii: "'")])
        }
        if let double = doubleQuotedProblem(bytes) {
            return .failure(Refusal(reason: "it contains \(single!) and \(double), so neither single nor double quotes are read back as the same bytes by python-dotenv, node --env-file and sh"))
        }
        return .success([UInt8(ascii: "\"")] + bytes + [UInt8(ascii: "\"")])
    }

    /// Why single quotes do not carry `bytes`, or `nil` when they do. sh and node take single
    /// quotes literally; python-dotenv decodes `\\` and `\'` inside them, and its pattern for
    /// the closing quote takes a trailing `\'` as an escaped quote.
    static func singleQuotedProblem(_ bytes: [UInt8]) -> String? {
        let backslash = UInt8(ascii: "\\")
        if bytes.contains(UInt8(ascii: "'")) { return "a single quote" }
        for index in bytes.indices where bytes[index] == backslash {
            if index == bytes.count - 1 { return "a trailing backslash (python-dotenv reads it as escaping the closing single quote)" }
            if bytes[index + 1] == backslash { return "two backslashes in a row (python-dotenv reads them as one inside single quotes)" }
        }
        return nil
    }

    /// Why double quotes do not carry `bytes`, or `nil` when they do.
    static func doubleQuotedProblem(_ bytes: [UInt8]) -> String? {
        for (index, byte) in bytes.enumerated() {
            switch byte {
            case UInt8(ascii: "\""): return "a double quote"
            case UInt8(ascii: "\\"): return "a backslash (inside double quotes sh, python-dotenv and node each read backslashes differently)"
            case UInt8(ascii: "`"): return "a backtick (sh runs a command inside double quotes)"
            case UInt8(ascii: "$"):
                if index + 1 < bytes.count, !literalAfterDollar.contains(bytes[index + 1]) {
                    return "a '$' that sh expands inside double quotes"
                }
            default: continue
            }
        }
        return nil
    }

    /// Bytes after which `$` inside double quotes is literal in bash and dash (checked
    /// character by character against both). Excluded among others: letters, digits and `_`
    /// (a name), `{` and `(` (expansions), `@*#?-$!` (special parameters), `[` (bash's
    /// `$[…]` arithmetic), `"` and `\`.
    static let literalAfterDollar: Set<UInt8> = Set(" \t\n%&')+,./:;<=>]^|}~".utf8)

    /// `true` when python-dotenv's interpolation pattern `\$\{[^}:]*(:-[^}]*)?\}` matches.
    static func containsInterpolation(_ bytes: [UInt8]) -> Bool {
        let dollar = UInt8(ascii: "$"), open = UInt8(ascii: "{"), close = UInt8(ascii: "}")
        let colon = UInt8(ascii: ":"), dash = UInt8(ascii: "-")
        var index = 0
        while index + 1 < bytes.count {
            defer { index += 1 }
            guard bytes[index] == dollar, bytes[index + 1] == open else { continue }
            var cursor = index + 2
            while cursor < bytes.count, bytes[cursor] != close, bytes[cursor] != colon { cursor += 1 }
            guard cursor < bytes.count else { return false }
            if bytes[cursor] == close { return true }
            // A ':' ends the name; only ":-default}" completes the pattern.
            guard cursor + 1 < bytes.count, bytes[cursor + 1] == dash else { continue }
            cursor += 2
            while cursor < bytes.count, bytes[cursor] != close { cursor += 1 }
            if cursor < bytes.count { return true }
        }
        return false
    }
}

extension UInt8 {
    var isASCIILetter: Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self) }
    var isASCIIDigit: Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) }
}

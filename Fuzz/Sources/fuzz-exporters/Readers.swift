// In-process reference models of the programs that read what KeywardExporters writes. Each is
// written from the reader's own rules (its source or its manual, named on each model), not from
// the writer's code: the fuzz target checks the writer against them. Each returns the variables
// the reader would end up with, byte for byte, or `nil` where the real reader fails on the file
// or would do something the model does not follow (run a command, expand a variable): for the
// fuzz target that is as bad as a wrong value, unless the writer refused.

typealias Variables = [String: [UInt8]]

private let newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r"), space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
private let backslash = UInt8(ascii: "\\"), singleQuote = UInt8(ascii: "'"), doubleQuote = UInt8(ascii: "\""), hash = UInt8(ascii: "#")
private let dollar = UInt8(ascii: "$"), backtick = UInt8(ascii: "`"), equals = UInt8(ascii: "=")

private func isNameStart(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || byte == UInt8(ascii: "_")
}

private func isNameByte(_ byte: UInt8) -> Bool { isNameStart(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

/// What an environment variable can hold: a C string, so the bytes before the first NUL.
private func environmentValue(_ bytes: [UInt8]) -> [UInt8] {
    if let nul = bytes.firstIndex(of: 0) { return Array(bytes[..<nul]) }
    return bytes
}

// MARK: - POSIX sh (bash 5.2, dash 0.5): `set -a; . FILE`

/// A POSIX shell sourcing the file with `set -a` (XCU 2.2 "Quoting", 2.3 "Token Recognition",
/// 2.6 "Word Expansions", 2.9.1 "Simple Commands"; `export` from XCU's special built-ins).
///
/// Followed: comments, blanks and newlines between commands, `;`, words built of unquoted
/// characters, backslash escapes (a backslash-newline removed), single quotes (every byte
/// literal), double quotes (a backslash escapes only `$`, `` ` ``, `"`, `\` and newline; `$`
/// starting a parameter, command or arithmetic expansion is an expansion, otherwise literal).
/// A command is assignments only (`NAME=word`, the name and `=` unquoted), or `export`
/// followed by assignments. Not followed (answered `nil`): any expansion, a backtick, tilde
/// expansion, `$'…'` and `$"…"`, operators (`&|<>()`), any other command, an unclosed quote.
enum ShellReader {
    static func read(_ file: [UInt8]) -> Variables? {
        var variables: Variables = [:]
        var index = 0
        let count = file.count
        while index < count {
            // One command: words up to a newline or `;`.
            var words: [(text: [UInt8], assignmentNameEnd: Int?)] = []
            while index < count {
                let byte = file[index]
                if byte == space || byte == tab { index += 1; continue }
                if byte == newline || byte == UInt8(ascii: ";") { index += 1; break }
                if byte == hash {  // a comment: only where a word would start
                    while index < count, file[index] != newline { index += 1 }
                    continue
                }
                guard let word = readWord(file, &index) else { return nil }
                words.append(word)
            }
            guard !words.isEmpty else { continue }
            var assignments = words[...]
            if words[0].text == Array("export".utf8), words[0].assignmentNameEnd == nil { assignments = words.dropFirst() }
            for word in assignments {
                guard let nameEnd = word.assignmentNameEnd else { return nil }  // a command the model does not run
                let name = String(decoding: word.text[..<nameEnd], as: UTF8.self)
                variables[name] = environmentValue(Array(word.text[(nameEnd + 1)...]))
            }
        }
        return variables
    }

    /// One word at `index` after quote removal, and where its `NAME=` prefix ends when the word
    /// starts with an unquoted assignment name and `=`.
    private static func readWord(_ file: [UInt8], _ index: inout Int) -> (text: [UInt8], assignmentNameEnd: Int?)? {
        var text: [UInt8] = []
        var nameEnd: Int?
        var prefixUnquoted = true  // every byte so far came unquoted and forms a name
        let count = file.count
        let start = index
        while index < count {
            let byte = file[index]
            switch byte {
            case space, tab, newline, UInt8(ascii: ";"):
                return (text, nameEnd)
            case UInt8(ascii: "&"), UInt8(ascii: "|"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "("), UInt8(ascii: ")"), backtick:
                return nil
            case backslash:
                if nameEnd == nil { prefixUnquoted = false }
                guard index + 1 < count else { text.append(backslash); index += 1; continue }
                if file[index + 1] != newline { text.append(file[index + 1]) }
                index += 2
            case singleQuote:
                if nameEnd == nil { prefixUnquoted = false }
                guard let close = file[(index + 1)...].firstIndex(of: singleQuote) else { return nil }
                text += file[(index + 1)..<close]
                index = close + 1
            case doubleQuote:
                if nameEnd == nil { prefixUnquoted = false }
                index += 1
                var closed = false
                while index < count {
                    let inner = file[index]
                    if inner == doubleQuote { closed = true; index += 1; break }
                    if inner == backtick { return nil }
                    if inner == backslash, index + 1 < count {
                        let next = file[index + 1]
                        if next == newline { index += 2; continue }
                        if [dollar, backtick, doubleQuote, backslash].contains(next) { text.append(next); index += 2; continue }
                        text.append(backslash)
                        index += 1
                        continue
                    }
                    if inner == dollar, index + 1 < count, startsExpansion(file[index + 1], quoted: true) { return nil }
                    text.append(inner)
                    index += 1
                }
                guard closed else { return nil }
            case dollar:
                if index + 1 < count, startsExpansion(file[index + 1], quoted: false) { return nil }
                if nameEnd == nil { prefixUnquoted = false }
                text.append(byte)
                index += 1
            case UInt8(ascii: "~"):
                // Tilde expansion: at the start of a word, or of an assignment's value or after
                // a `:` in it (bash and dash both expand there).
                if index == start || (nameEnd != nil && (text.count == nameEnd! + 1 || text.last == UInt8(ascii: ":"))) { return nil }
                text.append(byte)
                index += 1
            case equals where nameEnd == nil && prefixUnquoted && !text.isEmpty:
                nameEnd = text.count
                text.append(byte)
                index += 1
            default:
                if nameEnd == nil {
                    prefixUnquoted = prefixUnquoted && (text.isEmpty ? isNameStart(byte) : isNameByte(byte))
                }
                text.append(byte)
                index += 1
            }
        }
        return (text, nameEnd)
    }

    /// Whether `$` followed by `next` expands: a name, a digit, a special parameter
    /// (`@*#?-$!`), `{` and `(` (POSIX), `[` (bash's old arithmetic); unquoted also `'` and `"`
    /// (bash's `$'…'` and `$"…"`).
    private static func startsExpansion(_ next: UInt8, quoted: Bool) -> Bool {
        if isNameByte(next) || Array("@*#?-$!{([".utf8).contains(next) { return true }
        return !quoted && (next == singleQuote || next == doubleQuote)
    }
}

// MARK: - python-dotenv 1.2 (`dotenv_values`, interpolation on)

/// python-dotenv 1.2's `dotenv_values(path)`: the file decoded as UTF-8 with universal newlines,
/// parsed binding by binding with `dotenv/parser.py`'s regular expressions (single-quoted values
/// decode `\\` and `\'`; double-quoted ones `\\ \' \" \a \b \f \n \r \t \v`; the quoted-value
/// patterns backtrack as Python's `re` does), then `${NAME}` and `${NAME:-default}` resolved
/// against the process environment (`environment`) and the values before (`main.resolve_variables`).
/// `nil` when the file is not UTF-8.
enum PythonDotenvReader {
    static let environment: [String: [UInt8]] = ["PATH": Array("/usr/local/bin:/usr/bin:/bin".utf8), "LC_ALL": Array("C.UTF-8".utf8)]

    static func read(_ raw: [UInt8]) -> Variables? {
        guard String(validating: raw, as: UTF8.self) != nil else { return nil }
        // Universal newlines: "\r\n" and "\r" read as "\n".
        var file: [UInt8] = []
        file.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            if raw[i] == cr {
                file.append(newline)
                i += (i + 1 < raw.count && raw[i + 1] == newline) ? 2 : 1
            } else {
                file.append(raw[i])
                i += 1
            }
        }
        var bindings: [(String, [UInt8]?)] = []
        var index = 0
        let isBlank: (UInt8) -> Bool = { $0 == space || $0 == tab || $0 == 0x0B || $0 == 0x0C }
        // Python's `\s` over str also matches these (ASCII subset used by the patterns here).
        let isSpace: (UInt8) -> Bool = { isBlank($0) || $0 == newline || $0 == cr || (0x1C...0x1F).contains($0) }
        while index < file.count {
            let mark = index
            func restOfLine() {
                index = mark
                while index < file.count, file[index] != newline { index += 1 }
                if index < file.count { index += 1 }
            }
            while index < file.count, isSpace(file[index]) { index += 1 }  // _multiline_whitespace
            guard index < file.count else { break }
            // _export
            let export = Array("export".utf8)
            if file.count - index > export.count, Array(file[index..<index + export.count]) == export, isBlank(file[index + export.count]) {
                index += export.count
                while index < file.count, isBlank(file[index]) { index += 1 }
            }
            // parse_key
            var key: String?
            if file[index] == hash {
                key = nil
            } else if file[index] == singleQuote {
                guard let close = file[(index + 1)...].firstIndex(of: singleQuote), close > index + 1 else { restOfLine(); continue }
                key = String(decoding: file[(index + 1)..<close], as: UTF8.self)
                index = close + 1
            } else {
                let start = index
                while index < file.count, file[index] != equals, file[index] != hash, !isSpace(file[index]) { index += 1 }
                guard index > start else { restOfLine(); continue }
                key = String(decoding: file[start..<index], as: UTF8.self)
            }
            while index < file.count, isBlank(file[index]) { index += 1 }  // _whitespace
            var value: [UInt8]?
            if index < file.count, file[index] == equals {
                index += 1
                while index < file.count, isBlank(file[index]) { index += 1 }
                // parse_value
                let first: UInt8? = index < file.count ? file[index] : nil
                if first == singleQuote || first == doubleQuote {
                    guard let end = quotedEnd(file, from: index + 1, quote: first!) else { restOfLine(); continue }
                    let inner = Array(file[(index + 1)..<(end - 1)])
                    value = decodeEscapes(inner, double: first == doubleQuote)
                    index = end
                } else if first == nil || first == newline {
                    value = []
                } else {
                    let start = index
                    while index < file.count, file[index] != newline { index += 1 }
                    value = stripUnquoted(Array(file[start..<index]), isSpace: isSpace)
                }
            }
            // _comment, then _end_of_line
            var cursor = index
            while cursor < file.count, isBlank(file[cursor]) { cursor += 1 }
            if cursor < file.count, file[cursor] == hash {
                while cursor < file.count, file[cursor] != newline { cursor += 1 }
                index = cursor
            }
            while index < file.count, isBlank(file[index]) { index += 1 }
            if index < file.count {
                guard file[index] == newline else { restOfLine(); continue }
                index += 1
            }
            if let key { bindings.append((key, value)) }
        }
        // resolve_variables(values, override=True)
        var resolved: [String: [UInt8]?] = [:]
        var order: [String] = []
        for (name, value) in bindings {
            if resolved[name] == nil { order.append(name) }
            guard let value else { resolved[name] = .some(nil); continue }
            resolved[name] = .some(interpolate(value, resolved))
        }
        var result: Variables = [:]
        for name in order { if let value = resolved[name] ?? nil { result[name] = value } }
        return result
    }

    /// Where `'((?:\\'|[^'])*)'` (or its `"` twin), started just after the opening quote at
    /// `from`, ends (just after the closing quote), as Python's backtracking engine matches it:
    /// each repetition tries the escaped quote first, then one other byte, then stops.
    private static func quotedEnd(_ file: [UInt8], from: Int, quote: UInt8) -> Int? {
        var failed = Set<Int>()
        // Iterative depth-first search over the engine's choices, most preferred first.
        var stack: [(position: Int, choice: Int)] = [(from, 0)]
        while var top = stack.popLast() {
            let p = top.position
            if top.choice == 0 {
                top.choice = 1
                stack.append(top)
                if p + 1 < file.count, file[p] == backslash, file[p + 1] == quote, !failed.contains(p + 2) { stack.append((p + 2, 0)); continue }
            } else if top.choice == 1 {
                top.choice = 2
                stack.append(top)
                if p < file.count, file[p] != quote, !failed.contains(p + 1) { stack.append((p + 1, 0)); continue }
            } else {
                if p < file.count, file[p] == quote { return p + 1 }
                failed.insert(p)
            }
        }
        return nil
    }

    /// `decode_escapes`: left to right, `\\` and `\'` (single) or `\\[\\'"abfnrtv]` (double).
    private static func decodeEscapes(_ bytes: [UInt8], double: Bool) -> [UInt8] {
        let table: [UInt8: UInt8] = double
            ? [backslash: backslash, singleQuote: singleQuote, doubleQuote: doubleQuote, UInt8(ascii: "a"): 0x07, UInt8(ascii: "b"): 0x08,
               UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09, UInt8(ascii: "v"): 0x0B]
            : [backslash: backslash, singleQuote: singleQuote]
        var output: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == backslash, i + 1 < bytes.count, let decoded = table[bytes[i + 1]] {
                output.append(decoded)
                i += 2
            } else {
                output.append(bytes[i])
                i += 1
            }
        }
        return output
    }

    /// `parse_unquoted_value`: `re.sub(r"\s+#.*", "", part).rstrip()`.
    private static func stripUnquoted(_ part: [UInt8], isSpace: (UInt8) -> Bool) -> [UInt8] {
        var cut = part.count
        var i = 0
        while i < part.count {
            if isSpace(part[i]) {
                var j = i
                while j < part.count, isSpace(part[j]) { j += 1 }
                if j < part.count, part[j] == hash { cut = i; break }
                i = j
            } else {
                i += 1
            }
        }
        var value = Array(part[..<cut])
        while let last = value.last, isSpace(last) { value.removeLast() }
        return value
    }

    /// `\$\{(?P<name>[^\}:]*)(?::-(?P<default>[^\}]*))?\}` replaced by the value of `name`
    /// (earlier bindings over the environment), else `default`, else nothing.
    private static func interpolate(_ value: [UInt8], _ earlier: [String: [UInt8]?]) -> [UInt8] {
        var output: [UInt8] = []
        var i = 0
        let close = UInt8(ascii: "}"), colon = UInt8(ascii: ":")
        while i < value.count {
            if value[i] == dollar, i + 1 < value.count, value[i + 1] == UInt8(ascii: "{") {
                var j = i + 2
                while j < value.count, value[j] != close, value[j] != colon { j += 1 }
                var matchEnd: Int?
                var defaultValue: [UInt8]?
                let name = String(decoding: value[(i + 2)..<min(j, value.count)], as: UTF8.self)
                if j < value.count, value[j] == close {
                    matchEnd = j + 1
                } else if j + 1 < value.count, value[j] == colon, value[j + 1] == UInt8(ascii: "-") {
                    var k = j + 2
                    while k < value.count, value[k] != close { k += 1 }
                    if k < value.count { matchEnd = k + 1; defaultValue = Array(value[(j + 2)..<k]) }
                }
                if let matchEnd {
                    let found: [UInt8]? = earlier[name].map { $0 } ?? environment[name]
                    output += found ?? defaultValue ?? []
                    i = matchEnd
                    continue
                }
            }
            output.append(value[i])
            i += 1
        }
        return output
    }
}

// MARK: - node --env-file (Node 20.20: src/node_dotenv.cc, Dotenv::ParseContent)

/// Node's `--env-file` parser, step by step as `Dotenv::ParseContent` in Node 20.20 does it:
/// every `\r` removed from the file; the content trimmed of spaces; `#` lines and empty lines
/// skipped; the key is everything before the next `=` (spaces trimmed, `export ` dropped); a
/// value starting with `"` whose closing `"` exists (anywhere later) is the text between, with
/// each `\n` (backslash, n) turned into a newline; a value starting with `'`, `"` or `` ` ``
/// with a closing twin is the text between; an unclosed one is the rest of the line; any other
/// value is the line up to a `#`, trimmed of spaces. Values reach `process.env` as C strings,
/// and JavaScript reads them as UTF-8 (bytes that are not UTF-8 become U+FFFD).
enum NodeEnvFileReader {
    static func read(_ raw: [UInt8]) -> Variables? {
        var store: [String: [UInt8]] = [:]
        func put(_ key: ArraySlice<UInt8>, _ value: some Collection<UInt8>) {
            let text = String(decoding: environmentValue(Array(value)), as: UTF8.self)
            store[String(decoding: key, as: UTF8.self)] = Array(text.utf8)
        }
        let lines = raw.filter { $0 != cr }
        func trim(_ slice: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            var s = slice
            while s.first == space { s = s.dropFirst() }
            while s.last == space { s = s.dropLast() }
            return s
        }
        var content = trim(lines[...])
        while !content.isEmpty {
            if content.first == newline || content.first == hash {
                if let nl = content.firstIndex(of: newline) {
                    content = content[(nl + 1)...]
                    continue
                }
            }
            guard let eq = content.firstIndex(of: equals) else { break }
            var key = trim(content[..<eq])
            content = content[(eq + 1)...]
            if content.isEmpty || content.first == newline {
                put(key, [])
                continue
            }
            content = trim(content)
            if key.isEmpty { break }
            if key.starts(with: Array("export ".utf8)) { key = trim(key.dropFirst(7)) }
            if content.isEmpty { put(key, []); break }
            let front = content.first!
            if front == doubleQuote, let closing = content.dropFirst().firstIndex(of: doubleQuote) {
                var value = Array(content[(content.startIndex + 1)..<closing])
                var pos = 0
                while pos + 1 < value.count {
                    if value[pos] == backslash, value[pos + 1] == UInt8(ascii: "n") {
                        value.replaceSubrange(pos..<(pos + 2), with: [newline])
                    }
                    pos += 1
                }
                put(key, value)
                if let nl = content[(closing + 1)...].firstIndex(of: newline) { content = content[(nl + 1)...] } else { content = [] }
                continue
            }
            if front == singleQuote || front == doubleQuote || front == backtick {
                if let closing = content.dropFirst().firstIndex(of: front) {
                    put(key, content[(content.startIndex + 1)..<closing])
                    if let nl = content[(closing + 1)...].firstIndex(of: newline) { content = content[(nl + 1)...] } else { content = [] }
                } else if let nl = content.firstIndex(of: newline) {
                    put(key, content[..<nl])
                    content = content[nl...]
                } else {
                    put(key, content)
                    break
                }
            } else {
                if let nl = content.firstIndex(of: newline) {
                    var value = content[..<nl]
                    if let h = value.firstIndex(of: hash) { value = value[..<h] }
                    put(key, trim(value))
                    content = content[(nl + 1)...]
                } else {
                    var value = content
                    if let h = value.firstIndex(of: hash) { value = value[..<h] }
                    put(key, trim(value))
                    content = []
                }
            }
            content = trim(content)
        }
        return store
    }
}

// MARK: - docker run --env-file (Docker CLI 28: opts/envfile.go, parseKeyValueFile)

/// The Docker CLI's env-file reader: the file read with `bufio.Scanner` (lines split at `\n`,
/// one `\r` before it dropped; a line longer than the 64 KiB buffer stops the read with an
/// error), a file that is not UTF-8 refused, a leading UTF-8 BOM on the first line dropped;
/// each line trimmed of leading white space (Go's `unicode.IsSpace`), skipped when then empty
/// or starting with `#`; split at the first `=`; a name holding white space refused; the value
/// everything after `=`, byte for byte. A line without `=` takes the variable from the
/// environment (here: none, so it is left out).
enum DockerEnvFileReader {
    static let maximumTokenSize = 64 * 1024

    static func read(_ file: [UInt8]) -> Variables? {
        guard String(validating: file, as: UTF8.self) != nil else { return nil }
        var result: Variables = [:]
        var start = 0
        var lineNumber = 0
        while start < file.count {
            let end = file[start...].firstIndex(of: newline)
            // The scanner needs the line and its newline in its buffer; the last line (no
            // newline) only itself.
            let length = (end ?? file.count) - start
            // The scanner fails when its full 64 KiB buffer holds no newline: a line of more
            // than 65,535 bytes, whether a newline follows it or the file ends.
            if length + 1 > maximumTokenSize { return nil }
            var line = Array(file[start..<(end ?? file.count)])
            start = (end ?? file.count) + 1
            lineNumber += 1
            if line.last == cr { line.removeLast() }  // ScanLines' dropCR, also on a last line
            if lineNumber == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
            let text = String(decoding: line, as: UTF8.self)
            let trimmed = text.drop(while: { $0.unicodeScalars.allSatisfy(isGoSpace) })
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            let bytes = Array(trimmed.utf8)
            guard let eq = bytes.firstIndex(of: equals) else { continue }
            let name = String(decoding: bytes[..<eq], as: UTF8.self)
            if name.utf8.contains(space) || name.utf8.contains(tab) || name.isEmpty { return nil }  // "variable contains whitespaces"
            result[name] = environmentValue(Array(bytes[(eq + 1)...]))
        }
        return result
    }

    /// Go's `unicode.IsSpace`.
    static func isGoSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }
}

// MARK: - systemd EnvironmentFile= (systemd.exec(5))

/// systemd's `EnvironmentFile=`, from the rules systemd.exec(5) gives: the file UTF-8 of valid
/// characters (no NUL, no U+FEFF, no noncharacter), else unreadable; lines separated by
/// newlines; empty lines, lines without `=` and lines starting with `;` or `#` ignored; the key
/// before the first `=` (spaces and tabs around it dropped); an unquoted value with leading and
/// trailing white space (space, tab, carriage return) dropped, where a backslash keeps the next
/// character and a backslash at the end of a line continues the value on the next; a value in
/// `'` verbatim, across lines; a value in `"` across lines, where a backslash before `` "\`$ ``
/// keeps that character, before a newline continues the line (both dropped), before anything
/// else is kept with it; white space after the closing quote ignored; anything else after it
/// is not described, so the model refuses the file. A later assignment wins.
enum SystemdEnvironmentFileReader {
    static func read(_ file: [UInt8]) -> Variables? {
        guard !file.contains(0), let text = String(validating: file, as: UTF8.self) else { return nil }
        for scalar in text.unicodeScalars where scalar.value == 0xFEFF || (0xFDD0...0xFDEF).contains(scalar.value) || scalar.value & 0xFFFE == 0xFFFE {
            return nil
        }
        let isWhite: (UInt8) -> Bool = { $0 == space || $0 == tab || $0 == cr }
        var result: Variables = [:]
        var index = 0
        while index < file.count {
            let lineEnd = file[index...].firstIndex(of: newline) ?? file.count
            var first = index
            while first < lineEnd, isWhite(file[first]) { first += 1 }
            guard first < lineEnd, file[first] != hash, file[first] != UInt8(ascii: ";"),
                  let eq = file[index..<lineEnd].firstIndex(of: equals) else {
                index = lineEnd + 1
                continue
            }
            var keyBytes = Array(file[first..<eq])
            while let last = keyBytes.last, last == space || last == tab { keyBytes.removeLast() }
            let key = String(decoding: keyBytes, as: UTF8.self)
            var cursor = eq + 1
            while cursor < file.count, file[cursor] != newline, isWhite(file[cursor]) { cursor += 1 }
            var value: [UInt8] = []
            if cursor < file.count, file[cursor] == singleQuote || file[cursor] == doubleQuote {
                let quote = file[cursor]
                cursor += 1
                var closed = false
                while cursor < file.count {
                    let byte = file[cursor]
                    if byte == quote { closed = true; cursor += 1; break }
                    if quote == doubleQuote, byte == backslash, cursor + 1 < file.count {
                        let next = file[cursor + 1]
                        if [doubleQuote, backslash, backtick, dollar].contains(next) { value.append(next) } else if next != newline { value += [byte, next] }
                        cursor += 2
                        continue
                    }
                    value.append(byte)
                    cursor += 1
                }
                guard closed else { return nil }
                let rest = file[cursor...].firstIndex(of: newline) ?? file.count
                guard file[cursor..<rest].allSatisfy(isWhite) else { return nil }
                index = rest + 1
            } else {
                while cursor < file.count, file[cursor] != newline {
                    if file[cursor] == backslash {
                        if cursor + 1 < file.count, file[cursor + 1] != newline { value.append(file[cursor + 1]) }
                        cursor += 2
                        continue
                    }
                    value.append(file[cursor])
                    cursor += 1
                }
                while let last = value.last, isWhite(last) { value.removeLast() }
                index = cursor + 1
            }
            result[key] = value
        }
        return result
    }
}

/// The `systemd` dialect (``DotenvFormat/Dialect/systemd``): what `EnvironmentFile=` reads,
/// per systemd.exec(5), "EnvironmentFile=".
///
/// The rules used, from that page:
/// - the file is UTF-8; valid characters are Unicode scalar values other than noncharacters,
///   U+0000 and U+FEFF; control codes other than NUL are allowed;
/// - a `'`-quoted value may span lines and holds any character but `'` verbatim, with no
///   escapes;
/// - a `"`-quoted value may span lines; a backslash before one of `` "\`$ `` keeps that
///   character, a backslash before a newline is a continuation (both dropped), and a backslash
///   before anything else is kept with the character;
/// - whitespace outside the quotes is discarded (so an unquoted value would lose its leading
///   and trailing spaces, tabs and carriage returns; Keyward always quotes).
///
/// So a value with no `'` is written in single quotes, and any other in double quotes with
/// `` "\`$ `` escaped (a newline inside is then always literal, never after a backslash).
/// Refused, naming the key, never the value: a NUL byte, bytes that are not UTF-8, U+FEFF, and
/// Unicode noncharacters (U+FDD0...U+FDEF and the last two code points of every plane).
enum SystemdEnvQuoting {
    static func quote(_ value: UnsafeRawBufferPointer) -> Result<[UInt8], Refusal> {
        let bytes = Array(value.bindMemory(to: UInt8.self))
        if bytes.contains(0) {
            return .failure(Refusal(reason: "it contains a NUL byte, which systemd does not allow in an environment file"))
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(Refusal(reason: "it is not valid UTF-8, which systemd requires of an environment file"))
        }
        for scalar in text.unicodeScalars {
            if scalar.value == 0xFEFF {
                return .failure(Refusal(reason: "it contains U+FEFF (byte order mark), which systemd does not allow in an environment file"))
            }
            if isNoncharacter(scalar) {
                return .failure(Refusal(reason: "it contains a Unicode noncharacter, which systemd does not allow in an environment file"))
            }
        }
        let single = UInt8(ascii: "'"), double = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        if !bytes.contains(single) {
            return .success([single] + bytes + [single])
        }
        let escaped: Set<UInt8> = [double, backslash, UInt8(ascii: "`"), UInt8(ascii: "$")]
        var output: [UInt8] = [double]
        for byte in bytes {
            if escaped.contains(byte) { output.append(backslash) }
            output.append(byte)
        }
        output.append(double)
        return .success(output)
    }

    /// Unicode's 66 noncharacters (The Unicode Standard, section 23.7).
    static func isNoncharacter(_ scalar: Unicode.Scalar) -> Bool {
        (0xFDD0...0xFDEF).contains(scalar.value) || scalar.value & 0xFFFE == 0xFFFE
    }
}

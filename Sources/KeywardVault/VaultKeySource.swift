import Foundation
import KeywardCore

/// What unlocks a vault: a key file or a passphrase (DESIGN.md, "Unlocking the vault").
public enum VaultKeySource: Sendable {
    /// A file holding 32 random bytes in base64 (`KEYWARD_KEY_FILE`); the slot's key-encryption
    /// key is derived from it with HKDF-SHA256.
    case keyFile(String)
    /// A passphrase; the slot's key-encryption key is derived from it with Argon2id.
    case passphrase(SecretValue)

    /// Reads and decodes a key file: base64 of exactly 32 bytes, surrounding whitespace ignored.
    /// - Throws: ``VaultError`` `.locked` (exit 4, as DESIGN.md has it for a vault that cannot be
    ///   unlocked with what was given) when the file is unreadable or malformed; the message never
    ///   includes the file's contents.
    static func readKeyFile(_ path: String) throws -> SecureBytes {
        guard var data = FileManager.default.contents(atPath: path) else {
            throw VaultError(
                .locked,
                "cannot read the key file \(path); to make a new one use `keyward vault init --new-key-file \(path)` "
                    + "or `keyward vault key add --new-key-file \(path)`")
        }
        defer { data.resetBytes(in: 0..<data.count) }
        var text = [UInt8](data)
        defer { SecureBytes.wipe(&text) }
        while let last = text.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { text.removeLast() }
        while let first = text.first, first == 0x0A || first == 0x0D || first == 0x20 || first == 0x09 { text.removeFirst() }
        guard var decoded = Data(base64Encoded: Data(text)) else {
            throw VaultError(.locked, "the key file \(path) is not base64 of 32 bytes")
        }
        defer { decoded.resetBytes(in: 0..<decoded.count) }
        guard decoded.count == 32 else {
            throw VaultError(.locked, "the key file \(path) must hold 32 bytes (base64), it holds \(decoded.count)")
        }
        return SecureBytes(copying: decoded)
    }

    /// Creates a new key file: 32 strong random bytes, base64, mode 0600, refusing to replace
    /// an existing file or follow a symbolic link. Missing directories on the way are created
    /// with mode 0700 (`vault init --new-key-file ~/.config/keyward/vault.key`
    /// on a fresh machine).
    /// - Throws: ``VaultError`` `.invalidInput` when the file exists, `.io` when it cannot be written.
    public static func createKeyFile(at path: String) throws {
        try Gcrypt.ensureInitialized()
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try SafeFiles.ensurePrivateDirectory(directory) }
        let key = SecureBytes.random(count: 32)
        var encoded = Array(key.withUnsafeBytes { Data($0) }.base64EncodedString().utf8) + [0x0A]
        defer { SecureBytes.wipe(&encoded) }
        try SafeFiles.createExclusive(path: path, contents: encoded)
    }
}

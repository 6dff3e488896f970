import Foundation
import KeywardCore
import KeywardVault

/// How the vault is unlocked (DESIGN.md, "Unlocking the vault"), in this order:
/// `$KEYWARD_KEY_FILE`, `$KEYWARD_PASSPHRASE`, `$KEYWARD_PASSPHRASE_FILE`, then a prompt.
public enum VaultUnlock {
    /// The variables that unlock (or re-key) the vault: a process Keyward starts never sees them.
    public static let variables: Set<String> = ["KEYWARD_KEY_FILE", "KEYWARD_PASSPHRASE", "KEYWARD_PASSPHRASE_FILE", "KEYWARD_NEW_PASSPHRASE"]

    /// The first unlock source that `environment` names, else what `prompt` returns.
    ///
    /// Every way of failing here is exit 4 (DESIGN.md, "Unlocking the vault"): a key or passphrase file that is missing, unreadable, or open to group or others
    /// (naming the `chmod` that fixes it); an empty passphrase, however it came.
    ///
    /// - Parameters:
    ///   - environment: where the `KEYWARD_*` unlock variables are read.
    ///   - prompt: asks for the passphrase with the given prompt text; `nil` when there is no
    ///     terminal to ask on.
    /// - Throws: ``VaultError`` `.locked` or `.unsafeFile` (exit 4); `.locked` lists the sources
    ///   when none is available.
    public static func keySource(environment: [String: String], prompt: (String) throws -> SecretValue?) throws -> VaultKeySource {
        if let file = environment["KEYWARD_KEY_FILE"], !file.isEmpty {
            try checkUnlockFile(file, variable: "KEYWARD_KEY_FILE")
            return .keyFile(file)
        }
        if let passphrase = environment["KEYWARD_PASSPHRASE"] {
            guard !passphrase.isEmpty else { throw emptyPassphrase("KEYWARD_PASSPHRASE is set but empty") }
            return .passphrase(SecretValue(utf8: passphrase))
        }
        if let file = environment["KEYWARD_PASSPHRASE_FILE"], !file.isEmpty {
            try checkUnlockFile(file, variable: "KEYWARD_PASSPHRASE_FILE")
            guard let data = FileManager.default.contents(atPath: file) else {
                throw VaultError(.locked, "KEYWARD_PASSPHRASE_FILE \(file) cannot be read")
            }
            let bytes = droppingOneNewline(Array(data))
            guard !bytes.isEmpty else { throw emptyPassphrase("the file \(file) (KEYWARD_PASSPHRASE_FILE) is empty") }
            return .passphrase(SecretValue(bytes: bytes))
        }
        if let typed = try prompt("Vault passphrase: ") {
            guard !typed.isEmpty else { throw emptyPassphrase("nothing was typed at the prompt") }
            return .passphrase(typed)
        }
        throw VaultError(
            .locked,
            "the vault is locked and there is no way to unlock it: set KEYWARD_KEY_FILE (a key file), KEYWARD_PASSPHRASE, "
                + "or KEYWARD_PASSPHRASE_FILE, or run on a terminal to be prompted")
    }

    /// Whether `environment` names an unlock source (so ``keySource(environment:prompt:)``
    /// would not prompt).
    public static func hasSource(in environment: [String: String]) -> Bool {
        environment["KEYWARD_KEY_FILE"].map { !$0.isEmpty } == true
            || environment["KEYWARD_PASSPHRASE"] != nil
            || environment["KEYWARD_PASSPHRASE_FILE"].map { !$0.isEmpty } == true
    }

    /// Refuses an unlock file (`KEYWARD_KEY_FILE`, `KEYWARD_PASSPHRASE_FILE`) that does not
    /// exist or breaks DESIGN.md's rule for files holding a secret (``SecretFileRule``).
    ///
    /// - Throws: ``VaultError`` `.locked` (missing) or `.unsafeFile` (open to others): exit 4.
    public static func checkUnlockFile(_ path: String, variable: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw VaultError(.locked, "\(variable) names \(path), which does not exist"
                + (variable == "KEYWARD_KEY_FILE" ? "; create one with `keyward vault init --new-key-file \(path)` (a new vault) or `keyward vault key add --new-key-file \(path)`" : ""))
        }
        if let problem = SecretFileRule.problem(path: path, what: variable) {
            throw VaultError(.unsafeFile, problem)
        }
    }

    /// An empty passphrase never unlocks or creates anything: exit 4, whatever gave it.
    public static func emptyPassphrase(_ how: String) -> VaultError {
        VaultError(.locked, "empty passphrase: \(how); nothing was unlocked")
    }

    /// `bytes` without one trailing `\n` or `\r\n` (a passphrase file's last line).
    public static func droppingOneNewline(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        if bytes.last == 0x0A {
            bytes.removeLast()
            if bytes.last == 0x0D { bytes.removeLast() }
        }
        return bytes
    }
}

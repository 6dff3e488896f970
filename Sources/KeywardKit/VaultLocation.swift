import Foundation
import KeywardVault

/// Where the vault is (DESIGN.md, "Files and defaults"): `--vault`, else `$KEYWARD_VAULT`, else
/// the configuration's `vault.path`, else `$XDG_DATA_HOME/keyward/vault.db`. Relative paths from
/// the flag or the variable resolve against the working directory.
public enum VaultLocation {
    /// Which rule chose the vault path (`config check` prints it as `vault.source`).
    public enum Source: String, Codable, Sendable {
        /// `--vault` (``KeywardSession/Options/vaultPath``).
        case flag
        /// `$KEYWARD_VAULT`.
        case env
        /// The configuration's `vault.path`.
        case config
        /// `$XDG_DATA_HOME/keyward/vault.db` (`~/.local/share/keyward/vault.db`).
        case `default`
    }

    /// The absolute vault path the precedence chooses.
    ///
    /// - Parameters:
    ///   - flag: the `--vault` value, if any (empty counts as absent).
    ///   - configured: the configuration's `vault.path` (already absolute: the loader resolves
    ///     it against the configuration's directory), if any.
    ///   - environment: where `KEYWARD_VAULT` and `XDG_DATA_HOME` are read.
    public static func resolve(flag: String?, configured: String?, environment: [String: String]) -> String {
        resolveWithSource(flag: flag, configured: configured, environment: environment).path
    }

    /// ``resolve(flag:configured:environment:)``, also saying which rule chose the path.
    public static func resolveWithSource(flag: String?, configured: String?, environment: [String: String]) -> (path: String, source: Source) {
        let chosen: (String, Source)
        if let flag, !flag.isEmpty {
            chosen = (flag, .flag)
        } else if let variable = environment["KEYWARD_VAULT"], !variable.isEmpty {
            chosen = (variable, .env)
        } else if let configured {
            chosen = (configured, .config)
        } else {
            chosen = (VaultOptions.defaultVaultPath(environment: environment), .default)
        }
        let raw = chosen.0
        return (raw.hasPrefix("/") ? raw : FileManager.default.currentDirectoryPath + "/" + raw, chosen.1)
    }

    /// Refuses a vault that does not exist: exit 4 for every command (DESIGN.md, "Exit codes":
    /// the vault cannot be unlocked), before any key is asked for.
    ///
    /// - Throws: ``VaultError`` `.locked`.
    public static func requireVault(at path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw VaultError(.locked, "no vault at \(path): create one with `keyward vault init` (with --vault or vault.path to choose where)")
        }
    }
}

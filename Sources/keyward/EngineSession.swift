import Foundation
import Synchronization
import KeywardCore
import KeywardVault
import Logging

/// What the engine commands (sync, token, export, status, audit, login) share: the
/// configuration, the unlocked vault and the dispatcher built from them.
struct EngineSession: CustomStringConvertible {
    /// Never the dispatcher's environment (round 2, item 1).
    var description: String { "EngineSession(\(dispatcher))" }

    let dispatcher: Dispatcher
    let vault: Vault
    let context: OperationContext

    /// Loads the configuration, shows its warnings, opens the vault (DESIGN.md's unlock order)
    /// and applies `vault.retention`.
    ///
    /// - Parameter check: checks the names the command line gives (entities, sinks, providers)
    ///   against the configuration before the vault is looked for or unlocked, so an unknown
    ///   name exits 2 naming it, never 4 for a locked vault (round 2, item 2).
    /// - Throws: ``ConfigurationError`` (exit 2); what `check` throws; ``VaultError`` (exit 4)
    ///   when the vault is missing, locked or damaged.
    static func open(_ global: GlobalOptions, dryRun: Bool = false, defaultLogLevel: Logger.Level = .warning,
                     check: (Dispatcher) throws -> Void = { _ in }) throws -> EngineSession {
        let context = global.makeContext(dryRun: dryRun, defaultLevel: defaultLogLevel)
        let environment = ProcessInfo.processInfo.environment
        let loaded = try Dispatcher.load(configPath: global.config, registry: BuiltInPlugins.registry(), environment: environment)
        if !global.quiet {
            for warning in loaded.configuration.warnings { Output.warn(warning.description) }
        }
        try check(loaded)
        let path = VaultLocation.resolve(flag: global.vault, configured: loaded.configuration.vault.path, environment: environment)
        try VaultLocation.requireVault(at: path)
        let session = VaultSession(global)
        let vault = try Vault.open(at: path, keySource: session.keySource(), options: VaultOptions(logger: context.logger, clock: context.clock))
        if !dryRun, try vault.retention() != loaded.configuration.vault.retention {
            try vault.setRetention(loaded.configuration.vault.retention)
        }
        if !dryRun, try vault.auditRetention() != loaded.configuration.vault.auditRetention {
            try vault.setAuditRetention(loaded.configuration.vault.auditRetention)
        }
        return EngineSession(dispatcher: loaded.with(vault: vault), vault: vault, context: context)
    }
}

/// Where the vault is (DESIGN.md, "Files and defaults"): `--vault`, else `$KEYWARD_VAULT`, else
/// the configuration's `vault.path`, else `$XDG_DATA_HOME/keyward/vault.db`. Relative paths from
/// the flag or the variable resolve against the working directory.
enum VaultLocation {
    static func resolve(flag: String?, configured: String?, environment: [String: String]) -> String {
        resolveWithSource(flag: flag, configured: configured, environment: environment).path
    }

    /// Where the vault path came from, for `config check` (its JSON `vault.source`).
    enum Source: String, Codable {
        case flag, env, config, `default`
    }

    /// ``resolve(flag:configured:environment:)``, also saying which rule chose the path.
    static func resolveWithSource(flag: String?, configured: String?, environment: [String: String]) -> (path: String, source: Source) {
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

    /// The configuration's `vault.path`, for the vault commands, which also work without a
    /// configuration: none is used when none was named and `./keyward.yaml` does not exist.
    /// One that was named (`--config`, `$KEYWARD_CONFIG`) must exist, and one that is used is
    /// validated whole, as every command does (issue 12, items 3 and 9): a broken or missing
    /// one never sends the command to the default vault instead.
    ///
    /// - Throws: ``ConfigurationError`` (exit 2).
    static func configured(_ global: GlobalOptions, environment: [String: String]) throws -> String? {
        let named = [global.config, environment["KEYWARD_CONFIG"]].contains { !($0 ?? "").isEmpty }
        let path = ConfigurationLoader.locate(explicit: global.config, environment: environment)
        guard named || FileManager.default.fileExists(atPath: path) else { return nil }
        let configuration = try ConfigurationLoader(registry: BuiltInPlugins.registry(), environment: environment).load(path: path)
        if !global.quiet {
            configurationWarnings.withLock { shown in
                guard !shown else { return }
                shown = true
                for warning in configuration.warnings { Output.warn(warning.description) }
            }
        }
        return configuration.vault.path
    }

    /// Configuration warnings are shown once per process.
    private static let configurationWarnings = Mutex(false)

    /// Refuses a vault that does not exist: exit 4 for every command (DESIGN.md, "Exit codes":
    /// the vault cannot be unlocked), before any key is asked for.
    ///
    /// - Throws: ``VaultError`` `.locked`.
    static func requireVault(at path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw VaultError(.locked, "no vault at \(path): create one with `keyward vault init` (with --vault or vault.path to choose where)")
        }
    }
}

/// A progress line on stderr, only on a terminal and never with NO_COLOR or --quiet.
struct ProgressLine: Sendable {
    let enabled: Bool

    init(quiet: Bool) {
        enabled = !quiet && isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    }

    func update(_ done: Int, _ total: Int, label: String) {
        guard enabled else { return }
        Output.writeError("\r\(label) \(done)/\(total)\u{1B}[K")
        if done == total { Output.writeError("\r\u{1B}[K") }
    }
}

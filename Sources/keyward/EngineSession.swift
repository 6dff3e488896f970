import Foundation
import Synchronization
import KeywardCore
import KeywardKit
import KeywardVault
import Logging

/// What the engine commands (sync, token, export, status, audit, login) share: the
/// configuration, the unlocked vault and the dispatcher built from them, opened by the
/// library's ``KeywardSession`` (the session rules live there, not in the executable).
struct EngineSession: CustomStringConvertible {
    /// Never the dispatcher's environment.
    var description: String { "EngineSession(\(dispatcher))" }

    let dispatcher: Dispatcher
    let vault: Vault
    let context: OperationContext

    /// Loads the configuration, shows its warnings, opens the vault (DESIGN.md's unlock order)
    /// and applies `vault.retention` (not in a dry run).
    ///
    /// - Parameter check: checks the names the command line gives (entities, sinks, providers)
    ///   against the configuration before the vault is looked for or unlocked, so an unknown
    ///   name exits 2 naming it, never 4 for a locked vault.
    /// - Throws: ``ConfigurationError`` (exit 2); what `check` throws; ``VaultError`` (exit 4)
    ///   when the vault is missing, locked or damaged.
    static func open(_ global: GlobalOptions, dryRun: Bool = false, defaultLogLevel: Logger.Level = .warning,
                     check: (Dispatcher) throws -> Void = { _ in }) throws -> EngineSession {
        let context = global.makeContext(dryRun: dryRun, defaultLevel: defaultLogLevel)
        let session = try KeywardSession.open(global.sessionOptions, context: context, applyRetention: !dryRun,
                                              warn: { if !global.quiet { Output.warn($0.description) } }, check: check)
        return EngineSession(dispatcher: session.dispatcher, vault: session.vault, context: context)
    }
}

extension GlobalOptions {
    /// The library session's options from `--config`, `--vault`, the process environment, every
    /// built-in plugin, and the terminal for the passphrase prompt.
    var sessionOptions: KeywardSession.Options {
        KeywardSession.Options(configPath: config, vaultPath: vault, environment: ProcessInfo.processInfo.environment,
                               registry: BuiltInPlugins.registry(), passphrasePrompt: { try Terminal.readSecret(prompt: $0) })
    }

    /// Shows a configuration warning on stderr once per process (the vault commands may read
    /// the configuration more than once), never with `--quiet`.
    func warnOnce(_ warning: ConfigurationWarning) {
        guard !quiet else { return }
        GlobalOptions.configurationWarningsShown.withLock { shown in
            guard !shown.contains(warning.description) else { return }
            shown.insert(warning.description)
            Output.warn(warning.description)
        }
    }

    private static let configurationWarningsShown = Mutex<Set<String>>([])
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

import Foundation
import KeywardCore
import KeywardVault

/// The session rules of DESIGN.md ("Architecture"), in the library so the `keyward` command,
/// its SwiftPM command plugin (which runs it) and a program that embeds Keyward behave the
/// same: find and validate the configuration, resolve the vault path, unlock in DESIGN.md's
/// order ("Unlocking the vault") and build the ``Dispatcher`` every operation goes through.
///
/// ```swift
/// var registry = BuiltInPlugins.registry()
/// registry.registerSink(MySink.descriptor) { section, _ in try MySink(section) }
/// let session = try KeywardSession.open(.init(configPath: "keyward.yaml", registry: registry), context: context)
/// let report = try await session.dispatcher.sync(SyncRequest(), context: context)
/// ```
public struct KeywardSession: Sendable, CustomStringConvertible, CustomReflectable {
    /// What a session is opened from: the command line's `--config` and `--vault`, the
    /// environment (unlock variables, `KEYWARD_CONFIG`, `KEYWARD_VAULT`, `XDG_DATA_HOME`), the
    /// plugin types and how to ask for a passphrase.
    public struct Options: Sendable, CustomStringConvertible, CustomReflectable {
        /// `--config`: the configuration file; `nil` for `$KEYWARD_CONFIG`, else `./keyward.yaml`.
        public var configPath: String?
        /// `--vault`: the vault file; `nil` for the rest of the precedence (``VaultLocation``).
        public var vaultPath: String?
        /// Where every `KEYWARD_*` variable is read. It holds unlock secrets: never printed.
        public var environment: [String: String]
        /// The plugin types the configuration may name.
        public var registry: PluginRegistry
        /// Asks for the vault passphrase (its argument is the prompt text) when no unlock
        /// variable is set; returns `nil` when there is nobody to ask (the default).
        public var passphrasePrompt: @Sendable (String) throws -> SecretValue?

        public init(configPath: String? = nil, vaultPath: String? = nil,
                    environment: [String: String] = ProcessInfo.processInfo.environment,
                    registry: PluginRegistry = BuiltInPlugins.registry(),
                    passphrasePrompt: @escaping @Sendable (String) throws -> SecretValue? = { _ in nil }) {
            self.configPath = configPath
            self.vaultPath = vaultPath
            self.environment = environment
            self.registry = registry
            self.passphrasePrompt = passphrasePrompt
        }

        /// Never the environment (it may hold `KEYWARD_PASSPHRASE`).
        public var description: String { "KeywardSession.Options(config: \(configPath ?? "default"), vault: \(vaultPath ?? "default"))" }

        /// As ``description``: `dump` and debuggers show no environment either.
        public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
    }

    /// The dispatcher with the configuration, the registry and the unlocked vault.
    public let dispatcher: Dispatcher
    /// The unlocked vault (also ``Dispatcher/vault``), for what only the vault offers (key
    /// slots, verify, the open rotation journal).
    public let vault: Vault

    /// Never the dispatcher's environment.
    public var description: String { "KeywardSession(\(dispatcher))" }

    /// As ``description``: `dump` and debuggers show no environment either.
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }

    /// Loads and validates the configuration (`--config`, else `$KEYWARD_CONFIG`, else
    /// `./keyward.yaml`), without looking for the vault.
    ///
    /// - Throws: ``ConfigurationError`` (exit 2).
    public static func loadConfiguration(_ options: Options) throws -> Dispatcher {
        try Dispatcher.load(configPath: options.configPath, registry: options.registry, environment: options.environment)
    }

    /// The engine commands' session (sync, rotate, token, export, exec, status, audit, login,
    /// schedule): loads the configuration, reports its warnings, runs `check`, then finds the
    /// vault, unlocks it and, unless `applyRetention` is `false` (dry runs, read-only
    /// commands), applies the configuration's `vault.retention` and `vault.auditRetention`. Nothing is looked for or asked
    /// before the configuration and `check` passed, so an unknown name exits 2 naming it, never
    /// 4 for a locked vault.
    ///
    /// - Parameters:
    ///   - context: its logger and clock are the vault's.
    ///   - warn: called once per configuration warning, before `check`.
    ///   - check: checks the names a caller was given (entities, sinks, providers) against the
    ///     configuration.
    /// - Throws: ``ConfigurationError`` (exit 2); what `check` throws; ``VaultError`` (exit 4)
    ///   when the vault is missing, locked or damaged.
    public static func open(_ options: Options, context: OperationContext, applyRetention: Bool = true,
                            warn: (ConfigurationWarning) -> Void = { _ in },
                            check: (Dispatcher) throws -> Void = { _ in }) throws -> KeywardSession {
        let loaded = try loadConfiguration(options)
        for warning in loaded.configuration.warnings { warn(warning) }
        try check(loaded)
        let path = VaultLocation.resolve(flag: options.vaultPath, configured: loaded.configuration.vault.path, environment: options.environment)
        let vault = try unlock(at: path, options, context: context)
        if applyRetention, try vault.retention() != loaded.configuration.vault.retention {
            try vault.setRetention(loaded.configuration.vault.retention)
        }
        if applyRetention, try vault.auditRetention() != loaded.configuration.vault.auditRetention {
            try vault.setAuditRetention(loaded.configuration.vault.auditRetention)
        }
        return KeywardSession(dispatcher: loaded.with(vault: vault, shared: try sharedStore(loaded.configuration, vault: vault, options)),
                              vault: vault)
    }

    /// The configuration's shared store (DESIGN.md, "Beyond one machine"), built on `vault`'s
    /// rotation lock, or `nil` when it has no `shared:` section. Nothing is contacted yet.
    ///
    /// - Throws: the store type's error (a CA file that cannot be read, say).
    static func sharedStore(_ configuration: KeywardConfiguration, vault: Vault, _ options: Options) throws -> (any SharedSecretStore)? {
        guard let shared = configuration.shared else { return nil }
        // A holder advanced to `sent` calls reset only with this much of its lease left: the
        // longest provider timeout plus 5 s (DESIGN.md, "Fencing the reset").
        let longest = configuration.providers.values.map { options.registry.providerSettings($0).callTimeout }.max() ?? .seconds(10)
        let environment = PluginEnvironment(store: vault, credentials: CredentialResolver(environment: options.environment, store: vault),
                                            shared: shared)
        return try options.registry.makeSharedStore(shared, environment: environment, local: vault, resetMargin: longest + .seconds(5))
    }

    /// The vault commands' session (`vault get/put/rm/list/history`, key slots): the vault
    /// commands also work without a configuration, so one is used only when it was named or
    /// `./keyward.yaml` exists (``configuredVaultPath(_:warn:)``); the dispatcher then holds an
    /// empty configuration.
    ///
    /// - Throws: ``ConfigurationError`` (exit 2); ``VaultError`` (exit 4) when the vault is
    ///   missing, locked or damaged.
    public static func openVault(_ options: Options, context: OperationContext,
                                 warn: (ConfigurationWarning) -> Void = { _ in }) throws -> KeywardSession {
        let configuration = try optionalConfiguration(options, warn: warn)
        let path = VaultLocation.resolve(flag: options.vaultPath, configured: configuration?.vault.path, environment: options.environment)
        let vault = try unlock(at: path, options, context: context)
        let dispatcher = Dispatcher(configuration: configuration ?? KeywardConfiguration(), registry: options.registry, vault: vault,
                                    environment: options.environment)
        return KeywardSession(dispatcher: dispatcher, vault: vault)
    }

    /// The vault path the vault commands use (``VaultLocation``), with the configuration's
    /// `vault.path` when a configuration is used (see ``openVault(_:context:warn:)``).
    ///
    /// - Throws: ``ConfigurationError`` (exit 2) when a configuration was named (`--config`,
    ///   `$KEYWARD_CONFIG`) but is missing, or one was found and is invalid: a broken or missing
    ///   one never sends the command to the default vault instead.
    public static func configuredVaultPath(_ options: Options, warn: (ConfigurationWarning) -> Void = { _ in }) throws -> String {
        try configuredVault(options, warn: warn).path
    }

    /// ``configuredVaultPath(_:warn:)`` and the configuration's `vault:` settings (`nil` when no
    /// configuration is used), for `vault init`, which creates the vault with them.
    ///
    /// - Throws: ``ConfigurationError`` (exit 2), as ``configuredVaultPath(_:warn:)``.
    public static func configuredVault(_ options: Options, warn: (ConfigurationWarning) -> Void = { _ in }) throws
        -> (path: String, settings: VaultSettings?)
    {
        let configuration = try optionalConfiguration(options, warn: warn)
        let path = VaultLocation.resolve(flag: options.vaultPath, configured: configuration?.vault.path, environment: options.environment)
        return (path, configuration?.vault)
    }

    /// The vault's key source, in DESIGN.md's unlock order (``VaultUnlock``).
    ///
    /// - Throws: ``VaultError`` (exit 4).
    public static func keySource(_ options: Options) throws -> VaultKeySource {
        try VaultUnlock.keySource(environment: options.environment, prompt: options.passphrasePrompt)
    }

    /// The configuration the vault commands use, or `nil` when none was named and
    /// `./keyward.yaml` does not exist.
    private static func optionalConfiguration(_ options: Options, warn: (ConfigurationWarning) -> Void) throws -> KeywardConfiguration? {
        let named = [options.configPath, options.environment["KEYWARD_CONFIG"]].contains { !($0 ?? "").isEmpty }
        let path = ConfigurationLoader.locate(explicit: options.configPath, environment: options.environment)
        guard named || FileManager.default.fileExists(atPath: path) else { return nil }
        let configuration = try ConfigurationLoader(registry: options.registry, environment: options.environment).load(path: path)
        for warning in configuration.warnings { warn(warning) }
        return configuration
    }

    /// Refuses a missing vault (exit 4, before any key is asked for), then unlocks it, with its
    /// rollback anchor where the options' environment puts it (`$XDG_STATE_HOME/keyward/anchors`).
    private static func unlock(at path: String, _ options: Options, context: OperationContext) throws -> Vault {
        try VaultLocation.requireVault(at: path)
        let vaultOptions = VaultOptions(anchorDirectory: VaultOptions.defaultAnchorDirectory(environment: options.environment),
                                        logger: context.logger, clock: context.clock)
        return try Vault.open(at: path, keySource: keySource(options), options: vaultOptions)
    }
}

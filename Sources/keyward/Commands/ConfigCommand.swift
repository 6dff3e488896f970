import ArgumentParser
import Foundation
import KeywardCore
import KeywardKit

/// `keyward config check`: load and validate keyward.yaml.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with the configuration file.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate keyward.yaml and summarise it, with the vault path it resolves to (no network, no unlock).",
            discussion: """
                Exits 0 when the configuration is valid, 2 with every problem named by key and line otherwise. \
                A vault that does not exist yet is a note on stderr, not an error.
                """
        )

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            _ = global.makeContext()
            let environment = ProcessInfo.processInfo.environment
            let dispatcher = try KeywardSession.loadConfiguration(global.sessionOptions)
            var summary = try dispatcher.checkConfiguration()
            // DESIGN.md's command table: print the resolved vault path. A missing vault is no
            // configuration error (exit 0), but every other command would stop on it.
            let resolved = VaultLocation.resolveWithSource(flag: global.vault, configured: dispatcher.configuration.vault.path, environment: environment)
            let vault = ConfigurationSummary.Vault(path: resolved.path, exists: FileManager.default.fileExists(atPath: resolved.path),
                                                   source: resolved.source.rawValue)
            summary.vault = vault
            for warning in summary.warnings where !global.quiet { Output.warn(warning) }
            if !vault.exists, !global.quiet {
                Output.writeError("keyward: note: " + Self.missingVaultNote(vault, source: resolved.source, file: summary.file, environment: environment) + "\n")
            }
            switch global.output {
            case .json:
                try Output.printJSON(summary)
            case .text:
                var lines = ["configuration OK: \(summary.file ?? "-")"]
                lines.append("vault: \(vault.path) (\(Self.describe(resolved.source, file: summary.file))" + (vault.exists ? ")" : "; it does not exist)"))
                lines += summary.providers.map {
                    "provider \($0.name): \($0.type)" + ($0.plugin.map { " (plugin \($0))" } ?? $0.baseURL.map { " \($0)" } ?? "")
                        + ($0.username.map { " as \($0)" } ?? "")
                        + ($0.password.map { ", password from \($0)" } ?? "")
                }
                lines += summary.entities.map {
                    "entity \($0.id): provider \($0.provider), rotateBefore \($0.rotateBefore), tokenRefreshBefore \($0.tokenRefreshBefore)"
                        + ($0.secretExpiryDays.map { ", secretExpiryDays \($0)" } ?? "")
                }
                lines += summary.sinks.map {
                    "sink \($0.name): \($0.type)" + ($0.plugin.map { " (plugin \($0))" } ?? "") + ($0.path.map { " → \($0)" } ?? "")
                        + " for \($0.entities.joined(separator: ", "))"
                }
                Output.print(lines.joined(separator: "\n"))
            }
        }

        /// Which rule chose the vault path, in words.
        static func describe(_ source: VaultLocation.Source, file: String?) -> String {
            switch source {
            case .flag: "--vault"
            case .env: "KEYWARD_VAULT"
            case .config: "vault.path in \(file ?? "the configuration")"
            case .default: "default"
            }
        }

        /// The note for a vault that does not exist yet; when one exists at the default place
        /// and another rule chose this path (a vault made before keyward.yaml), it says so.
        static func missingVaultNote(_ vault: ConfigurationSummary.Vault, source: VaultLocation.Source, file: String?,
                                     environment: [String: String]) -> String {
            var note = "there is no vault at \(vault.path): create it with `keyward vault init`"
            let fallback = VaultLocation.resolve(flag: nil, configured: nil, environment: environment.filter { $0.key != "KEYWARD_VAULT" })
            if source != .default, fallback != vault.path, FileManager.default.fileExists(atPath: fallback) {
                note += " (a vault exists at the default place, \(fallback), but \(describe(source, file: file)) points here: "
                    + "move that vault here or change \(describe(source, file: file)))"
            }
            return note
        }
    }
}

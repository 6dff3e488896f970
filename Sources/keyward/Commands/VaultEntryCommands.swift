import ArgumentParser
import Foundation
import KeywardCore
import KeywardKit
import KeywardVault

// `init` calls the vault synchronously and awaits nothing, so it is a plain `ParsableCommand`.
// The entry commands (put, get, list, history, rm) go through the Dispatcher, like every other
// operation, so that their audit rows are written in one place (DESIGN.md, "Architecture").
extension VaultCommand {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create the vault (refuses to overwrite an existing one).",
            discussion: """
                The first unlock slot comes from the usual sources ($KEYWARD_KEY_FILE, $KEYWARD_PASSPHRASE, \
                $KEYWARD_PASSPHRASE_FILE, else a passphrase typed twice), or from --new-key-file, which \
                writes a new key file (32 random bytes, base64, mode 0600) and uses it.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("Create a new key file here and unlock the vault with it.", valueName: "path"))
        var newKeyFile: String?

        @Option(name: .long, help: "Versions kept per entry (labelled versions are never pruned); default: the configuration's vault.retention, else 10. With a configuration, its vault.retention is what engine commands keep.")
        var retention: Int?

        func run() throws {
            let session = VaultSession(global)
            // The configuration first (exit 2), before a key file is made or a passphrase asked.
            let (path, settings) = try KeywardSession.configuredVault(global.sessionOptions, warn: global.warnOnce)
            let source: VaultKeySource
            if let newKeyFile {
                try VaultKeySource.createKeyFile(at: newKeyFile)
                source = .keyFile(newKeyFile)
            } else if VaultUnlock.hasSource(in: session.environment) {
                // The unlock sources, with their rules: a missing or open key file, an empty passphrase: exit 4.
                source = try session.keySource()
            } else {
                let typed = try session.newPassphrase(variable: "KEYWARD_PASSPHRASE")
                source = .passphrase(typed)
            }
            if case .passphrase(let passphrase) = source { session.warnIfShort(passphrase) }
            var options = session.options
            // The configuration's vault settings from the start, so that the first engine
            // command has nothing to bring in line.
            options.retention = retention ?? settings?.retention ?? VaultSettings().retention
            if let retention, let settings, retention != settings.retention, !global.quiet {
                Output.warn("--retention \(retention) differs from vault.retention (\(settings.retention)) in the configuration, which every engine command (sync, token, login, …) applies to the vault: set it there to keep \(retention)")
            }
            if let settings { options.auditRetention = settings.auditRetention }
            let vault = try Vault.create(at: path, keySource: source, options: options)
            switch global.output {
            case .json: try Output.printJSON(InitResult(version: 1, path: vault.path, vaultID: vault.vaultID))
            case .text: if !global.quiet { Output.print("created vault \(vault.path) (id \(vault.vaultID))") }
            }
        }

        struct InitResult: Encodable {
            var version: Int
            var path: String
            var vaultID: String
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "put",
            abstract: "Store stdin, byte for byte, as a new version of NAME.",
            discussion: """
                The value is read from stdin, never from the command line; --trim drops one trailing newline. \
                When stdin is a terminal, it is typed at a prompt without echo and the newline that ends it is \
                not stored (as `keyward login` does).
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The entry name, e.g. entities/FIU-EXAMPLE-1/secret.")
        var name: String

        @Flag(name: .long, help: "Drop one trailing newline (\\n or \\r\\n) from the value.")
        var trim = false

        @Option(name: .long, help: "The label the new version takes: current (default), pending or previous.")
        var label: String = "current"

        func validate() throws {
            _ = try VaultSession.parseName(name)
            guard VersionLabel(rawValue: label) != nil else { throw ValidationError("--label must be current, previous or pending") }
        }

        func run() async throws {
            let session = VaultSession(global)
            let entry = try VaultSession.parseName(name)
            let value: SecretValue
            let opened: KeywardSession
            if isatty(STDIN_FILENO) == 1 {
                // Typed: unlock first (its prompt, if any, comes before this one), then read the
                // value without echo; the Enter that ends it is not part of it.
                opened = try session.openSession()
                guard let typed = try Terminal.readSecret(prompt: "Value for \(entry): ") else {
                    throw VaultError(.invalidInput, "cannot read the value from the terminal; pipe it on stdin instead")
                }
                value = typed
            } else {
                var bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
                if trim { bytes = VaultSession.droppingOneNewline(bytes) }
                value = SecretValue(bytes: bytes)
                for index in bytes.indices { bytes[index] = 0 }
                opened = try session.openSession()
            }
            let stored = try await opened.dispatcher.vaultPut(entry, value: value, label: VersionLabel(rawValue: label) ?? .current, context: session.context)
            switch global.output {
            case .json:
                try Output.printJSON(PutResult(version: 1, name: entry.rawValue, entryVersion: stored.record.version, fingerprint: stored.fingerprint))
            case .text:
                if !global.quiet { Output.print("stored \(entry) version \(stored.record.version) (\(label), fingerprint \(stored.fingerprint))") }
            }
        }

        struct PutResult: Encodable {
            var version: Int
            var name: String
            var entryVersion: Int
            var fingerprint: String
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get",
            abstract: "Write the value of NAME to stdout: the exact bytes, nothing added.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The entry name.")
        var name: String

        @Option(name: .long, help: "Which labelled version: current (default), previous or pending.")
        var label: String = "current"

        /// Not `--version`: ArgumentParser takes `--version` anywhere on the line as the
        /// program's version flag (the root command has a version), so that spelling never
        /// reached this option and `--help` listed `--version` twice.
        @Option(name: .customLong("entry-version"), help: ArgumentHelp("A specific version number (see `vault history`) instead of a label.", valueName: "n"))
        var version: Int?

        func validate() throws {
            _ = try VaultSession.parseName(name)
            guard VersionLabel(rawValue: label) != nil else { throw ValidationError("--label must be current, previous or pending") }
        }

        func run() async throws {
            let session = VaultSession(global)
            let entry = try VaultSession.parseName(name)
            let opened = try session.openSession()
            session.reportOpenJournal(opened.vault, reading: entry)
            // DESIGN.md, "Commands": every read appends one audit row. A read that cannot be
            // recorded is not made: fail closed, before a byte of the value is written.
            let record = try await opened.dispatcher.vaultGet(entry, label: VersionLabel(rawValue: label) ?? .current, version: version,
                                                              context: session.context)
            record.value.withRevealedBytes { Output.write($0) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List entry names (never values).")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "Only names starting with this prefix.")
        var prefix: String = ""

        func run() async throws {
            let session = VaultSession(global)
            let names = try await session.openSession().dispatcher.vaultList(prefix: prefix, context: session.context)
            switch global.output {
            case .json: try Output.printJSON(ListResult(version: 1, entries: names.map(\.rawValue)))
            case .text: if !names.isEmpty { Output.print(names.map(\.rawValue).joined(separator: "\n")) }
            }
        }

        struct ListResult: Encodable {
            var version: Int
            var entries: [String]
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "Show the versions of NAME: labels, dates, source, fingerprints; never values.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The entry name.")
        var name: String

        func validate() throws { _ = try VaultSession.parseName(name) }

        func run() async throws {
            let session = VaultSession(global)
            let entry = try VaultSession.parseName(name)
            let versions = try await session.openSession().dispatcher.vaultHistory(entry, context: session.context)
            switch global.output {
            case .json:
                try Output.printJSON(HistoryResult(version: 1, name: entry.rawValue, versions: versions.map {
                    HistoryResult.Version(
                        version: $0.version, labels: $0.labels.map(\.rawValue), createdAt: $0.createdAt, expiresAt: $0.expiresAt,
                        source: $0.source, txnId: $0.txnId, fingerprint: $0.fingerprint, bytes: $0.byteCount)
                }))
            case .text:
                var rows = [["VERSION", "LABELS", "CREATED", "EXPIRES", "SOURCE", "FINGERPRINT"]]
                rows += versions.reversed().map {
                    [
                        String($0.version), $0.labels.isEmpty ? "-" : $0.labels.map(\.rawValue).joined(separator: ","),
                        VaultSession.timestamp($0.createdAt), $0.expiresAt.map(VaultSession.timestamp) ?? "-", $0.source, $0.fingerprint,
                    ]
                }
                Output.print(TextTable.render(rows))
            }
        }

        struct HistoryResult: Encodable {
            struct Version: Encodable {
                var version: Int
                var labels: [String]
                var createdAt: Date
                var expiresAt: Date?
                var source: String
                var txnId: String?
                var fingerprint: String
                var bytes: Int
            }
            var version: Int
            var name: String
            var versions: [Version]
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove NAME and all its versions.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The entry name.")
        var name: String

        func validate() throws { _ = try VaultSession.parseName(name) }

        func run() async throws {
            let session = VaultSession(global)
            let entry = try VaultSession.parseName(name)
            try await session.openSession().dispatcher.vaultRemove(entry, context: session.context)
            switch global.output {
            case .json: try Output.printJSON(RemoveResult(version: 1, removed: entry.rawValue))
            case .text: if !global.quiet { Output.print("removed \(entry)") }
            }
        }

        struct RemoveResult: Encodable {
            var version: Int
            var removed: String
        }
    }
}

import ArgumentParser
import Foundation
import KeywardCore
import KeywardVault

extension VaultCommand {
    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "passwd",
            abstract: "Change the passphrase (re-wraps the data key; entries are not touched).",
            discussion: "The new passphrase comes from $KEYWARD_NEW_PASSPHRASE, else it is typed twice on the terminal.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let session = VaultSession(global)
            let vault = try session.open()
            let passphrase = try session.newPassphrase()
            session.warnIfShort(passphrase)
            let change = try vault.changePassphrase(to: passphrase)
            session.audit(vault, operation: "vault passwd", entry: nil)
            switch global.output {
            case .json:
                switch change {
                case .changed(let slot): try Output.printJSON(PasswdResult(version: 1, slot: slot, change: "changed"))
                case .added(let slot): try Output.printJSON(PasswdResult(version: 1, slot: slot, change: "added"))
                }
            case .text:
                guard !global.quiet else { return }
                switch change {
                case .changed: Output.print("passphrase changed")
                case .added(let slot):
                    Output.print("the vault had no passphrase: added one in slot \(slot); its key files still open it (keyward vault key list)")
                }
            }
        }

        struct PasswdResult: Encodable {
            var version: Int
            var slot: Int
            /// `changed` (the slot was re-wrapped) or `added` (the vault had no passphrase slot).
            var change: String
        }
    }

    struct Rekey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rekey",
            abstract: "Re-encrypt every entry under a new random data key, in one transaction.",
            discussion: """
                Every unlock slot must be re-wrapped: the one used to unlock is, and others need their key \
                file (--also-key-file) or are removed with --drop-other-slots.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("A key file that opens another unlock slot (repeatable).", valueName: "path"))
        var alsoKeyFile: [String] = []

        @Flag(name: .long, help: "Remove unlock slots that no given key opens.")
        var dropOtherSlots = false

        func run() async throws {
            let session = VaultSession(global)
            let vault = try session.open()
            for file in alsoKeyFile { try VaultSession.checkUnlockFile(file, variable: "--also-key-file") }
            let report = try vault.rekey(additionalKeySources: alsoKeyFile.map { .keyFile($0) }, dropUnmatchedSlots: dropOtherSlots)
            session.audit(vault, operation: "vault rekey", entry: nil)
            switch global.output {
            case .json:
                try Output.printJSON(RekeyResult(version: 1, keyID: report.keyID, versionsResealed: report.versionsResealed,
                                                 slotsRewrapped: report.slotsRewrapped, slotsRemoved: report.slotsRemoved))
            case .text:
                if !global.quiet {
                    var line = "re-keyed: data key \(report.keyID), \(report.versionsResealed) versions re-sealed, slots \(report.slotsRewrapped.map(String.init).joined(separator: ", ")) re-wrapped"
                    if !report.slotsRemoved.isEmpty { line += ", slots \(report.slotsRemoved.map(String.init).joined(separator: ", ")) removed" }
                    Output.print(line)
                }
            }
        }

        struct RekeyResult: Encodable {
            var version: Int
            var keyID: Int
            var versionsResealed: Int
            var slotsRewrapped: [Int]
            var slotsRemoved: [Int]
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check every entry, the manifest, the journal and the audit log.",
            discussion: """
                --accept-restore re-anchors a vault deliberately restored from a backup: it shows the \
                generation and date of the file and of what this machine last saw, then re-anchors.
                """)

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Accept an older copy of the vault restored on purpose, and re-anchor it.")
        var acceptRestore = false

        func run() async throws {
            let session = VaultSession(global)
            let path = try session.existingVaultPath()
            let source = try session.keySource()
            let vault: Vault
            if acceptRestore {
                do {
                    vault = try Vault.open(at: path, keySource: source, options: session.options)
                    if !global.quiet { Output.warn("the vault is not behind its anchor; nothing to re-anchor") }
                } catch let error as VaultError where error.code == .rollback {
                    // Show what is being accepted (both generations and dates) before re-anchoring.
                    if !global.quiet { Output.warn(error.message) }
                    let (restored, info) = try Vault.acceptRestore(at: path, keySource: source, options: session.options)
                    if !global.quiet {
                        let seen = info.anchorGeneration.map { "generation \($0) written \(info.anchorUpdatedAt.map(VaultSession.timestamp) ?? "?")" } ?? "nothing"
                        Output.warn("accepted the restored file: generation \(info.fileGeneration) written \(VaultSession.timestamp(info.fileUpdatedAt)) "
                                    + "(this machine had seen \(seen)); re-anchored at generation \(info.fileGeneration)")
                    }
                    session.audit(restored, operation: "vault verify --accept-restore", entry: nil)
                    vault = restored
                }
            } else {
                vault = try Vault.open(at: path, keySource: source, options: session.options)
            }
            let report = try vault.verify()
            switch global.output {
            case .json:
                try Output.printJSON(VerifyResult(
                    version: 1, ok: true, generation: report.generation, updatedAt: report.updatedAt, entries: report.entries,
                    versions: report.versions, keySlots: report.keySlots, journalEntries: report.journalEntries, auditEvents: report.auditEvents))
            case .text:
                if !global.quiet {
                    Output.print("vault OK: generation \(report.generation) (written \(VaultSession.timestamp(report.updatedAt))), "
                                 + "\(report.entries) entries, \(report.versions) versions, \(report.keySlots) unlock slots, "
                                 + "\(report.journalEntries) journal entries, \(report.auditEvents) audit rows")
                }
            }
        }

        struct VerifyResult: Encodable {
            var version: Int
            var ok: Bool
            var generation: Int64
            var updatedAt: Date
            var entries: Int
            var versions: Int
            var keySlots: Int
            var journalEntries: Int
            var auditEvents: Int
        }
    }

    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "key",
            abstract: "Manage unlock slots: several keys that open the same vault.",
            subcommands: [Add.self, List.self, Remove.self])

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "add",
                abstract: "Add an unlock slot for a key file or a passphrase.",
                discussion: "--passphrase reads the new passphrase from $KEYWARD_NEW_PASSPHRASE or a double prompt.")

            @OptionGroup var global: GlobalOptions

            @Option(name: .long, help: ArgumentHelp("An existing key file (32 random bytes, base64).", valueName: "path"))
            var keyFile: String?

            @Option(name: .long, help: ArgumentHelp("Create a new key file here and add it.", valueName: "path"))
            var newKeyFile: String?

            @Flag(name: .long, help: "Add a passphrase slot.")
            var passphrase = false

            func validate() throws {
                let chosen = [keyFile != nil, newKeyFile != nil, passphrase].filter { $0 }.count
                guard chosen == 1 else { throw ValidationError("give exactly one of --key-file, --new-key-file, --passphrase") }
            }

            func run() async throws {
                let session = VaultSession(global)
                let vault = try session.open()
                let source: VaultKeySource
                if let keyFile {
                    try VaultSession.checkUnlockFile(keyFile, variable: "--key-file")
                    source = .keyFile(keyFile)
                } else if let newKeyFile {
                    try VaultKeySource.createKeyFile(at: newKeyFile)
                    source = .keyFile(newKeyFile)
                } else {
                    let passphrase = try session.newPassphrase()
                    session.warnIfShort(passphrase)
                    source = .passphrase(passphrase)
                }
                let slot = try vault.addKeySlot(source)
                session.audit(vault, operation: "vault key add", entry: nil)
                if !global.quiet && global.output == .text { Output.print("added unlock slot \(slot.id) (\(slot.kind))") }
                if global.output == .json { try Output.printJSON(AddResult(slot)) }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List the unlock slots.")

            @OptionGroup var global: GlobalOptions

            func run() async throws {
                let session = VaultSession(global)
                let slots = try session.open().keySlots()
                switch global.output {
                case .json:
                    try Output.printJSON(ListResult(version: 1, slots: slots.map(SlotJSON.init)))
                case .text:
                    var rows = [["ID", "KIND", "CREATED", "KDF", ""]]
                    rows += slots.map {
                        [String($0.id), $0.kind, VaultSession.timestamp($0.createdAt), $0.kdf ?? "-", $0.unlockedThisSession ? "(unlocked now)" : ""]
                    }
                    Output.print(TextTable.render(rows))
                }
            }

            struct ListResult: Encodable {
                var version: Int
                var slots: [SlotJSON]
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an unlock slot (never the last one).")

            @OptionGroup var global: GlobalOptions

            @Argument(help: "The slot id, from `keyward vault key list`.")
            var id: Int

            func run() async throws {
                let session = VaultSession(global)
                let vault = try session.open()
                try vault.removeKeySlot(id: id)
                session.audit(vault, operation: "vault key rm", entry: nil)
                switch global.output {
                case .json: try Output.printJSON(RemoveResult(version: 1, removedSlot: id))
                case .text: if !global.quiet { Output.print("removed unlock slot \(id)") }
                }
            }

            struct RemoveResult: Encodable {
                var version: Int
                var removedSlot: Int
            }
        }

        /// The added slot's fields, as before, with the `version` every document has (one flat object).
        struct AddResult: Encodable {
            var version = 1
            var slot: SlotJSON

            init(_ slot: VaultKeySlot) { self.slot = SlotJSON(slot) }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(version, forKey: .version)
                try slot.encode(to: encoder)
            }

            private enum CodingKeys: String, CodingKey { case version }
        }

        struct SlotJSON: Encodable {
            var id: Int
            var kind: String
            var createdAt: Date
            var kdf: String?
            var unlockedThisSession: Bool

            init(_ slot: VaultKeySlot) {
                id = slot.id
                kind = slot.kind
                createdAt = slot.createdAt
                kdf = slot.kdf
                unlockedThisSession = slot.unlockedThisSession
            }
        }
    }
}

import ArgumentParser
import Foundation
import KeywardCore
import KeywardKit
import KeywardVault

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What every vault command shares: where the vault is, how it is unlocked, how a secret is
/// read from stdin or the terminal. Parsing and I/O only; the work is done by `Vault`.
struct VaultSession: CustomStringConvertible {
    /// Never the environment it holds.
    var description: String { "VaultSession" }

    let global: GlobalOptions
    let context: OperationContext
    let environment: [String: String]

    init(_ global: GlobalOptions) {
        self.global = global
        self.context = global.makeContext()
        self.environment = ProcessInfo.processInfo.environment
    }

    /// --vault, else $KEYWARD_VAULT, else the configuration's vault.path, else $XDG_DATA_HOME/keyward/vault.db.
    ///
    /// - Throws: ``ConfigurationError`` (exit 2) when a configuration was named (`--config`,
    ///   `$KEYWARD_CONFIG`) but is missing, or one was found and is invalid: the vault
    ///   commands validate it as every command does, before anything is unlocked.
    func vaultPath() throws -> String {
        try KeywardSession.configuredVaultPath(global.sessionOptions, warn: global.warnOnce)
    }

    /// ``vaultPath()``, refusing a vault that does not exist (exit 4, like every command).
    func existingVaultPath() throws -> String {
        let path = try vaultPath()
        try VaultLocation.requireVault(at: path)
        return path
    }

    var options: VaultOptions {
        VaultOptions(logger: context.logger, clock: context.clock)
    }

    /// The unlock order of DESIGN.md: key file, passphrase, passphrase file, terminal prompt
    /// (``VaultUnlock``).
    ///
    /// - Throws: ``VaultError`` `.locked` or `.unsafeFile` (exit 4).
    func keySource() throws -> VaultKeySource {
        try KeywardSession.keySource(global.sessionOptions)
    }

    /// Refuses an unlock file that does not exist or that others can read (``VaultUnlock``).
    /// - Throws: ``VaultError`` `.locked` (missing) or `.unsafeFile` (open to others): exit 4.
    static func checkUnlockFile(_ path: String, variable: String) throws {
        try VaultUnlock.checkUnlockFile(path, variable: variable)
    }

    /// An empty passphrase never unlocks or creates anything: exit 4, whatever gave it.
    static func emptyPassphrase(_ how: String) -> VaultError {
        VaultUnlock.emptyPassphrase(how)
    }

    /// The shortest passphrase `vault init` (and `passwd`, `key add --passphrase`) takes
    /// without a warning, in characters.
    static let recommendedPassphraseLength = 12

    /// Warns on stderr when a new passphrase is shorter than ``recommendedPassphraseLength``.
    func warnIfShort(_ passphrase: SecretValue) {
        guard !global.quiet else { return }
        let length = passphrase.withRevealedBytes { bytes in String(validating: Array(bytes), as: UTF8.self)?.count ?? bytes.count }
        if length < Self.recommendedPassphraseLength {
            Output.warn("the passphrase is \(length) characters long; use at least \(Self.recommendedPassphraseLength) (a guessable passphrase is the weakest part of the vault)")
        }
    }

    /// A new passphrase: $KEYWARD_NEW_PASSPHRASE, else typed twice on the terminal.
    func newPassphrase(variable: String = "KEYWARD_NEW_PASSPHRASE") throws -> SecretValue {
        // A missing or empty new passphrase is a usage error (exit 2), not a locked vault.
        if let value = environment[variable] {
            guard !value.isEmpty else { throw VaultError(.invalidInput, "\(variable) is set but empty; nothing changed") }
            return SecretValue(utf8: value)
        }
        guard let first = try Terminal.readSecret(prompt: "New passphrase: ") else {
            throw VaultError(.invalidInput, "no new passphrase: set \(variable) or run on a terminal to be prompted")
        }
        guard let second = try Terminal.readSecret(prompt: "Repeat the new passphrase: ") else {
            throw VaultError(.invalidInput, "no terminal to confirm the new passphrase")
        }
        guard first == second else { throw VaultError(.invalidInput, "the two passphrases differ; nothing changed") }
        guard !first.isEmpty else {
            // `vault init`'s first passphrase unlocks the vault: empty is exit 4 as at unlock.
            if variable == "KEYWARD_PASSPHRASE" { throw Self.emptyPassphrase("nothing was typed at the prompt") }
            throw VaultError(.invalidInput, "the passphrase is empty; nothing changed")
        }
        return first
    }

    /// Validates the configuration, finds the vault (exit 4 when it is missing), then unlocks
    /// it, in that order: nothing is asked for or read before the configuration passed.
    func open() throws -> Vault {
        try openSession().vault
    }

    /// ``open()``, with the dispatcher the entry commands go through (``KeywardSession/openVault(_:context:warn:)``).
    func openSession() throws -> KeywardSession {
        try KeywardSession.openVault(global.sessionOptions, context: context, warn: global.warnOnce)
    }

    /// Reports open rotation journal entries on stderr (read-only commands change nothing:
    /// DESIGN.md, "Rotation", item 7). An entry of the entity whose entry `reading` names (`vault
    /// get entities/<ID>/secret`) is said first and plainly: the value printed may already be
    /// superseded by the service.
    func reportOpenJournal(_ vault: Vault, reading: SecretName? = nil) {
        guard !global.quiet, let open = try? vault.openJournalEntries(), !open.isEmpty else { return }
        let hint = Dispatcher.openRotationHint
        let reads = { (entity: EntityID) in reading?.rawValue.hasPrefix("entities/\(entity.rawValue)/") == true }
        for entry in open where reads(entry.entity) {
            Output.warn("\(entry.entity.rawValue): its rotation is open (journal \(entry.id), \(entry.state.rawValue)): "
                        + "the value printed may be superseded by the service's; \(hint)")
        }
        for entry in open where !reads(entry.entity) {
            Output.warn("an unfinished rotation of \(entry.entity.rawValue) (journal \(entry.id), \(entry.state.rawValue)); \(hint)")
        }
    }

    /// Appends an audit row; a failure to audit is reported but does not undo the command.
    func audit(_ vault: Vault, operation: String, entry: SecretName?, outcome: String = "ok") {
        do {
            try vault.appendAudit(VaultAuditEvent(time: context.clock.now, operation: operation, entity: entry?.rawValue, outcome: outcome))
        } catch {
            Output.warn("could not append to the audit log: \((error as? any CategorizedError)?.description ?? "\(type(of: error))")")
        }
    }

    static func droppingOneNewline(_ bytes: [UInt8]) -> [UInt8] {
        VaultUnlock.droppingOneNewline(bytes)
    }

    static func parseName(_ text: String) throws -> SecretName {
        guard let name = SecretName(text) else {
            throw ValidationError("invalid entry name '\(text)': \(SecretName.ruleDescription)")
        }
        return name
    }

    static func timestamp(_ date: Date) -> String { date.formatted(.iso8601) }
}

/// A no-echo prompt on the controlling terminal (/dev/tty), like readpassphrase(3).
enum Terminal {
    /// The typed line without its newline, or `nil` when there is no terminal.
    static func readSecret(prompt: String) throws -> SecretValue? {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var original = termios()
        guard tcgetattr(fd, &original) == 0 else { return nil }
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO | ECHONL)
        silent.c_lflag |= tcflag_t(ICANON)
        // Echo off before the prompt shows: what is typed once it is visible is neither echoed
        // nor discarded by the flush (as readpassphrase(3) orders it).
        guard tcsetattr(fd, TCSAFLUSH, &silent) == 0 else { return nil }
        defer {
            _ = tcsetattr(fd, TCSAFLUSH, &original)
            _ = write(fd, "\n", 1)
        }
        _ = prompt.withCString { write(fd, $0, strlen($0)) }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(fd, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 || byte == 0x0A { break }
            bytes.append(byte)
            if bytes.count > 4096 { throw VaultError(.invalidInput, "the passphrase is too long") }
        }
        if bytes.last == 0x0D { bytes.removeLast() }
        defer { for index in bytes.indices { bytes[index] = 0 } }
        return SecretValue(bytes: bytes)
    }
}

/// Plain-text tables for the text output.
enum TextTable {
    static func render(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        var widths = [Int](repeating: 0, count: first.count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

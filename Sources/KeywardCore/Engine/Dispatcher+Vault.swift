import Foundation
import Logging

/// `keyward vault get/put/rm/list/history`: the vault's entries by name, through the one entry
/// point, so their audit rows are written here as every other operation's are (DESIGN.md,
/// "Architecture" and "Commands": every read or change of a secret appends one row).
extension Dispatcher {
    /// What `vault put` stored.
    public struct StoredEntry: Sendable {
        /// The record as stored, with its version number.
        public var record: SecretRecord
        /// The store's fingerprint of the value (``Fingerprinter``).
        public var fingerprint: String
    }

    /// The value of `name` (`vault get`): the version numbered `version` when given, else the
    /// one carrying `label`. Appends one `vault get` audit row: `failed` when the read fails;
    /// `ok` before the value is returned, and a read that cannot be recorded is not made (fail
    /// closed: the caller gets no value).
    ///
    /// - Throws: the store's error (a missing entry, label or version: exit 2); ``KeywardError``
    ///   `.vault` (exit 4) when the `ok` row cannot be appended.
    public func vaultGet(_ name: SecretName, label: VersionLabel = .current, version: Int? = nil,
                         context: OperationContext) async throws -> SecretRecord {
        let vault = try requireVault()
        let operation = "vault get"
        let record: SecretRecord
        do {
            if let version {
                record = try await vault.read(name, version: version, context: context)
            } else {
                guard let found = try await vault.read(name, label: label, context: context) else {
                    throw KeywardError.usage("no entry named \(name) with a \(label.rawValue) version in the vault")
                }
                record = found
            }
        } catch {
            await recordEntryAudit(operation, name, outcome: .failed, vault: vault, context: context)
            throw error
        }
        do {
            try await vault.record(AuditEntry(time: context.clock.now, operation: operation, entity: name.rawValue, outcome: .ok))
        } catch {
            throw KeywardError(.vault, "\(operation): the audit log cannot record this read, so the value is not printed: \(Self.reason(error))")
        }
        return record
    }

    /// Stores `value` as a new version of `name` carrying `label` (`vault put`; source `user`),
    /// then appends a `vault put` audit row (a failure to append is logged as a warning: the
    /// value is stored already).
    ///
    /// - Throws: the store's error; nothing is audited then.
    public func vaultPut(_ name: SecretName, value: SecretValue, label: VersionLabel = .current,
                         context: OperationContext) async throws -> StoredEntry {
        let vault = try requireVault()
        let record = try await vault.write(name, record: SecretRecord(value: value, createdAt: context.clock.now, source: "user"),
                                           label: label, context: context)
        await recordEntryAudit("vault put", name, outcome: .ok, vault: vault, context: context)
        return StoredEntry(record: record, fingerprint: vault.fingerprint(value))
    }

    /// Removes `name` and all its versions (`vault rm`), then appends a `vault rm` audit row
    /// (a failure to append is logged as a warning).
    ///
    /// - Throws: the store's error (a missing entry: exit 2); nothing is audited then.
    public func vaultRemove(_ name: SecretName, context: OperationContext) async throws {
        let vault = try requireVault()
        try await vault.remove(name, context: context)
        await recordEntryAudit("vault rm", name, outcome: .ok, vault: vault, context: context)
    }

    /// The entry names starting with `prefix`, sorted (`vault list`): names only, so no audit row.
    ///
    /// - Throws: the store's error.
    public func vaultList(prefix: String = "", context: OperationContext) async throws -> [SecretName] {
        try await requireVault().list(prefix: prefix, context: context)
    }

    /// Every version of `name`, oldest first (`vault history`): fingerprints, never values, so
    /// no audit row.
    ///
    /// - Throws: the store's error (a missing entry: exit 2).
    public func vaultHistory(_ name: SecretName, context: OperationContext) async throws -> [SecretVersionInfo] {
        try await requireVault().history(name, context: context)
    }

    /// Appends one row for an entry; a failure to append is a warning, not the operation's error.
    private func recordEntryAudit(_ operation: String, _ name: SecretName, outcome: SyncReport.Outcome, vault: any VaultServices,
                                  context: OperationContext) async {
        do {
            try await vault.record(AuditEntry(time: context.clock.now, operation: operation, entity: name.rawValue, outcome: outcome))
        } catch {
            context.logger.warning("could not append to the audit log: \(Self.reason(error))")
        }
    }

    /// An error's printable reason: its `description` when it is one of Keyward's, else its type.
    private static func reason(_ error: any Error) -> String {
        (error as? any CategorizedError)?.description ?? "\(type(of: error))"
    }
}

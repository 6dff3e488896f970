import Foundation
import GRDB
import KeywardCore

/// Where the retained audit chain starts once older rows were pruned: the first retained row's
/// id and the tag of the pruned row before it (which that row's AAD binds), with a MAC under
/// the vault's manifest subkey. At most one row, in `audit_checkpoint`; the manifest's audit
/// slot covers it too.
struct AuditCheckpoint: Equatable {
    var firstID: Int64
    var previousTag: [UInt8]
    /// When the rows before ``firstID`` were last pruned (milliseconds since 1970, UTC).
    var prunedAt: Int64
}

/// Retention of the audit log and the rotation journal (docs/vault.md, "Retention"): audit rows
/// older than the vault's audit retention (`vault.auditRetention`, 90 days by default) are
/// pruned from the start of the chain when a row is appended, and `done` or `aborted` journal
/// entries last changed before it when a rotation opens a new one. The chain stays verifiable:
/// the checkpoint row carries the link the first retained row's AAD binds.
extension Vault {
    /// At most this many audit rows are pruned per write (the rest by the next ones), so that
    /// the first write after a long pause stays short.
    static let maxAuditRowsPrunedPerWrite = 1_000

    /// The accepted audit retention: one day to 100 years.
    static let auditRetentionRange: ClosedRange<Int64> = 86_400...(36_500 * 86_400)

    /// `retention` in whole seconds, checked against ``auditRetentionRange``.
    /// - Throws: ``VaultError`` `.invalidInput` outside the range.
    static func auditRetentionSeconds(_ retention: Duration) throws -> Int64 {
        let seconds = retention.components.seconds
        guard auditRetentionRange.contains(seconds) else {
            throw VaultError.invalid("the audit retention must be between 1 day and 36500 days")
        }
        return seconds
    }

    /// How long audit rows and closed journal entries are kept.
    public func auditRetention() throws -> Duration {
        try read { db, _ in .seconds(try Vault.readMeta(db).auditRetention) }
    }

    /// Sets how long audit rows and closed journal entries are kept (from `vault.auditRetention`
    /// in keyward.yaml); rows beyond it go with the next audit row appended.
    /// - Throws: ``VaultError`` `.invalidInput` for less than a day or more than 36,500 days.
    public func setAuditRetention(_ retention: Duration) throws {
        let seconds = try Vault.auditRetentionSeconds(retention)
        try mutate { db, mutation in
            try db.cachedStatement(sql: "UPDATE vault_meta SET audit_retention = ? WHERE id = 1").execute(arguments: [seconds])
            mutation.header = true
        }
    }

    // MARK: The checkpoint

    static func checkpointMAC(keys: VaultKeys, firstID: Int64, previousTag: [UInt8], prunedAt: Int64) throws -> [UInt8] {
        try keys.manifest.authenticate { input in
            input.write("KWV1-audit-checkpoint\0")
            input.write(keys.vaultID)
            input.write(keys.keyID)
            input.write(firstID)
            input.writeField(previousTag)
            input.write(prunedAt)
        }
    }

    /// The checkpoint, its MAC checked; nil when no row was ever pruned.
    /// - Throws: ``VaultError`` `.integrity` when it was changed or written under another key.
    static func readAuditCheckpoint(_ db: Database, keys: VaultKeys) throws -> AuditCheckpoint? {
        guard let row = try Row.fetchOne(db.cachedStatement(
            sql: "SELECT first_id, previous_tag, pruned_at, key_id, mac FROM audit_checkpoint WHERE id = 1"))
        else { return nil }
        let checkpoint = AuditCheckpoint(firstID: row[0], previousTag: bytes(row, 1), prunedAt: row[2])
        let keyID: Int64 = row[3]
        let expected = try checkpointMAC(keys: keys, firstID: checkpoint.firstID, previousTag: checkpoint.previousTag, prunedAt: checkpoint.prunedAt)
        guard keyID == Int64(keys.keyID), checkpoint.firstID > 1, ConstantTime.equals(expected, bytes(row, 4)) else {
            throw VaultError.integrity("the audit checkpoint failed authentication (changed or replaced)")
        }
        return checkpoint
    }

    static func storeAuditCheckpoint(_ db: Database, keys: VaultKeys, _ checkpoint: AuditCheckpoint) throws {
        let mac = try checkpointMAC(keys: keys, firstID: checkpoint.firstID, previousTag: checkpoint.previousTag, prunedAt: checkpoint.prunedAt)
        try db.cachedStatement(sql: """
            REPLACE INTO audit_checkpoint(id, first_id, previous_tag, pruned_at, key_id, mac) VALUES (1, ?, ?, ?, ?, ?)
            """).execute(arguments: [checkpoint.firstID, Data(checkpoint.previousTag), checkpoint.prunedAt, Int64(keys.keyID), Data(mac)])
    }

    /// Where the retained chain starts: its first id and the tag that row's AAD binds.
    static func auditChainStart(_ db: Database, keys: VaultKeys) throws -> (firstID: Int64, previousTag: [UInt8]) {
        guard let checkpoint = try readAuditCheckpoint(db, keys: keys) else { return (1, []) }
        return (checkpoint.firstID, checkpoint.previousTag)
    }

    // MARK: Pruning

    /// Deletes audit rows whose time is before `cutoff` (milliseconds) from the start of the
    /// chain, never the newest row, opening each (so a damaged row stops the pruning as an
    /// integrity failure rather than being deleted unseen), and moves the checkpoint past them.
    /// In the caller's transaction; the caller recomputes the audit slot.
    /// - Returns: how many rows were deleted.
    @discardableResult
    static func pruneAudit(_ db: Database, keys: VaultKeys, cutoff: Int64, now: Int64) throws -> Int {
        guard let last = try lastAuditRow(db) else { return 0 }
        var (expected, previousTag) = try auditChainStart(db, keys: keys)
        let next = try db.cachedStatement(sql: "SELECT audit_id, key_id, nonce, ciphertext, tag FROM audit WHERE audit_id >= ? ORDER BY audit_id LIMIT 1")
        let delete = try db.cachedStatement(sql: "DELETE FROM audit WHERE audit_id = ?")
        var pruned = 0
        while pruned < maxAuditRowsPrunedPerWrite, expected < last.id {
            guard let found = try Row.fetchOne(next, arguments: [expected]) else { break }
            let row = LogRow(row: found)
            guard row.id == expected else {
                throw VaultError.integrity("audit row \(expected) is missing (rows changed, removed or reordered)")
            }
            let event = try openAuditRow(row, keys: keys, previousTag: previousTag)
            guard milliseconds(event.time) < cutoff else { break }
            try delete.execute(arguments: [row.id])
            previousTag = row.box.tag
            expected += 1
            pruned += 1
        }
        if pruned > 0 {
            try storeAuditCheckpoint(db, keys: keys, AuditCheckpoint(firstID: expected, previousTag: previousTag, prunedAt: now))
        }
        return pruned
    }

    /// Deletes `done` and `aborted` journal entries last changed before `cutoff`, except each
    /// entity's newest `done` entry: it is the entity's last rotation, which `status` shows
    /// however long ago it was. In the caller's transaction; the caller recomputes the journal
    /// slot.
    /// - Returns: how many entries were deleted.
    @discardableResult
    static func pruneJournal(_ db: Database, keys: VaultKeys, cutoff: Date) throws -> Int {
        let entries = try readJournal(db, keys: keys)
        var lastRotation: [EntityID: Int64] = [:]
        for entry in entries where entry.state == .done {
            lastRotation[entry.entity] = max(lastRotation[entry.entity] ?? entry.id, entry.id)
        }
        let expired = entries.filter { $0.state.isClosed && $0.updatedAt < cutoff && lastRotation[$0.entity] != $0.id }
        let delete = try db.cachedStatement(sql: "DELETE FROM journal WHERE journal_id = ?")
        for entry in expired { try delete.execute(arguments: [entry.id]) }
        return expired.count
    }
}

import Foundation
import GRDB
import KeywardCore

/// The rotation journal (DESIGN.md, "Rotation", items 3, 4 and 7) and the audit log
/// (DESIGN.md, "Commands": `keyward audit`). Both are sealed row by row like records, so an
/// entity id never appears in the file in plaintext; the audit rows form a chain.
extension Vault {
    // MARK: Journal

    /// Writes a `pending` journal entry for `entity`, committed before the caller calls reset.
    /// Closed entries older than the audit retention go in the same transaction.
    @discardableResult
    public func openJournal(entity: EntityID, txnId: String? = nil) throws -> VaultJournalEntry {
        let now = options.clock.now
        return try mutate { db, mutation in
            let keys = mutation.keys
            try Vault.pruneJournal(db, keys: keys, cutoff: now.addingTimeInterval(-Double(mutation.auditRetention)))
            let last = try Int64.fetchOne(db.cachedStatement(sql: "SELECT seq FROM sqlite_sequence WHERE name = 'journal'")) ?? 0
            let maxID = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(journal_id) FROM journal")) ?? 0
            let entry = VaultJournalEntry(id: max(last, maxID) + 1, entity: entity, txnId: txnId, state: .pending, createdAt: now, updatedAt: now)
            try Vault.storeJournal(db, keys: keys, entry: entry, insert: true)
            mutation.journal = true
            return entry
        }
    }

    /// Moves a journal entry to `state` (optionally recording the `txnId` now known).
    /// - Throws: ``VaultError`` `.conflict` for a transition the state machine forbids (another
    ///   job moved the entry on),
    ///   `.notFound` for an unknown id.
    @discardableResult
    public func advanceJournal(id: Int64, to state: VaultJournalState, txnId: String? = nil) throws -> VaultJournalEntry {
        let now = options.clock.now
        return try mutate { db, mutation in
            mutation.journal = true
            return try Vault.advanceJournalRow(db, keys: mutation.keys, id: id, to: state, txnId: txnId, now: now)
        }
    }

    /// Journal entries not `done` or `aborted`, oldest first.
    public func openJournalEntries() throws -> [VaultJournalEntry] {
        try journalEntries().filter { !$0.state.isClosed }
    }

    /// Every journal entry, oldest first.
    public func journalEntries() throws -> [VaultJournalEntry] {
        try read { db, keys in try Vault.readJournal(db, keys: keys) }
    }

    @discardableResult
    static func advanceJournalRow(_ db: Database, keys: VaultKeys, id: Int64, to state: VaultJournalState, txnId: String?, now: Date) throws -> VaultJournalEntry {
        guard var entry = try readJournal(db, keys: keys).first(where: { $0.id == id }) else {
            throw VaultError(.notFound, "no journal entry \(id)")
        }
        guard entry.state.canAdvance(to: state) else {
            // Not a usage error: the entry moved on under another job (it was finished or closed
            // meanwhile). Its MAC held, so it is no integrity failure either.
            throw VaultError(.conflict, "rotation journal entry \(id) of \(entry.entity) is already \(entry.state.rawValue) and cannot move to \(state.rawValue): "
                             + "another job changed it meanwhile; run the command again")
        }
        entry.state = state
        entry.updatedAt = now
        if let txnId { entry.txnId = txnId }
        try storeJournal(db, keys: keys, entry: entry, insert: false)
        return entry
    }

    static func storeJournal(_ db: Database, keys: VaultKeys, entry: VaultJournalEntry, insert: Bool) throws {
        let box = try keys.log.seal(encodeJournalPlaintext(entry), aad: logAAD(keys: keys, table: "journal", id: entry.id, keyID: keys.keyID, previousTag: []))
        try db.execute(
            sql: "\(insert ? "INSERT" : "REPLACE") INTO journal(journal_id, key_id, nonce, ciphertext, tag) VALUES (?, ?, ?, ?, ?)",
            arguments: [entry.id, Int64(keys.keyID), Data(box.nonce), Data(box.ciphertext), Data(box.tag)])
    }

    /// What a journal row seals: format 1, entity, txnId, state, creation and update times.
    static func encodeJournalPlaintext(_ entry: VaultJournalEntry) -> [UInt8] {
        var writer = ByteWriter()
        writer.u8(1)
        writer.field(entry.entity.rawValue)
        writer.optionalField(entry.txnId)
        writer.field(entry.state.rawValue)
        writer.i64(milliseconds(entry.createdAt))
        writer.i64(milliseconds(entry.updatedAt))
        return writer.take()
    }

    static func readJournal(_ db: Database, keys: VaultKeys) throws -> [VaultJournalEntry] {
        try readJournalRows(db).map { row in
            guard row.keyID == keys.keyID,
                let plaintext = try? keys.log.open(row.box, aad: logAAD(keys: keys, table: "journal", id: row.id, keyID: row.keyID, previousTag: []))
            else {
                throw VaultError.integrity("journal entry \(row.id) failed authentication")
            }
            return try decodeJournalPlaintext(plaintext, id: row.id)
        }
    }

    /// A journal row's opened plaintext as an entry; the inverse of ``storeJournal``'s encoding.
    /// - Throws: ``ByteReader/Malformed`` for a wrong format byte, a bad entity id or state, a
    ///   time outside ``ByteReader/timeRange``, missing or trailing bytes.
    static func decodeJournalPlaintext(_ plaintext: [UInt8], id: Int64) throws -> VaultJournalEntry {
        var reader = ByteReader(plaintext)
        guard try reader.u8() == 1, let entity = EntityID(try reader.string()) else { throw ByteReader.Malformed() }
        let txnId = try reader.optionalString()
        guard let state = VaultJournalState(rawValue: try reader.string()) else { throw ByteReader.Malformed() }
        let created = try reader.time()
        let updated = try reader.time()
        try reader.finish()
        return VaultJournalEntry(
            id: id, entity: entity, txnId: txnId, state: state, createdAt: date(milliseconds: created), updatedAt: date(milliseconds: updated))
    }

    // MARK: Audit

    /// Appends an audit row: time, operation, entity, outcome, txnId; never a value.
    public func appendAudit(_ event: VaultAuditEvent) throws {
        try appendAudit([event])
    }

    /// Appends several audit rows, in order, in one transaction (one fsync for a whole export).
    /// Rows older than the audit retention go in the same transaction (``pruneAudit``).
    public func appendAudit(_ events: [VaultAuditEvent]) throws {
        guard !events.isEmpty else { return }
        let now = milliseconds(options.clock.now)
        try mutate { db, mutation in
            let keys = mutation.keys
            for event in events {
                let last = try Row.fetchOne(db.cachedStatement(sql: "SELECT audit_id, tag FROM audit ORDER BY audit_id DESC LIMIT 1"))
                let id: Int64 = (last.map { $0[0] as Int64 } ?? 0) + 1
                try Vault.storeAudit(db, keys: keys, id: id, event: event, previousTag: last.map { bytes($0, 1) } ?? [])
            }
            try Vault.pruneAudit(db, keys: keys, cutoff: now - mutation.auditRetention * 1000, now: now)
            mutation.audit = true
        }
    }

    /// The audit log, oldest first, optionally only rows at or after `since`.
    /// - Throws: ``VaultError`` `.integrity` when a row was changed, removed or reordered.
    public func auditEvents(since: Date? = nil) throws -> [VaultAuditEvent] {
        try read { db, keys in try Vault.readAudit(db, keys: keys, since: since) }
    }

    /// Per entity of `entities`, the newest audit event naming exactly that entity for which
    /// `matches` holds: the chain read from its head back (each row opened under the stored
    /// tag of the row before it, the first retained one under the chain start's), stopping
    /// once every entity has one. The head is pinned by the manifest, so an edited row on the
    /// way fails as in ``auditEvents(since:)``; rows before the stop are not opened.
    /// - Throws: ``VaultError`` `.integrity` when a row read fails authentication or is missing.
    public func latestAuditEvents(for entities: Set<String>, where matches: (VaultAuditEvent) -> Bool) throws -> [String: VaultAuditEvent] {
        try read { db, keys in
            var latest: [String: VaultAuditEvent] = [:]
            guard !entities.isEmpty else { return latest }
            let start = try Vault.auditChainStart(db, keys: keys)
            let rows = try Row.fetchCursor(db.cachedStatement(sql: "SELECT audit_id, key_id, nonce, ciphertext, tag FROM audit ORDER BY audit_id DESC"))
            var newer: LogRow?
            /// Opens `row` (the older row's tag known) and keeps it if it matches.
            func consider(_ row: LogRow, previousTag: [UInt8]) throws {
                let event = try Vault.openAuditRow(row, keys: keys, previousTag: previousTag)
                if let entity = event.entity, entities.contains(entity), latest[entity] == nil, matches(event) { latest[entity] = event }
            }
            while let next = try rows.next() {
                let older = LogRow(row: next)
                if let pending = newer {
                    guard older.id == pending.id - 1 else {
                        throw VaultError.integrity("audit row \(pending.id - 1) is missing (rows changed, removed or reordered)")
                    }
                    try consider(pending, previousTag: older.box.tag)
                    if latest.count == entities.count { return latest }
                }
                newer = older
            }
            if let first = newer {
                guard first.id == start.firstID else {
                    throw VaultError.integrity("audit row \(start.firstID) is missing (rows changed, removed or reordered)")
                }
                try consider(first, previousTag: start.previousTag)
            }
            return latest
        }
    }

    static func storeAudit(_ db: Database, keys: VaultKeys, id: Int64, event: VaultAuditEvent, previousTag: [UInt8]) throws {
        let box = try keys.log.seal(encodeAuditPlaintext(event), aad: logAAD(keys: keys, table: "audit", id: id, keyID: keys.keyID, previousTag: previousTag))
        try db.execute(
            sql: "INSERT INTO audit(audit_id, key_id, nonce, ciphertext, tag) VALUES (?, ?, ?, ?, ?)",
            arguments: [id, Int64(keys.keyID), Data(box.nonce), Data(box.ciphertext), Data(box.tag)])
    }

    /// What an audit row seals: format 1, time, operation, entity, outcome, txnId.
    static func encodeAuditPlaintext(_ event: VaultAuditEvent) -> [UInt8] {
        var writer = ByteWriter()
        writer.u8(1)
        writer.i64(milliseconds(event.time))
        writer.field(event.operation)
        writer.optionalField(event.entity)
        writer.field(event.outcome)
        writer.optionalField(event.txnId)
        return writer.take()
    }

    static func readAuditRows(_ db: Database) throws -> [LogRow] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT audit_id, key_id, nonce, ciphertext, tag FROM audit ORDER BY audit_id")).map(LogRow.init(row:))
    }

    /// The retained audit chain from its start (1, or the ``AuditCheckpoint``), every row
    /// opened under the tag of the row before it, optionally only rows at or after `since`.
    static func readAudit(_ db: Database, keys: VaultKeys, since: Date?) throws -> [VaultAuditEvent] {
        var (expected, previousTag) = try auditChainStart(db, keys: keys)
        var events: [VaultAuditEvent] = []
        for row in try readAuditRows(db) {
            guard row.id == expected else {
                throw VaultError.integrity("audit row \(expected) is missing (rows changed, removed or reordered)")
            }
            let event = try openAuditRow(row, keys: keys, previousTag: previousTag)
            previousTag = row.box.tag
            expected += 1
            if let since, event.time < since { continue }
            events.append(event)
        }
        return events
    }

    /// One audit row opened under `previousTag` (the tag of the row before it).
    /// - Throws: ``VaultError`` `.integrity` when it fails authentication or does not decode.
    static func openAuditRow(_ row: LogRow, keys: VaultKeys, previousTag: [UInt8]) throws -> VaultAuditEvent {
        guard row.keyID == keys.keyID,
            let plaintext = try? keys.log.open(row.box, aad: logAAD(keys: keys, table: "audit", id: row.id, keyID: row.keyID, previousTag: previousTag))
        else {
            throw VaultError.integrity("audit row \(row.id) failed authentication (changed, removed or reordered rows)")
        }
        return try decodeAuditPlaintext(plaintext, id: row.id)
    }

    /// An audit row's opened plaintext as an event; the inverse of ``storeAudit``'s encoding.
    /// - Throws: ``ByteReader/Malformed`` for a wrong format byte, a time outside
    ///   ``ByteReader/timeRange``, missing or trailing bytes.
    static func decodeAuditPlaintext(_ plaintext: [UInt8], id: Int64) throws -> VaultAuditEvent {
        var reader = ByteReader(plaintext)
        guard try reader.u8() == 1 else { throw ByteReader.Malformed() }
        let time = date(milliseconds: try reader.time())
        let operation = try reader.string()
        let entity = try reader.optionalString()
        let outcome = try reader.string()
        let txnId = try reader.optionalString()
        try reader.finish()
        return VaultAuditEvent(id: id, time: time, operation: operation, entity: entity, outcome: outcome, txnId: txnId)
    }

    /// Rekey: every journal and audit row re-sealed under the new key, the chain rebuilt.
    static func resealLogs(_ db: Database, from old: VaultKeys, to new: VaultKeys) throws {
        for entry in try readJournal(db, keys: old) {
            try storeJournal(db, keys: new, entry: entry, insert: false)
        }
        let checkpoint = try readAuditCheckpoint(db, keys: old)
        let events = try readAudit(db, keys: old, since: nil)
        try db.cachedStatement(sql: "DELETE FROM audit").execute()
        // The first retained row binds the pruned row's tag, which no re-sealing changes; the
        // checkpoint is MACed again under the new key.
        var previousTag = checkpoint?.previousTag ?? []
        if let checkpoint { try storeAuditCheckpoint(db, keys: new, checkpoint) }
        for event in events {
            guard let id = event.id else { continue }
            try storeAudit(db, keys: new, id: id, event: event, previousTag: previousTag)
            previousTag = try Data.fetchOne(db.cachedStatement(sql: "SELECT tag FROM audit WHERE audit_id = ?"), arguments: [id]).map(Array.init) ?? []
        }
    }
}

import Foundation
import GRDB
internal import GRDBSQLite
import KeywardCore

/// The sealed plaintext of one version: metadata and value together, so nothing about a
/// version is readable without the key.
struct RecordPlaintext {
    static let format: UInt8 = 1

    static func encode(value: SecretValue, createdAt: Int64, expiresAt: Int64?, source: String, txnId: String?) -> [UInt8] {
        var writer = ByteWriter(capacity: value.count + source.utf8.count + 64)
        writer.u8(format)
        writer.i64(createdAt)
        writer.optionalI64(expiresAt)
        writer.field(source)
        writer.optionalField(txnId)
        value.withRevealedBytes { writer.field(Array($0)) }
        return writer.take()
    }

    static func decode(_ bytes: [UInt8]) throws -> (value: SecretValue, createdAt: Int64, expiresAt: Int64?, source: String, txnId: String?) {
        var reader = ByteReader(bytes)
        guard try reader.u8() == format else { throw ByteReader.Malformed() }
        let createdAt = try reader.time()
        let expiresAt = try reader.optionalTime()
        let source = try reader.string()
        let txnId = try reader.optionalString()
        var value = try reader.field()
        defer { SecureBytes.wipe(&value) }
        try reader.finish()
        return (SecretValue(bytes: value), createdAt, expiresAt, source, txnId)
    }
}

extension Vault {
    // MARK: Writing

    /// Stores `value` as a new version of `name` and moves `label` to it: for `.current`,
    /// the version that was current becomes `.previous`. Older unlabelled versions beyond the
    /// vault's retention are deleted (secure_delete zeroes their pages). Durable on return.
    ///
    /// - Parameter journal: a rotation journal entry to advance in the same transaction
    ///   (DESIGN.md, "Rotation", item 4).
    /// - Returns: the stored record, with its version number and label.
    @discardableResult
    public func put(_ name: SecretName, _ value: SecretValue, metadata: VaultRecordMetadata = VaultRecordMetadata(),
                    label: VersionLabel = .current, journal: (id: Int64, state: VaultJournalState)? = nil) throws -> SecretRecord {
        let createdAt = metadata.createdAt ?? options.clock.now
        return try mutate { db, mutation in
            let keys = mutation.keys
            let record = try Vault.storeVersion(
                db, keys: keys, name: name, value: value, createdAt: createdAt, metadata: metadata, label: label, mutation: &mutation)
            if let journal {
                try Vault.advanceJournalRow(db, keys: keys, id: journal.id, to: journal.state, txnId: metadata.txnId, now: options.clock.now)
                mutation.journal = true
            }
            return record
        }
    }

    /// Stores many values in one transaction (one fsync, one manifest update), each as a new
    /// version that takes `label`.
    public func putBatch(_ items: [(name: SecretName, value: SecretValue)], metadata: VaultRecordMetadata = VaultRecordMetadata(),
                         label: VersionLabel = .current) throws {
        let createdAt = metadata.createdAt ?? options.clock.now
        try mutate { db, mutation in
            let keys = mutation.keys
            for item in items {
                _ = try Vault.storeVersion(
                    db, keys: keys, name: item.name, value: item.value, createdAt: createdAt, metadata: metadata, label: label,
                    mutation: &mutation)
            }
        }
    }

    static func storeVersion(
        _ db: Database, keys: VaultKeys, name: SecretName, value: SecretValue, createdAt: Date, metadata: VaultRecordMetadata,
        label: VersionLabel, mutation: inout Mutation
    ) throws -> SecretRecord {
        let index = try keys.index(of: name.rawValue)
        // The entry's id, labels and next version come from a SELECT of only those columns (it
        // read the whole row, four blobs copied into arrays); the label update goes by primary key. A
        // new entry is inserted with its labels already set, so it needs no update.
        let claimed: ClaimedVersion
        var createdName: SealedBox?
        if let existing = try claimVersion(db, nameIndex: index, label: label) {
            claimed = existing
        } else {
            // Choose the id first: it is bound into the name's and the records' AAD. Never one
            // given out before (a removed entry's id included): the high-water mark is in the
            // header, so the header slot is recomputed.
            let last = try readLastEntryID(db)
            guard (0..<VaultSchema.maxEntryID).contains(last) else {
                throw VaultError.integrity("the vault's entry-id mark (\(last)) is out of range; no entry can be added")
            }
            let id = last + 1
            let advance = try RawStatement(db, "UPDATE vault_meta SET last_entry_id = ? WHERE id = 1")
            try advance.bind(1, id)
            try advance.run()
            mutation.header = true
            let nameBox = try keys.names.seal(Array(name.rawValue.utf8), aad: nameAAD(keys: keys, entryID: id, keyID: keys.keyID, nameIndex: index))
            claimed = ClaimedVersion(
                entryID: id, version: 1, current: label == .current ? 1 : nil, previous: label == .previous ? 1 : nil,
                pending: label == .pending ? 1 : nil, nextVersion: 2)
            let insert = try RawStatement(db, """
                INSERT INTO entries(entry_id, name_index, bucket, key_id, name_nonce, name_ciphertext, name_tag,
                                    current_version, previous_version, pending_version, next_version)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            try insert.bind(1, id)
            try insert.bind(2, index)
            try insert.bind(3, bucket(of: id))
            try insert.bind(4, Int64(keys.keyID))
            try insert.bind(5, nameBox.nonce)
            try insert.bind(6, nameBox.ciphertext)
            try insert.bind(7, nameBox.tag)
            try insert.bind(8, claimed.current)
            try insert.bind(9, claimed.previous)
            try insert.bind(10, claimed.pending)
            try insert.bind(11, claimed.nextVersion)
            try insert.run()
            createdName = nameBox
        }
        let version = claimed.version
        var plaintext = RecordPlaintext.encode(
            value: value, createdAt: milliseconds(createdAt), expiresAt: metadata.expiresAt.map(milliseconds), source: metadata.source,
            txnId: metadata.txnId)
        defer { SecureBytes.wipe(&plaintext) }
        let box = try keys.records.seal(
            plaintext, aad: recordAAD(keys: keys, entryID: claimed.entryID, version: version, keyID: keys.keyID, alg: algorithmAES256GCM, nameIndex: index))
        let insert = try RawStatement(
            db, "INSERT INTO versions(bucket, entry_id, version, key_id, alg, nonce, ciphertext, tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        try insert.bind(1, bucket(of: claimed.entryID))
        try insert.bind(2, claimed.entryID)
        try insert.bind(3, version)
        try insert.bind(4, Int64(keys.keyID))
        try insert.bind(5, algorithmAES256GCM)
        try insert.bind(6, box.nonce)
        try insert.bind(7, box.ciphertext)
        try insert.bind(8, box.tag)
        try insert.run()
        let pruned = try prune(
            db, entryID: claimed.entryID, labelled: [claimed.current, claimed.previous, claimed.pending], nextVersion: claimed.nextVersion,
            retention: mutation.retention)
        mutation.storedVersion(
            entryID: claimed.entryID, created: createdName.map { (nameIndex: index, keyID: keys.keyID, name: $0) },
            labels: EntryLabels(current: claimed.current, previous: claimed.previous, pending: claimed.pending, nextVersion: claimed.nextVersion),
            version: VersionFields(version: version, keyID: keys.keyID, alg: algorithmAES256GCM, nonce: box.nonce, tag: box.tag,
                                   ciphertextLength: Int64(box.ciphertext.count)),
            pruned: pruned)
        return SecretRecord(
            value: value, version: Int(version), createdAt: date(milliseconds: milliseconds(createdAt)), expiresAt: metadata.expiresAt,
            source: metadata.source, txnId: metadata.txnId, label: label)
    }

    /// An existing entry after ``claimVersion(_:nameIndex:label:)``.
    struct ClaimedVersion {
        var entryID: Int64
        /// The version number taken for the new version.
        var version: Int64
        var current: Int64?
        var previous: Int64?
        var pending: Int64?
        var nextVersion: Int64
    }

    /// For the entry at `nameIndex`, if there is one: takes `next_version` as the new version,
    /// moves `label` to it (for `.current`, the old current becomes `.previous`) and advances
    /// `next_version`. Two statements, not one `UPDATE … RETURNING`: SQLite materialises
    /// RETURNING rows in an ephemeral table, and that made a batch of puts about a fifth slower.
    static func claimVersion(_ db: Database, nameIndex: [UInt8], label: VersionLabel) throws -> ClaimedVersion? {
        let found: ClaimedVersion? = try {
            let select = try RawStatement(
                db, "SELECT entry_id, current_version, previous_version, pending_version, next_version FROM entries WHERE name_index = ?")
            defer { select.reset() }
            try select.bind(1, nameIndex)
            guard try select.step() else { return nil }
            let s = select.raw
            return ClaimedVersion(
                entryID: sqlite3_column_int64(s, 0), version: sqlite3_column_int64(s, 4), current: optionalInt(s, 1),
                previous: optionalInt(s, 2), pending: optionalInt(s, 3), nextVersion: sqlite3_column_int64(s, 4) + 1)
        }()
        guard var claimed = found else { return nil }
        switch label {
        case .current:
            claimed.previous = claimed.current
            claimed.current = claimed.version
        case .previous: claimed.previous = claimed.version
        case .pending: claimed.pending = claimed.version
        }
        try writeLabels(db, entryID: claimed.entryID, current: claimed.current, previous: claimed.previous, pending: claimed.pending,
                        nextVersion: claimed.nextVersion)
        return claimed
    }

    static func saveLabels(_ db: Database, entry: EntryRow) throws {
        try writeLabels(db, entryID: entry.id, current: entry.current, previous: entry.previous, pending: entry.pending,
                        nextVersion: entry.nextVersion)
    }

    /// The one statement that stores an entry's labels and next version number.
    private static func writeLabels(_ db: Database, entryID: Int64, current: Int64?, previous: Int64?, pending: Int64?,
                                    nextVersion: Int64) throws {
        let update = try RawStatement(db, """
            UPDATE entries SET current_version = ?, previous_version = ?, pending_version = ?, next_version = ?
            WHERE bucket = ? AND entry_id = ?
            """)
        try update.bind(1, current)
        try update.bind(2, previous)
        try update.bind(3, pending)
        try update.bind(4, nextVersion)
        try update.bind(5, bucket(of: entryID))
        try update.bind(6, entryID)
        try update.run()
    }

    /// Deletes the oldest unlabelled versions beyond the retention (never the newest); returns
    /// the versions it deleted.
    @discardableResult
    static func prune(_ db: Database, entryID: Int64, labelled: [Int64?], nextVersion: Int64, retention: Int) throws -> [Int64] {
        // An entry cannot hold more versions than were ever written to it.
        guard nextVersion - 1 > Int64(retention) else { return [] }
        let versions = try Int64.fetchAll(
            db.cachedStatement(sql: "SELECT version FROM versions WHERE bucket = ? AND entry_id = ? ORDER BY version"),
            arguments: [bucket(of: entryID), entryID])
        var excess = versions.count - retention
        guard excess > 0 else { return [] }
        let labelled = Set(labelled.compactMap { $0 })
        var pruned = [Int64]()
        for version in versions where excess > 0 && !labelled.contains(version) && version != nextVersion - 1 {
            try db.cachedStatement(sql: "DELETE FROM versions WHERE bucket = ? AND entry_id = ? AND version = ?")
                .execute(arguments: [bucket(of: entryID), entryID, version])
            pruned.append(version)
            excess -= 1
        }
        return pruned
    }

    /// Moves `label` of `name` to an existing `version` (for `.current`, the old current
    /// becomes `.previous`; the label moved away from a version is cleared there).
    public func moveLabel(_ label: VersionLabel, of name: SecretName, toVersion version: Int) throws {
        try mutate { db, mutation in
            let index = try mutation.keys.index(of: name.rawValue)
            guard var entry = try Vault.readEntry(db, nameIndex: index) else { throw Vault.notFound(name) }
            guard try Vault.readVersion(db, entryID: entry.id, version: Int64(version)) != nil else {
                throw VaultError(.notFound, "\(name) has no version \(version)")
            }
            let target = Int64(version)
            switch label {
            case .current:
                if entry.current != target { entry.previous = entry.current }
                entry.current = target
                if entry.pending == target { entry.pending = nil }
            case .previous: entry.previous = target
            case .pending: entry.pending = target
            }
            try Vault.saveLabels(db, entry: entry)
            mutation.changed(entry.id)
        }
    }

    /// Records a new expiry (and the `txnId` of the read that reported it) for the version of
    /// `name` that carries `label`, in place: its bytes, version number, labels, creation time
    /// and source stay. For a service that changed a secret's expiry without changing the
    /// secret (the vault follows the service). The version is sealed again
    /// under a fresh nonce, in one transaction with the manifest. Durable on return.
    ///
    /// - Parameter txnId: the new `txnId`, or `nil` to keep the version's own.
    /// - Throws: ``VaultError`` `.notFound` when the entry or label is absent; `.integrity` when
    ///   the version fails authentication.
    @discardableResult
    public func amend(_ name: SecretName, label: VersionLabel = .current, expiresAt: Date?, txnId: String?) throws -> SecretRecord {
        try mutate { db, mutation in
            let keys = mutation.keys
            let index = try keys.index(of: name.rawValue)
            guard let entry = try Vault.readEntry(db, nameIndex: index), let version = entry.version(labelled: label) else {
                throw VaultError(.notFound, "no entry named \(name) with a \(label.rawValue) version in the vault")
            }
            guard let row = try Vault.readVersion(db, entryID: entry.id, version: version) else {
                throw VaultError.integrity("\(name): the \(label.rawValue) version \(version) is missing")
            }
            let old = try Vault.openRecord(row, entry: entry, keys: keys, name: name)
            var plaintext = RecordPlaintext.encode(
                value: old.value, createdAt: milliseconds(old.createdAt), expiresAt: expiresAt.map(milliseconds), source: old.source,
                txnId: txnId ?? old.txnId)
            defer { SecureBytes.wipe(&plaintext) }
            let box = try keys.records.seal(
                plaintext, aad: Vault.recordAAD(keys: keys, entryID: entry.id, version: version, keyID: keys.keyID, alg: Vault.algorithmAES256GCM, nameIndex: index))
            let update = try RawStatement(db, """
                UPDATE versions SET key_id = ?, alg = ?, nonce = ?, ciphertext = ?, tag = ?
                WHERE bucket = ? AND entry_id = ? AND version = ?
                """)
            try update.bind(1, Int64(keys.keyID))
            try update.bind(2, Vault.algorithmAES256GCM)
            try update.bind(3, box.nonce)
            try update.bind(4, box.ciphertext)
            try update.bind(5, box.tag)
            try update.bind(6, Vault.bucket(of: entry.id))
            try update.bind(7, entry.id)
            try update.bind(8, version)
            try update.run()
            mutation.changed(entry.id)
            return SecretRecord(
                value: old.value, version: Int(version), createdAt: old.createdAt, expiresAt: expiresAt.map { date(milliseconds: milliseconds($0)) },
                source: old.source, txnId: txnId ?? old.txnId, label: label)
        }
    }

    /// Versions kept per entry (configuration `vault.retention`); labelled versions are never
    /// pruned. Takes effect at each entry's next write.
    /// - Throws: ``VaultError`` `.invalidInput` outside 1...10000.
    public func setRetention(_ retention: Int) throws {
        guard (1...10_000).contains(retention) else { throw VaultError.invalid("retention must be between 1 and 10000 versions") }
        try mutate { db, mutation in
            try db.cachedStatement(sql: "UPDATE vault_meta SET retention = ? WHERE id = 1").execute(arguments: [retention])
            mutation.header = true
        }
    }

    /// Versions kept per entry.
    public func retention() throws -> Int {
        try read { db, _ in try Vault.readMeta(db).retention }
    }

    /// Removes the label from `name` (e.g. `pending` after an aborted rotation).
    public func clearLabel(_ label: VersionLabel, of name: SecretName) throws {
        try mutate { db, mutation in
            guard var entry = try Vault.readEntry(db, nameIndex: try mutation.keys.index(of: name.rawValue)) else { throw Vault.notFound(name) }
            switch label {
            case .current: entry.current = nil
            case .previous: entry.previous = nil
            case .pending: entry.pending = nil
            }
            try Vault.saveLabels(db, entry: entry)
            mutation.changed(entry.id)
        }
    }

    /// Removes the entry and every version of it.
    /// - Throws: ``VaultError`` `.notFound` when there is no such entry.
    public func remove(_ name: SecretName) throws {
        try mutate { db, mutation in
            guard let entry = try Vault.readEntry(db, nameIndex: try mutation.keys.index(of: name.rawValue)) else { throw Vault.notFound(name) }
            try db.cachedStatement(sql: "DELETE FROM versions WHERE bucket = ? AND entry_id = ?").execute(arguments: [Vault.bucket(of: entry.id), entry.id])
            try db.cachedStatement(sql: "DELETE FROM entries WHERE bucket = ? AND entry_id = ?").execute(arguments: [Vault.bucket(of: entry.id), entry.id])
            mutation.changed(entry.id)
        }
    }

    static func notFound(_ name: SecretName) -> VaultError { VaultError(.notFound, "no entry named \(name) in the vault") }

    // MARK: Reading

    /// The version of `name` that carries `label`.
    /// - Throws: ``VaultError`` `.notFound` when the entry or label is absent; `.integrity`
    ///   when the record fails authentication (no plaintext is returned).
    public func get(_ name: SecretName, label: VersionLabel = .current) throws -> SecretRecord {
        guard let record = try find(name, label: label) else {
            throw VaultError(.notFound, "no entry named \(name) with a \(label.rawValue) version in the vault")
        }
        return record
    }

    /// Like ``get(_:label:)`` but `nil` when absent.
    public func find(_ name: SecretName, label: VersionLabel = .current) throws -> SecretRecord? {
        if let fast = try findInOneStatement(name, label: label) { return fast.record }
        return try read { db, keys in
            let index = try keys.index(of: name.rawValue)
            guard let entry = try Vault.readEntry(db, nameIndex: index), let version = entry.version(labelled: label) else { return nil }
            guard let row = try Vault.readVersion(db, entryID: entry.id, version: version) else {
                throw VaultError.integrity("\(name): the \(label.rawValue) version \(version) is missing")
            }
            var record = try Vault.openRecord(row, entry: entry, keys: keys, name: name)
            record.label = label
            return record
        }
    }

    /// What `findInOneStatement` reads: a named type, not a tuple, so that no generic metadata
    /// is instantiated per call.
    private struct OneStatementRow {
        var generation: Int64
        var keyID: Int64
        var entryID: Int64?
        var labelled: Int64?
        var version: VersionRow?
    }

    /// The hot path of `get`: header, entry and version in one SELECT (one snapshot, so no
    /// transaction is needed), only the columns it needs. Returns `nil` to fall back to the
    /// checked path when another process wrote since this one last looked (the generation moved).
    private func findInOneStatement(_ name: SecretName, label: VersionLabel) throws -> (record: SecretRecord?, Void)? {
        let keys = self.keys
        let known = knownGeneration
        let sql = Vault.oneStatementSQL(label)
        do {
            let index = try keys.index(of: name.rawValue)
            // Raw columns, no Row: this is the path `get` takes thousands of times a second.
            let found: OneStatementRow? = try queue.inDatabase { db in
                let select = try RawStatement(db, sql)
                defer { select.reset() }
                try select.bind(1, index)
                guard try select.step() else { return nil }
                let raw = select.raw
                return OneStatementRow(
                    generation: sqlite3_column_int64(raw, 0), keyID: sqlite3_column_int64(raw, 1),
                    entryID: Vault.optionalInt(raw, 2), labelled: Vault.optionalInt(raw, 3),
                    version: sqlite3_column_type(raw, 4) == SQLITE_NULL ? nil : VersionRow(statement: raw, offset: 4))
            }
            guard let found else { return nil }
            guard found.generation == known, found.keyID == Int64(keys.keyID) else { return nil }
            guard let entryID = found.entryID else { return (nil, ()) }
            guard let version = found.labelled else { return (nil, ()) }
            guard let versionRow = found.version else {
                throw VaultError.integrity("\(name): the \(label.rawValue) version \(version) is missing")
            }
            // The row was found by this very name index, which the record's AAD binds.
            var record = try Vault.openRecord(versionRow, entryID: entryID, nameIndex: index, keys: keys, name: name)
            record.label = label
            return (record, ())
        } catch {
            throw mapped(error)
        }
    }

    /// The SELECT of `findInOneStatement`, one per label (built once).
    private static func oneStatementSQL(_ label: VersionLabel) -> String {
        switch label {
        case .current: oneStatementCurrent
        case .previous: oneStatementPrevious
        case .pending: oneStatementPending
        }
    }

    private static let oneStatementCurrent = oneStatementSQL(column: "current_version")
    private static let oneStatementPrevious = oneStatementSQL(column: "previous_version")
    private static let oneStatementPending = oneStatementSQL(column: "pending_version")

    private static func oneStatementSQL(column: String) -> String {
        let versionColumns = VersionRow.columns.split(separator: ",").map { "v." + $0.trimmingCharacters(in: .whitespaces) }
        return """
            SELECT m.generation, m.key_id, e.entry_id, e.\(column), \(versionColumns.joined(separator: ", "))
            FROM vault_meta m
            LEFT JOIN entries e ON e.name_index = ?
            LEFT JOIN versions v ON v.bucket = e.bucket AND v.entry_id = e.entry_id AND v.version = e.\(column)
            WHERE m.id = 1
            """
    }

    /// A specific version of `name`.
    public func get(_ name: SecretName, version: Int) throws -> SecretRecord {
        try read { db, keys in
            guard let entry = try Vault.readEntry(db, nameIndex: try keys.index(of: name.rawValue)) else { throw Vault.notFound(name) }
            guard let row = try Vault.readVersion(db, entryID: entry.id, version: Int64(version)) else {
                throw VaultError(.notFound, "\(name) has no version \(version)")
            }
            var record = try Vault.openRecord(row, entry: entry, keys: keys, name: name)
            record.label = entry.labels(of: Int64(version)).first
            return record
        }
    }

    static func openRecord(_ row: VersionRow, entry: EntryRow, keys: VaultKeys, name: SecretName) throws -> SecretRecord {
        try openRecord(row, entryID: entry.id, nameIndex: entry.nameIndex, keys: keys, name: name)
    }

    static func openRecord(_ row: VersionRow, entryID: Int64, nameIndex: [UInt8], keys: VaultKeys, name: SecretName) throws -> SecretRecord {
        guard row.alg == algorithmAES256GCM, row.keyID == keys.keyID else {
            throw VaultError.integrity("\(name) version \(row.version): unknown algorithm or key id")
        }
        var plaintext: [UInt8]
        do {
            plaintext = try keys.records.open(
                row.box, aad: recordAAD(keys: keys, entryID: entryID, version: row.version, keyID: row.keyID, alg: row.alg, nameIndex: nameIndex))
        } catch {
            throw VaultError.integrity("\(name) version \(row.version) failed authentication (tampered or damaged record)")
        }
        defer { SecureBytes.wipe(&plaintext) }
        let decoded = try RecordPlaintext.decode(plaintext)
        return SecretRecord(
            value: decoded.value, version: Int(row.version), createdAt: date(milliseconds: decoded.createdAt),
            expiresAt: decoded.expiresAt.map(date(milliseconds:)), source: decoded.source, txnId: decoded.txnId)
    }

    static func openName(entry: EntryRow, keys: VaultKeys) throws -> String {
        guard entry.keyID == keys.keyID else { throw VaultError.integrity("entry \(entry.id): unknown key id") }
        let bytes: [UInt8]
        do {
            bytes = try keys.names.open(entry.nameBox, aad: nameAAD(keys: keys, entryID: entry.id, keyID: entry.keyID, nameIndex: entry.nameIndex))
        } catch {
            throw VaultError.integrity("the name of entry \(entry.id) failed authentication")
        }
        guard let name = String(validating: bytes, as: UTF8.self), try keys.index(of: name) == entry.nameIndex else {
            throw VaultError.integrity("the name of entry \(entry.id) does not match its index")
        }
        return name
    }

    /// The names of all entries starting with `prefix`, sorted.
    public func list(prefix: String = "") throws -> [SecretName] {
        try read { db, keys in
            var names: [SecretName] = []
            let cursor = try Row.fetchCursor(db, sql: "SELECT \(EntryRow.columns) FROM entries")
            while let row = try cursor.next() {
                let text = try Vault.openName(entry: EntryRow(row: row), keys: keys)
                guard text.hasPrefix(prefix) else { continue }
                guard let name = SecretName(text) else { throw VaultError.integrity("a stored name breaks the naming rule") }
                names.append(name)
            }
            return names.sorted()
        }
    }

    /// Every stored version of `name`, oldest first: labels, dates, source, fingerprints.
    /// Never a value.
    public func history(_ name: SecretName) throws -> [VaultVersionInfo] {
        try read { db, keys in
            guard let entry = try Vault.readEntry(db, nameIndex: try keys.index(of: name.rawValue)) else { throw Vault.notFound(name) }
            return try Vault.readVersions(db, entryID: entry.id).map { row in
                let record = try Vault.openRecord(row, entry: entry, keys: keys, name: name)
                return VaultVersionInfo(
                    version: record.version, labels: entry.labels(of: row.version), createdAt: record.createdAt, expiresAt: record.expiresAt,
                    source: record.source, txnId: record.txnId, fingerprint: fingerprint(record.value), byteCount: record.value.count)
            }
        }
    }

    /// `vault verify`: the full manifest check, every name and every version decrypted and
    /// authenticated, the journal and the audit chain.
    /// - Throws: ``VaultError`` `.integrity` naming the first failure.
    public func verify() throws -> VaultVerifyReport {
        try read { db, keys in
            try verifyManifest(db, full: true)
            return try Vault.verifyContents(db, keys: keys)
        }
    }

    /// Everything `vault verify` checks beyond the manifest: every name and every version
    /// opened (AEAD), every label pointing at a version, the journal and the whole audit chain
    /// opened. Also run before a restored copy is re-anchored, so that it never goes ahead on a
    /// file with a damaged record.
    /// - Throws: ``VaultError`` `.integrity` naming the first failure.
    static func verifyContents(_ db: Database, keys: VaultKeys) throws -> VaultVerifyReport {
        let meta = try Vault.readMeta(db)
        let versionsOf = try db.makeStatement(
            sql: "SELECT \(VersionRow.columns) FROM versions WHERE bucket = ? AND entry_id = ? ORDER BY version")
        var entries = 0
        var versions = 0
        let cursor = try Row.fetchCursor(db, sql: "SELECT \(EntryRow.columns) FROM entries ORDER BY bucket, entry_id")
        while let row = try cursor.next() {
            let entry = EntryRow(row: row)
            let text = try Vault.openName(entry: entry, keys: keys)
            guard let name = SecretName(text) else { throw VaultError.integrity("a stored name breaks the naming rule") }
            var present = Set<Int64>()
            let key: StatementArguments = [Vault.bucket(of: entry.id), entry.id]
            for version in try Row.fetchAll(versionsOf, arguments: key).map({ VersionRow(row: $0) }) {
                _ = try Vault.openRecord(version, entry: entry, keys: keys, name: name)
                present.insert(version.version)
                versions += 1
            }
            for label in VersionLabel.allCases {
                if let version = entry.version(labelled: label), !present.contains(version) {
                    throw VaultError.integrity("\(name): the \(label.rawValue) label points at a missing version")
                }
            }
            entries += 1
        }
        let journal = try Vault.readJournal(db, keys: keys).count
        let audit = try Vault.readAudit(db, keys: keys, since: nil).count
        let slots = try Vault.readSlots(db).count
        return VaultVerifyReport(
            generation: meta.generation, updatedAt: date(milliseconds: meta.updatedAt), entries: entries, versions: versions,
            keySlots: slots, journalEntries: journal, auditEvents: audit)
    }
}

// MARK: KeywardCore seams

import Foundation
import GRDB
import GRDBSQLite
import KeywardCore
import Logging

/// What one write transaction changed, so only those manifest buckets are recomputed.
struct Mutation {
    var keys: VaultKeys
    /// Versions kept per entry, from the header read at the start of the transaction.
    var retention: Int
    var entries: Set<Int64> = []
    /// Entry rows as the transaction left them, so their digests need not read them back.
    var entryRows: [Int64: EntryRow] = [:]
    var buckets: Set<Int> = []
    var header = false
    var journal = false
    var audit = false
}

// MARK: Associated data and digests: every field a reader relies on is bound somewhere.

extension Vault {
    /// The algorithm number of records: AES-256-GCM.
    static let algorithmAES256GCM: Int64 = 1

    static func recordAAD(keys: VaultKeys, entryID: Int64, version: Int64, keyID: UInt32, alg: Int64, nameIndex: [UInt8]) -> [UInt8] {
        var writer = ByteWriter(capacity: 96)
        writer.raw("KWV1-record\0")
        writer.raw(keys.vaultID)
        writer.i64(entryID)
        writer.i64(version)
        writer.u32(keyID)
        writer.i64(alg)
        writer.field(nameIndex)
        return writer.take()
    }

    static func nameAAD(keys: VaultKeys, entryID: Int64, keyID: UInt32, nameIndex: [UInt8]) -> [UInt8] {
        var writer = ByteWriter(capacity: 96)
        writer.raw("KWV1-name\0")
        writer.raw(keys.vaultID)
        writer.i64(entryID)
        writer.u32(keyID)
        writer.field(nameIndex)
        return writer.take()
    }

    static func slotAAD(vaultID: [UInt8], slot: SlotRow) -> [UInt8] {
        var writer = ByteWriter(capacity: 128)
        writer.raw("KWV1-slot\0")
        writer.raw(vaultID)
        writer.i64(Int64(slot.id))
        writer.field(slot.kind)
        writer.u32(slot.keyID)
        writer.i64(slot.iterations)
        writer.i64(slot.memoryKiB)
        writer.i64(slot.parallelism)
        writer.field(slot.salt)
        writer.i64(slot.createdAt)
        return writer.take()
    }

    static func logAAD(keys: VaultKeys, table: StaticString, id: Int64, keyID: UInt32, previousTag: [UInt8]) -> [UInt8] {
        var writer = ByteWriter(capacity: 96)
        writer.raw("KWV1-")
        writer.raw(table)
        writer.u8(0)
        writer.raw(keys.vaultID)
        writer.i64(id)
        writer.u32(keyID)
        writer.field(previousTag)
        return writer.take()
    }

    /// The entry part of an entry digest. Both ways of computing a digest (from rows, and from a
    /// raw scan of the versions) must hash the same bytes: this is that one definition.
    static func entryDigestHeader(_ writer: inout ByteWriter, entry: EntryRow, versionCount: Int64) {
        writer.raw("KWV1-entry\0")
        writer.i64(entry.id)
        writer.field(entry.nameIndex)
        writer.i64(entry.bucket)
        writer.u32(entry.keyID)
        writer.field(entry.nameBox.nonce)
        writer.field(entry.nameBox.tag)
        writer.i64(Int64(entry.nameBox.ciphertext.count))
        for label in [entry.current, entry.previous, entry.pending] { writer.optionalI64(label) }
        writer.i64(entry.nextVersion)
        writer.i64(versionCount)
    }

    /// One buffer, one MAC call: a full check runs this for every entry.
    static func entryDigest(keys: VaultKeys, entry: EntryRow, versions: [VersionRow]) throws -> [UInt8] {
        var writer = ByteWriter(capacity: 160 + versions.count * 64)
        entryDigestHeader(&writer, entry: entry, versionCount: Int64(versions.count))
        for version in versions {
            writer.i64(version.version)
            writer.u32(version.keyID)
            writer.i64(version.alg)
            writer.field(version.box.nonce)
            writer.field(version.box.tag)
            writer.i64(Int64(version.box.ciphertext.count))
        }
        let bytes = writer.take()
        return try keys.manifest.authenticate(bytes)
    }

    static func bucketDigest(keys: VaultKeys, bucket: Int, members: [(id: Int64, digest: [UInt8])]) throws -> [UInt8] {
        var writer = ByteWriter(capacity: 32 + members.count * 44)
        writer.raw("KWV1-bucket\0")
        writer.u32(UInt32(bucket))
        writer.i64(Int64(members.count))
        for member in members {
            writer.i64(member.id)
            writer.field(member.digest)
        }
        let bytes = writer.take()
        return try keys.manifest.authenticate(bytes)
    }

    static func headerDigest(keys: VaultKeys, meta: MetaRow, slots: [SlotRow]) throws -> [UInt8] {
        try keys.manifest.authenticate { input in
            input.write("KWV1-header\0")
            input.writeField(meta.vaultID)
            input.write(meta.keyID)
            input.write(Int64(meta.retention))
            input.write(UInt32(VaultSchema.formatVersion))
            input.write(UInt64(slots.count))
            for slot in slots {
                input.write(Int64(slot.id))
                input.writeField(Array(slot.kind.utf8))
                input.write(slot.keyID)
                input.write(slot.iterations)
                input.write(slot.memoryKiB)
                input.write(slot.parallelism)
                input.writeField(slot.salt)
                input.write(slot.createdAt)
                input.writeField(slot.box.nonce)
                input.writeField(slot.box.ciphertext)
                input.writeField(slot.box.tag)
            }
        }
    }

    static func journalDigest(keys: VaultKeys, rows: [LogRow]) throws -> [UInt8] {
        try keys.manifest.authenticate { input in
            input.write("KWV1-journal\0")
            input.write(UInt64(rows.count))
            for row in rows {
                input.write(row.id)
                input.write(row.keyID)
                input.writeField(row.box.nonce)
                input.writeField(row.box.tag)
                input.write(UInt64(row.box.ciphertext.count))
            }
        }
    }

    /// The audit log is a chain (each row's AAD holds the previous row's tag), so the manifest
    /// only needs its length and head.
    static func auditDigest(keys: VaultKeys, count: Int64, lastID: Int64, lastTag: [UInt8]) throws -> [UInt8] {
        try keys.manifest.authenticate { input in
            input.write("KWV1-audit\0")
            input.write(count)
            input.write(lastID)
            input.writeField(lastTag)
        }
    }

    static func topMAC(keys: VaultKeys, generation: Int64, updatedAt: Int64, digests: [[UInt8]]) throws -> [UInt8] {
        try keys.manifest.authenticate { input in
            input.write("KWV1-manifest\0")
            input.write(keys.vaultID)
            input.write(keys.keyID)
            input.write(generation)
            input.write(updatedAt)
            for digest in digests { input.writeField(digest) }
        }
    }

    // MARK: Computing digests from the database

    /// ``entryDigest(keys:entry:versions:)`` with the versions read on a raw statement, without
    /// their ciphertexts (the digest covers only their lengths): the same bytes are MACed.
    static func computeEntryDigest(_ db: Database, keys: VaultKeys, entry: EntryRow) throws -> [UInt8] {
        let select = try RawStatement(
            db, "SELECT version, key_id, alg, nonce, length(ciphertext), tag FROM versions WHERE entry_id = ? ORDER BY version")
        defer { select.reset() }
        try select.bind(1, entry.id)
        var body = ByteWriter(capacity: 128)
        var count: Int64 = 0
        let v = select.raw
        while try select.step() {
            body.i64(sqlite3_column_int64(v, 0))
            body.u32(keyID(v, 1))
            body.i64(sqlite3_column_int64(v, 2))
            body.field(blob(v, 3))
            body.field(blob(v, 5))
            body.i64(sqlite3_column_int64(v, 4))
            count += 1
        }
        var writer = ByteWriter(capacity: 256)
        entryDigestHeader(&writer, entry: entry, versionCount: count)
        writer.raw(body.take())
        return try keys.manifest.authenticate(writer.take())
    }

    /// ``bucketDigest(keys:bucket:members:)`` over the stored entry digests of `bucket`, read on
    /// a raw statement (the `entries_by_bucket` index covers it): the same bytes are MACed.
    static func computeBucket(_ db: Database, keys: VaultKeys, bucket: Int) throws -> [UInt8] {
        let select = try RawStatement(db, "SELECT entry_id, digest FROM entries WHERE bucket = ? ORDER BY entry_id")
        defer { select.reset() }
        try select.bind(1, Int64(bucket))
        let s = select.raw
        var body = ByteWriter(capacity: 4096)
        var members: Int64 = 0
        while try select.step() {
            body.i64(sqlite3_column_int64(s, 0))
            body.field(blob(s, 1))
            members += 1
        }
        var head = ByteWriter(capacity: 32)
        head.raw("KWV1-bucket\0")
        head.u32(UInt32(bucket))
        head.i64(members)
        let prefix = head.take()
        let rest = body.take()
        return try keys.manifest.authenticate { input in
            input.write(prefix)
            input.write(rest)
        }
    }

    static func computeHeader(_ db: Database, keys: VaultKeys) throws -> [UInt8] {
        try headerDigest(keys: keys, meta: readMeta(db), slots: readSlots(db))
    }

    static func readJournalRows(_ db: Database) throws -> [LogRow] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT journal_id, key_id, nonce, ciphertext, tag FROM journal ORDER BY journal_id")).map(LogRow.init(row:))
    }

    static func computeJournal(_ db: Database, keys: VaultKeys) throws -> [UInt8] {
        try journalDigest(keys: keys, rows: readJournalRows(db))
    }

    static func computeAudit(_ db: Database, keys: VaultKeys) throws -> [UInt8] {
        let count = try Int64.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM audit")) ?? 0
        let last = try Row.fetchOne(db.cachedStatement(sql: "SELECT audit_id, tag FROM audit ORDER BY audit_id DESC LIMIT 1"))
        return try auditDigest(keys: keys, count: count, lastID: last.map { $0[0] } ?? 0, lastTag: last.map { bytes($0, 1) } ?? [])
    }

    // MARK: Write transactions

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction: first checks the stored manifest
    /// against its top MAC (never build on a tampered state), then lets `body` change rows,
    /// then recomputes only the touched buckets, bumps the generation and stores the new top
    /// MAC, all before the commit. After the commit, the rollback anchor follows.
    @discardableResult
    func mutate<T>(recomputeEverything: Bool = false, initial: Bool = false,
                   _ body: (Database, inout Mutation) throws -> T) throws -> T {
        var result: T?
        var committed: (generation: Int64, updatedAt: Int64, top: [UInt8], keys: VaultKeys, digests: [[UInt8]])?
        do {
            try queue.inTransaction(.immediate) { db in
                let keys = self.keys
                let meta = try Vault.readMeta(db)
                var digests: [[UInt8]]
                if !initial, meta.keyID == keys.keyID, let cache = manifestCache, cache.generation == meta.generation,
                    ConstantTime.equals(cache.top, meta.topMAC)
                {
                    digests = cache.digests
                } else {
                    digests = try Vault.readManifest(db)
                    if !initial {
                        guard meta.keyID == keys.keyID else {
                            throw VaultError(.integrity, "the vault was re-keyed by another process; open it again")
                        }
                        let expected = try Vault.topMAC(keys: keys, generation: meta.generation, updatedAt: meta.updatedAt, digests: digests)
                        guard ConstantTime.equals(expected, meta.topMAC) else {
                            throw VaultError.integrity("the manifest MAC does not match the stored bucket digests")
                        }
                    }
                }
                var mutation = Mutation(keys: keys, retention: meta.retention)
                result = try body(db, &mutation)
                let effective = mutation.keys
                if effective.keyID != meta.keyID {
                    // The header digest covers the key id: store it before computing digests.
                    try db.cachedStatement(sql: "UPDATE vault_meta SET key_id = ? WHERE id = 1").execute(arguments: [Int64(effective.keyID)])
                }
                if recomputeEverything {
                    let entries = try Row.fetchAll(db.cachedStatement(sql: "SELECT \(EntryRow.columns) FROM entries")).map { EntryRow(row: $0) }
                    for entry in entries {
                        let digest = try Vault.computeEntryDigest(db, keys: effective, entry: entry)
                        try db.cachedStatement(sql: "UPDATE entries SET digest = ? WHERE entry_id = ?").execute(arguments: [Data(digest), entry.id])
                    }
                    mutation.buckets = Set(0..<VaultSchema.entryBuckets)
                    mutation.header = true
                    mutation.journal = true
                    mutation.audit = true
                } else {
                    for entryID in mutation.entries {
                        if let entry = try mutation.entryRows[entryID] ?? Vault.readEntry(db, id: entryID) {
                            let digest = try Vault.computeEntryDigest(db, keys: effective, entry: entry)
                            let update = try RawStatement(db, "UPDATE entries SET digest = ? WHERE entry_id = ?")
                            try update.bind(1, digest)
                            try update.bind(2, entryID)
                            try update.run()
                        }
                        mutation.buckets.insert(Int(entryID & 0xFF))
                    }
                }
                for bucket in mutation.buckets {
                    digests[bucket] = try Vault.computeBucket(db, keys: effective, bucket: bucket)
                }
                if mutation.header { digests[VaultSchema.headerSlot] = try Vault.computeHeader(db, keys: effective) }
                if mutation.journal { digests[VaultSchema.journalSlot] = try Vault.computeJournal(db, keys: effective) }
                if mutation.audit { digests[VaultSchema.auditSlot] = try Vault.computeAudit(db, keys: effective) }
                var changed = mutation.buckets
                if mutation.header { changed.insert(VaultSchema.headerSlot) }
                if mutation.journal { changed.insert(VaultSchema.journalSlot) }
                if mutation.audit { changed.insert(VaultSchema.auditSlot) }
                let updateSlot = try RawStatement(db, "UPDATE manifest SET digest = ? WHERE slot = ?")
                for slot in changed {
                    try updateSlot.bind(1, digests[slot])
                    try updateSlot.bind(2, Int64(slot))
                    try updateSlot.run()
                }
                let generation = meta.generation + 1
                let updatedAt = max(milliseconds(options.clock.now), meta.updatedAt)
                let top = try Vault.topMAC(keys: effective, generation: generation, updatedAt: updatedAt, digests: digests)
                try db.execute(
                    sql: "UPDATE vault_meta SET generation = ?, updated_at = ?, top_mac = ?, key_id = ? WHERE id = 1",
                    arguments: [generation, updatedAt, Data(top), Int64(effective.keyID)])
                try self.checkpoint("commit")
                committed = (generation, updatedAt, top, effective, digests)
                return .commit
            }
        } catch {
            throw Vault.mapped(error)
        }
        if let committed {
            knownGeneration = committed.generation
            manifestCache = (committed.generation, committed.top, committed.digests)
            do {
                // After SQLite's commit (synchronous=FULL: the WAL is on disk), so the anchor can
                // lag the file after power loss but never be ahead of it; synced at most once a
                // second, which bounds that lag (docs/vault.md, "Rollback anchor").
                let sync = anchorSyncDue()
                try writeAnchor(
                    generation: committed.generation, updatedAt: committed.updatedAt, top: committed.top, keys: committed.keys,
                    durability: sync ? .synced : .written)
                if sync { anchorSynced() }
            } catch {
                options.logger.warning("the change is committed but the rollback anchor could not be written", metadata: ["error": "\(error)"])
            }
        }
        return result!
    }

    // MARK: Reads

    /// Runs `body` in a read transaction after noticing other processes' writes: when the
    /// generation moved, the stored manifest is checked against its top MAC again.
    func read<T>(_ body: (Database, VaultKeys) throws -> T) throws -> T {
        do {
            return try queue.read { db in
                let keys = self.keys
                guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT generation, key_id FROM vault_meta WHERE id = 1")) else {
                    throw VaultError.integrity("the vault header row is missing")
                }
                let generation: Int64 = row[0]
                let keyID: Int64 = row[1]
                if generation != knownGeneration || keyID != Int64(keys.keyID) {
                    guard keyID == Int64(keys.keyID) else {
                        throw VaultError(.integrity, "the vault was re-keyed by another process; open it again")
                    }
                    try verifyManifest(db, full: false)
                    knownGeneration = generation
                }
                return try body(db, keys)
            }
        } catch {
            throw Vault.mapped(error)
        }
    }

    // MARK: Verification

    /// Checks the manifest. `full`: recompute every entry digest, bucket digest, the header,
    /// journal and audit slots from the rows (unlock, verify); otherwise only check the top
    /// MAC over the stored digests (after another process wrote).
    func verifyManifest(_ db: Database, full: Bool) throws {
        let keys = self.keys
        let meta = try Vault.readMeta(db)
        guard ConstantTime.equals(meta.vaultID, keys.vaultID), meta.keyID == keys.keyID else {
            throw VaultError.integrity("the vault header does not match the unlocked key")
        }
        let stored = try Vault.readManifest(db)
        let expectedTop = try Vault.topMAC(keys: keys, generation: meta.generation, updatedAt: meta.updatedAt, digests: stored)
        guard ConstantTime.equals(expectedTop, meta.topMAC) else {
            throw VaultError.integrity("the manifest MAC does not match (generation \(meta.generation))")
        }
        guard full else { return }
        guard (1...10_000).contains(meta.retention) else { throw VaultError.integrity("the vault header holds an invalid retention") }
        // Entries and their versions, merged in entry order.
        let buckets = try Vault.scanBucketDigests(db, keys: keys)
        for bucket in 0..<VaultSchema.entryBuckets {
            guard ConstantTime.equals(buckets[bucket], stored[bucket]) else {
                throw VaultError.integrity("manifest bucket \(bucket) does not match its entries (an entry was changed, added or deleted)")
            }
        }
        guard ConstantTime.equals(try Vault.computeHeader(db, keys: keys), stored[VaultSchema.headerSlot]) else {
            throw VaultError.integrity("the vault header or key slots were changed")
        }
        guard ConstantTime.equals(try Vault.computeJournal(db, keys: keys), stored[VaultSchema.journalSlot]) else {
            throw VaultError.integrity("the rotation journal was changed")
        }
        guard ConstantTime.equals(try Vault.computeAudit(db, keys: keys), stored[VaultSchema.auditSlot]) else {
            throw VaultError.integrity("the audit log was changed (rows added or deleted)")
        }
    }

    // MARK: Crash points

    /// Debug builds: `KEYWARD_CRASH_AT=<point>` kills the process at that point (DESIGN.md,
    /// "Rotation", item 8); tests may also install a throwing hook.
    func checkpoint(_ point: String) throws {
        #if DEBUG
        if let target = ProcessInfo.processInfo.environment["KEYWARD_CRASH_AT"], target == "vault.\(point)" {
            kill(getpid(), SIGKILL)
        }
        #endif
        if let hook = faultHook.withLock({ $0 }) { try hook(point) }
    }

    /// Test hook: called at each checkpoint of this vault; throwing aborts the transaction.
    package func setFaultHook(_ hook: (@Sendable (String) throws -> Void)?) {
        faultHook.withLock { $0 = hook }
    }
}

/// A value behind a lock.
package final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    package init(_ value: Value) { self.value = value }

    package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        try lock.withLock { try body(&value) }
    }
}

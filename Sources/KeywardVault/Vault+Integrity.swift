import Foundation
import GRDB
internal import GRDBSQLite
import KeywardCore
import Logging

/// What one write transaction changed, so only those manifest buckets are recomputed.
struct Mutation {
    var keys: VaultKeys
    /// Versions kept per entry, from the header read at the start of the transaction.
    var retention: Int
    /// How long audit rows and closed journal entries are kept (seconds), from the same header.
    var auditRetention: Int64 = 0
    /// Entries written or removed: their buckets are recomputed.
    var entries: Set<Int64> = []
    /// For entries changed only by storing versions: what changed in their rows, so that
    /// ``BucketMembers`` can update their bytes without reading them back.
    var edits: [Int64: EntryEdit] = [:]
    var buckets: Set<Int> = []
    var header = false
    var journal = false
    var audit = false

    /// Entry `entryID` changed in a way only its rows tell (a label moved, the entry removed).
    mutating func changed(_ entryID: Int64) {
        entries.insert(entryID)
        edits[entryID] = nil
        reread.insert(entryID)
    }

    /// Entries whose bytes must be read back from their rows.
    private(set) var reread: Set<Int64> = []

    /// A version was stored for `entryID` (``Vault/storeVersion``): its labels, the new
    /// version's row, the versions pruned, and for an entry this transaction created, its row.
    mutating func storedVersion(entryID: Int64, created: (nameIndex: [UInt8], keyID: UInt32, name: SealedBox)?, labels: EntryLabels,
                                version: VersionFields, pruned: [Int64]) {
        entries.insert(entryID)
        guard !reread.contains(entryID) else { return }
        var edit = edits[entryID] ?? EntryEdit(created: created, labels: labels)
        edit.labels = labels
        edit.added.append(version)
        for old in pruned {
            if let index = edit.added.firstIndex(where: { $0.version == old }) { edit.added.remove(at: index) } else { edit.pruned.insert(old) }
        }
        edits[entryID] = edit
    }
}

/// An entry row's label columns and next version number.
struct EntryLabels {
    var current: Int64?
    var previous: Int64?
    var pending: Int64?
    var nextVersion: Int64
}

/// The columns of a version row the manifest covers, as a write stored them.
struct VersionFields {
    var version: Int64
    var keyID: UInt32
    var alg: Int64
    var nonce: [UInt8]
    var tag: [UInt8]
    var ciphertextLength: Int64

    /// Calls `body` with these fields as the manifest's one version encoder takes them.
    func withManifestFields<R>(_ body: (ManifestVersionFields) throws -> R) rethrows -> R {
        try nonce.withUnsafeBytes { nonce in
            try tag.withUnsafeBytes { tag in
                try body(ManifestVersionFields(version: version, keyID: keyID, alg: alg, nonce: nonce, tag: tag, ciphertextLength: ciphertextLength))
            }
        }
    }
}

/// What one transaction's stored versions did to an entry's rows.
struct EntryEdit {
    /// The entry's row when this transaction created it: name index, data key id, sealed name.
    var created: (nameIndex: [UInt8], keyID: UInt32, name: SealedBox)?
    var labels: EntryLabels
    /// Versions added, in order (numbers ascending, above every older one).
    var added: [VersionFields] = []
    /// Versions that existed before this transaction and were pruned.
    var pruned: Set<Int64> = []
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

    /// The header slot: `vault_meta` (but its generation, time and top MAC, which the top MAC
    /// covers, with `last_entry_id`) and every key slot.
    static func headerDigest(keys: VaultKeys, meta: MetaRow, lastEntryID: Int64, slots: [SlotRow]) throws -> [UInt8] {
        try keys.manifest.authenticate { input in
            input.write("KWV1-header\0")
            input.write(lastEntryID)
            input.writeField(meta.vaultID)
            input.write(meta.keyID)
            input.write(Int64(meta.retention))
            input.write(meta.auditRetention)
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

    /// The audit slot: the chain's head (last id and tag) and its start (the first retained id
    /// and the tag its AAD binds: 1 and nothing until rows were pruned, then the
    /// ``AuditCheckpoint``'s). The audit log is a chain (each row's AAD holds the previous row's
    /// tag), so the head pins every row back to the start: the unlock opens the rows after the
    /// last checkpoint (``auditCheckpointInterval``), `vault verify` the whole retained chain.
    static func auditDigest(keys: VaultKeys, lastID: Int64, lastTag: [UInt8], firstID: Int64, startTag: [UInt8]) throws -> [UInt8] {
        try keys.manifest.authenticate { input in
            input.write("KWV1-audit\0")
            input.write(lastID)
            input.writeField(lastTag)
            input.write(firstID)
            input.writeField(startTag)
        }
    }

    /// The MAC over the generation and every manifest digest, stored in `vault_meta.top_mac`.
    /// Its domain names the file format (1), so a later format's file cannot be passed off as
    /// this one.
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

    static func computeHeader(_ db: Database, keys: VaultKeys) throws -> [UInt8] {
        try headerDigest(keys: keys, meta: readMeta(db), lastEntryID: readLastEntryID(db), slots: readSlots(db))
    }

    /// `vault_meta.last_entry_id`: the highest entry id ever given out.
    static func readLastEntryID(_ db: Database) throws -> Int64 {
        guard let value = try Int64.fetchOne(db.cachedStatement(sql: "SELECT last_entry_id FROM vault_meta WHERE id = 1")) else {
            throw VaultError.integrity("the vault header row is missing")
        }
        return value
    }

    static func readJournalRows(_ db: Database) throws -> [LogRow] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT journal_id, key_id, nonce, ciphertext, tag FROM journal ORDER BY journal_id")).map(LogRow.init(row:))
    }

    static func computeJournal(_ db: Database, keys: VaultKeys) throws -> [UInt8] {
        try journalDigest(keys: keys, rows: readJournalRows(db))
    }

    static func lastAuditRow(_ db: Database) throws -> (id: Int64, tag: [UInt8])? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT audit_id, tag FROM audit ORDER BY audit_id DESC LIMIT 1")).map { ($0[0], bytes($0, 1)) }
    }

    static func computeAudit(_ db: Database, keys: VaultKeys) throws -> [UInt8] {
        let last = try lastAuditRow(db)
        let start = try auditChainStart(db, keys: keys)
        return try auditDigest(keys: keys, lastID: last?.id ?? 0, lastTag: last?.tag ?? [], firstID: start.firstID, startTag: start.previousTag)
    }

    /// Audit rows are checkpointed every this many ids: the unlock opens only the rows after
    /// the last checkpoint below the head (1 to 64 of them), so its cost does not grow with the
    /// log; `vault verify` and `keyward audit` open the whole chain.
    static let auditCheckpointInterval: Int64 = 64

    /// The unlock's check of the audit chain's tail: ids after the checkpoint contiguous up to
    /// the head, each row opened (AEAD) under the tag of the row before it, starting from the
    /// checkpoint row's tag. Together with the manifest's audit slot (the head's id and tag),
    /// an edited, deleted, added or reordered row in the tail fails here; one before the
    /// checkpoint fails `vault verify`.
    static func verifyAuditTail(_ db: Database, keys: VaultKeys) throws {
        let start = try auditChainStart(db, keys: keys)
        guard let last = try lastAuditRow(db) else {
            // Pruning never removes the newest row.
            guard start.firstID == 1 else { throw VaultError.integrity("the audit log's rows are missing after its checkpoint") }
            return
        }
        guard last.id >= start.firstID else {
            throw VaultError.integrity("the audit log's last row \(last.id) is before its checkpoint (row \(start.firstID))")
        }
        var checkpoint = last.id > 0 ? ((last.id - 1) / auditCheckpointInterval) * auditCheckpointInterval : 0
        var previousTag: [UInt8] = []
        if checkpoint < start.firstID {
            // The rows before the retention checkpoint were pruned: start from it.
            checkpoint = start.firstID - 1
            previousTag = start.previousTag
        } else if checkpoint > 0 {
            guard let tag = try Data.fetchOne(db.cachedStatement(sql: "SELECT tag FROM audit WHERE audit_id = ?"), arguments: [checkpoint]) else {
                throw VaultError.integrity("audit row \(checkpoint) is missing (rows changed, removed or reordered)")
            }
            previousTag = Array(tag)
        }
        var expected = checkpoint + 1
        let rows = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT audit_id, key_id, nonce, ciphertext, tag FROM audit WHERE audit_id > ? ORDER BY audit_id"),
            arguments: [checkpoint])
        while let next = try rows.next() {
            let row = LogRow(row: next)
            guard row.id == expected else {
                throw VaultError.integrity("audit row \(expected) is missing (rows changed, removed or reordered)")
            }
            guard row.keyID == keys.keyID,
                var plaintext = try? keys.log.open(row.box, aad: logAAD(keys: keys, table: "audit", id: row.id, keyID: row.keyID, previousTag: previousTag))
            else {
                throw VaultError.integrity("audit row \(row.id) failed authentication (changed, removed or reordered rows)")
            }
            SecureBytes.wipe(&plaintext)
            previousTag = row.box.tag
            expected += 1
        }
        guard expected == last.id + 1 else {
            throw VaultError.integrity("the audit log's last rows do not chain up to its head (row \(last.id))")
        }
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
        var committed: (generation: Int64, updatedAt: Int64, top: [UInt8], keys: VaultKeys, digests: [[UInt8]], members: BucketMembers?)?
        do {
            try queue.inTransaction(.immediate) { db in
                var keys = self.keys
                let meta = try Vault.readMeta(db)
                if !initial, meta.keyID != keys.keyID { keys = try adoptRekey(db, keyID: meta.keyID) }
                var digests: [[UInt8]]
                if !initial, meta.keyID == keys.keyID, let cache = manifestCache, cache.generation == meta.generation,
                    ConstantTime.equals(cache.top, meta.topMAC)
                {
                    digests = cache.digests
                } else {
                    digests = try Vault.readManifest(db)
                    if !initial {
                        let expected = try Vault.topMAC(keys: keys, generation: meta.generation, updatedAt: meta.updatedAt, digests: digests)
                        guard ConstantTime.equals(expected, meta.topMAC) else {
                            throw VaultError.integrity("the manifest MAC does not match the stored bucket digests")
                        }
                    }
                }
                var mutation = Mutation(keys: keys, retention: meta.retention)
                mutation.auditRetention = meta.auditRetention
                result = try body(db, &mutation)
                let effective = mutation.keys
                if effective.keyID != meta.keyID {
                    // The header digest covers the key id: store it before computing digests.
                    try db.cachedStatement(sql: "UPDATE vault_meta SET key_id = ? WHERE id = 1").execute(arguments: [Int64(effective.keyID)])
                }
                if recomputeEverything {
                    mutation.buckets = Set(0..<VaultSchema.entryBuckets)
                    mutation.header = true
                    mutation.journal = true
                    mutation.audit = true
                } else {
                    for entryID in mutation.entries { mutation.buckets.insert(Int(entryID & 0xFF)) }
                }
                // Held by this write until the commit; a write that fails drops them.
                var members = recomputeEverything || initial || effective.keyID != meta.keyID
                    ? nil : takeBucketMembers(generation: meta.generation, keyID: meta.keyID)
                let stored = try Vault.storeManifest(
                    db, keys: effective, meta: meta, digests: &digests, members: &members, mutation: mutation,
                    now: milliseconds(options.clock.now))
                let (generation, updatedAt, top) = stored
                try self.checkpoint("commit")
                committed = (generation, updatedAt, top, effective, digests, members)
                return .commit
            }
        } catch {
            throw mapped(error)
        }
        if let committed {
            didCommit(generation: committed.generation, updatedAt: committed.updatedAt, top: committed.top, keys: committed.keys,
                      digests: committed.digests, members: committed.members)
        }
        return result!
    }

    /// After a commit: remember the manifest, then move the rollback anchor. After SQLite's commit
    /// (synchronous=FULL: the WAL is on disk), so the anchor can lag the file after power loss but
    /// never be ahead of it; synced at most once a second (or always, with `forceSync`), which
    /// bounds that lag (docs/vault.md, "Rollback anchor").
    func didCommit(generation: Int64, updatedAt: Int64, top: [UInt8], keys: VaultKeys, digests: [[UInt8]], members: BucketMembers?,
                   forceSync: Bool = false) {
        knownGeneration = generation
        manifestCache = (generation, top, digests)
        keepBucketMembers(members, generation: generation, keyID: keys.keyID)
        do {
            let sync = forceSync || anchorSyncDue()
            try writeAnchor(generation: generation, updatedAt: updatedAt, top: top, keys: keys, durability: sync ? .synced : .written)
            if sync { anchorSynced() }
        } catch {
            options.logger.warning("the change is committed but the rollback anchor could not be written", metadata: ["error": "\((error as? VaultError)?.description ?? "\(type(of: error))")"])
        }
    }

    /// Without ``BucketMembers``: above this many touched buckets, one pass over both tables (as
    /// the unlock does) is cheaper than two range scans per bucket: a batch of puts touches
    /// every bucket.
    static let bucketsForFullScan = 32

    /// Recomputes the manifest slots `mutation` touched into `digests`, stores them, bumps the
    /// generation and stores the new top MAC; in the caller's transaction. With `members` (the
    /// file's bucket members before this transaction), the touched entries are re-read and
    /// spliced in and the buckets MACed from memory; without, the buckets are read back from
    /// their rows, and a full pass leaves fresh `members`. Either way `members` describes the
    /// file as this transaction leaves it (or is nil).
    static func storeManifest(_ db: Database, keys: VaultKeys, meta: MetaRow, digests: inout [[UInt8]], members: inout BucketMembers?,
                              mutation: Mutation, now: Int64)
        throws -> (generation: Int64, updatedAt: Int64, top: [UInt8])
    {
        if let kept = members {
            for entryID in mutation.entries.sorted() {
                if let edit = mutation.edits[entryID], kept.apply(edit, entryID: entryID) { continue }
                try kept.refresh(db, entryID: entryID)
            }
            try macBuckets(keys: keys, mutation.buckets.sorted(), of: kept, into: &digests)
        } else if mutation.buckets.count > bucketsForFullScan {
            let scan = try scanBuckets(db, keys: keys)
            for bucket in mutation.buckets { digests[bucket] = scan.digests[bucket] }
            members = scan.members
        } else {
            members = nil
            for bucket in mutation.buckets { digests[bucket] = try computeBucket(db, keys: keys, bucket: bucket) }
        }
        if mutation.header { digests[VaultSchema.headerSlot] = try computeHeader(db, keys: keys) }
        if mutation.journal { digests[VaultSchema.journalSlot] = try computeJournal(db, keys: keys) }
        if mutation.audit { digests[VaultSchema.auditSlot] = try computeAudit(db, keys: keys) }
        var changed = mutation.buckets
        if mutation.header { changed.insert(VaultSchema.headerSlot) }
        if mutation.journal { changed.insert(VaultSchema.journalSlot) }
        if mutation.audit { changed.insert(VaultSchema.auditSlot) }
        let updateSlot = try RawStatement(db, "UPDATE manifest SET digest = ? WHERE slot = ?")
        for slot in changed.sorted() {
            try updateSlot.bind(1, digests[slot])
            try updateSlot.bind(2, Int64(slot))
            try updateSlot.run()
        }
        let generation = meta.generation + 1
        let updatedAt = max(now, meta.updatedAt)
        let top = try topMAC(keys: keys, generation: generation, updatedAt: updatedAt, digests: digests)
        let update = try RawStatement(db, "UPDATE vault_meta SET generation = ?, updated_at = ?, top_mac = ?, key_id = ? WHERE id = 1")
        try update.bind(1, generation)
        try update.bind(2, updatedAt)
        try update.bind(3, top)
        try update.bind(4, Int64(keys.keyID))
        try update.run()
        return (generation, updatedAt, top)
    }

    // MARK: Reads

    /// Runs `body` in a read transaction after noticing other processes' writes: when the
    /// generation moved, the stored manifest is checked against its top MAC again.
    func read<T>(_ body: (Database, VaultKeys) throws -> T) throws -> T {
        do {
            return try queue.read { db in
                guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT generation, key_id FROM vault_meta WHERE id = 1")) else {
                    throw VaultError.integrity("the vault header row is missing")
                }
                let generation: Int64 = row[0]
                let keyID: Int64 = row[1]
                var keys = self.keys
                if generation != knownGeneration || keyID != Int64(keys.keyID) {
                    if keyID != Int64(keys.keyID) {
                        guard let newID = UInt32(exactly: keyID) else { throw VaultError.integrity("the vault header holds an invalid key id") }
                        keys = try adoptRekey(db, keyID: newID)
                    }
                    try verifyManifest(db, full: false)
                    knownGeneration = generation
                }
                return try body(db, keys)
            }
        } catch {
            throw mapped(error)
        }
    }

    // MARK: Another process's rekey

    /// Another process re-keyed the vault (`vault rekey`) since this session unlocked it. A
    /// rekey re-wraps every slot it keeps under the same key-encryption key (same salt and
    /// parameters), so the slot this session unlocked opens the new data key: this session goes
    /// on under it (the caller then checks the manifest under the new keys, as after any other
    /// process's write). When the rekey removed that slot there is nothing to unwrap, and the
    /// command fails as an operation failure (exit 1: nothing is wrong with the file).
    /// In the caller's transaction.
    /// - Returns: the new keys, now this session's.
    /// - Throws: ``VaultError`` `.rekeyed`.
    func adoptRekey(_ db: Database, keyID: UInt32) throws -> VaultKeys {
        let (slotID, kek) = unlockSlot
        let current = keys
        guard let slot = try Vault.readSlots(db).first(where: { $0.id == slotID }), slot.keyID == keyID,
            let dataKey = try? Vault.unwrap(slot: slot, kek: kek, vaultID: current.vaultID)
        else {
            throw VaultError(
                .rekeyed,
                "the vault was re-keyed by another process and the unlock slot this command used is gone; nothing was changed: run the command again")
        }
        let newKeys = try VaultKeys(vaultID: current.vaultID, keyID: keyID, dataKey: dataKey)
        replaceKeys(newKeys, unlockSlotID: slotID, kek: kek)
        options.logger.debug("the vault was re-keyed by another process; going on under the new data key", metadata: ["key-id": "\(keyID)"])
        return newKeys
    }

    // MARK: Verification

    /// Checks the manifest. `full`: recompute every bucket digest, the header, journal and audit
    /// slots from the rows (unlock, verify); otherwise only check the top MAC over the stored
    /// digests (after another process wrote).
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
        // Entries and their versions, merged in bucket order.
        let scan = try Vault.scanBuckets(db, keys: keys)
        let buckets = scan.digests
        for bucket in 0..<VaultSchema.entryBuckets {
            guard ConstantTime.equals(buckets[bucket], stored[bucket]) else {
                throw VaultError.integrity("manifest bucket \(bucket) does not match its entries (an entry or version row was changed, added or deleted)")
            }
        }
        guard ConstantTime.equals(try Vault.computeHeader(db, keys: keys), stored[VaultSchema.headerSlot]) else {
            throw VaultError.integrity("the vault header or key slots were changed")
        }
        guard ConstantTime.equals(try Vault.computeJournal(db, keys: keys), stored[VaultSchema.journalSlot]) else {
            throw VaultError.integrity("the rotation journal was changed")
        }
        guard ConstantTime.equals(try Vault.computeAudit(db, keys: keys), stored[VaultSchema.auditSlot]) else {
            throw VaultError.integrity("the audit log was changed (rows added or deleted at its end)")
        }
        try Vault.verifyAuditTail(db, keys: keys)
        keepBucketMembers(scan.members, generation: meta.generation, keyID: meta.keyID)
    }

    // MARK: Crash points

    /// Debug builds: `KEYWARD_CRASH_AT=vault.<point>` kills the process at that point
    /// (DESIGN.md, "Rotation", item 8; the names are Core's ``CrashStep``, one list for the
    /// engine and the vault); tests may also install a throwing hook, which gets `point`.
    func checkpoint(_ point: String) throws {
        if let step = CrashStep(rawValue: "vault.\(point)") {
            CrashHook.at(step)
        } else {
            assertionFailure("vault checkpoint '\(point)' is not a CrashStep")
        }
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

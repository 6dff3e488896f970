import GRDB
internal import GRDBSQLite

/// The MAC input of the 256 manifest buckets (``Vault/scanBuckets(_:keys:)``'s bytes,
/// without each bucket's closing count), as the file held it at ``generation``: kept after a
/// full pass (the unlock's check, `vault verify`, a write that touched many buckets) so that a
/// later write by this process recomputes a bucket from memory. A write updates the bytes of
/// the entries it changed, from what it wrote when it stored versions (``apply(_:entryID:)``)
/// or by reading that one entry back otherwise (``refresh(_:entryID:)``), and MACs the
/// touched buckets; it no longer reads a bucket's other rows back (about 800 at 100,000
/// entries, or every row when a batch touched every bucket).
///
/// Valid only while nobody else wrote: ``Vault`` takes it out for a write only when the
/// file's generation and key id are still the ones it describes, and puts it back only after
/// the commit (a failed write drops it). The bytes are ids, lengths, nonces and tags: no
/// secret. A row changed behind the process's back is therefore left out of the next digest
/// rather than sealed into it, and the next full check reports it.
///
/// Not thread-safe: used inside the vault's serialized database access only.
final class BucketMembers: @unchecked Sendable {
    /// Above this many bytes (about 350,000 entries) the members are not kept; writes fall back
    /// to reading their buckets' rows.
    static let maxBytes = 64 << 20

    /// The generation and data key id of the file these bytes describe.
    var generation: Int64 = -1
    var keyID: UInt32 = 0
    /// Per bucket: its entries' bytes, in entry id order.
    let buffers: [ScratchBuffer]
    /// Per bucket: its entry ids, ascending, and where each one's bytes end in its buffer.
    var ids: [[Int64]]
    var ends: [[Int]]

    init(capacity: Int, entries: Int) {
        buffers = (0..<VaultSchema.entryBuckets).map { _ in ScratchBuffer(capacity: capacity) }
        ids = (0..<VaultSchema.entryBuckets).map { _ in
            var ids = [Int64]()
            ids.reserveCapacity(entries)
            return ids
        }
        ends = (0..<VaultSchema.entryBuckets).map { _ in
            var ends = [Int]()
            ends.reserveCapacity(entries)
            return ends
        }
    }

    /// One entry's row joined with its versions: ``Vault/manifestEntryColumns``, then
    /// ``Vault/manifestVersionColumns`` (column 11 on).
    private static let refreshSQL = """
        SELECT e.entry_id, e.name_index, e.bucket, e.key_id, e.name_nonce, length(e.name_ciphertext), e.name_tag,
               e.current_version, e.previous_version, e.pending_version, e.next_version,
               v.version, v.key_id, v.alg, v.nonce, length(v.ciphertext), v.tag
        FROM entries e LEFT JOIN versions v ON v.bucket = e.bucket AND v.entry_id = e.entry_id
        WHERE e.bucket = ? AND e.entry_id = ? ORDER BY v.version
        """

    var byteCount: Int { buffers.reduce(0) { $0 + $1.count } }

    /// The number of entries in `bucket` (the bucket's closing count).
    func count(_ bucket: Int) -> Int64 { Int64(ids[bucket].count) }

    /// Reads entry `entryID`'s row and versions as they are now (in the caller's transaction)
    /// and puts their bytes in place of the entry's old ones: added, replaced, or removed when
    /// the entry is gone.
    func refresh(_ db: Database, entryID: Int64) throws {
        let select = try RawStatement(db, Self.refreshSQL)
        defer { select.reset() }
        let bucket = Int(Vault.bucket(of: entryID))
        try select.bind(1, Int64(bucket))
        try select.bind(2, entryID)
        let s = select.raw
        let segment = ScratchBuffer(capacity: 512)
        var found = false
        while try select.step() {
            if !found { Vault.appendManifestEntry(segment, s, 0) }
            found = true
            if sqlite3_column_type(s, 11) != SQLITE_NULL { Vault.appendManifestVersion(segment, s, 11) }
        }
        if found { segment.u8(0) }
        splice(bucket: bucket, entryID: entryID, segment: found ? segment : nil)
    }

    /// Updates entry `entryID`'s bytes from what this transaction's stored versions did to it,
    /// without reading its rows: the row's labels and next version replaced, pruned versions
    /// dropped, new versions appended (or, for an entry the transaction created, its bytes
    /// built whole). `false` when the bytes are not where they should be (then the caller
    /// reads the rows instead).
    func apply(_ edit: EntryEdit, entryID: Int64) -> Bool {
        let bucket = Int(Vault.bucket(of: entryID))
        let segment = ScratchBuffer(capacity: 512)
        if let created = edit.created {
            guard position(bucket: bucket, entryID: entryID) == nil else { return false }
            created.nameIndex.withUnsafeBytes { nameIndex in
                created.name.nonce.withUnsafeBytes { nonce in
                    created.name.tag.withUnsafeBytes { tag in
                        Vault.appendManifestEntry(segment, ManifestEntryFields(
                            entryID: entryID, nameIndex: nameIndex, keyID: created.keyID, nameNonce: nonce, nameTag: tag,
                            nameCiphertextLength: Int64(created.name.ciphertext.count), labels: edit.labels))
                    }
                }
            }
        } else {
            // The entry row's fields as they are, with the new labels: parsed back from its
            // bytes and encoded again by the one encoder.
            guard let range = position(bucket: bucket, entryID: entryID), let old = parse(buffers[bucket], range) else { return false }
            var entry = old.entry
            entry.labels = edit.labels
            Vault.appendManifestEntry(segment, entry)
            for version in old.versions where !edit.pruned.contains(version.number) {
                segment.append(buffers[bucket], version.bytes)
            }
        }
        for version in edit.added { version.withManifestFields { Vault.appendManifestVersion(segment, $0) } }
        segment.u8(0)
        splice(bucket: bucket, entryID: entryID, segment: segment)
        return true
    }

    /// Where entry `entryID`'s bytes are in its bucket's buffer.
    private func position(bucket: Int, entryID: Int64) -> Range<Int>? {
        let index = firstIndex(bucket: bucket, notBelow: entryID)
        guard index < ids[bucket].count, ids[bucket][index] == entryID else { return nil }
        return (index == 0 ? 0 : ends[bucket][index - 1])..<ends[bucket][index]
    }

    private func firstIndex(bucket: Int, notBelow entryID: Int64) -> Int {
        var low = 0
        var high = ids[bucket].count
        while low < high {
            let middle = (low + high) / 2
            if ids[bucket][middle] < entryID { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// An entry's bytes taken apart: the entry row's fields (pointing into `buffer`), and each
    /// version's number and bytes. Nil when they do not read as
    /// ``Vault/appendManifestEntry(_:_:)-(_,ManifestEntryFields)`` wrote them.
    private func parse(_ buffer: ScratchBuffer, _ range: Range<Int>)
        -> (entry: ManifestEntryFields, versions: [(number: Int64, bytes: Range<Int>)])?
    {
        var at = range.lowerBound
        func has(_ count: Int) -> Bool { count >= 0 && at + count <= range.upperBound }
        func i64() -> Int64? {
            guard has(8) else { return nil }
            defer { at += 8 }
            return buffer.readI64(at: at)
        }
        func u32() -> UInt32? {
            guard has(4) else { return nil }
            defer { at += 4 }
            return buffer.readU32(at: at)
        }
        func u8() -> UInt8? {
            guard has(1) else { return nil }
            defer { at += 1 }
            return buffer.readU8(at: at)
        }
        func field() -> UnsafeRawBufferPointer? {
            guard let length = u32().map(Int.init), has(length) else { return nil }
            defer { at += length }
            return buffer.slice(at..<(at + length))
        }
        func optional() -> Int64?? {
            switch u8() {
            case 0: return .some(nil)
            case 1: return i64().map { .some($0) }
            default: return nil
            }
        }
        guard u8() == 1, let entryID = i64(), let nameIndex = field(), let bucket = i64(), let keyID = u32(),
            let nameNonce = field(), let nameTag = field(), let nameLength = i64(),
            let current = optional(), let previous = optional(), let pending = optional(), let nextVersion = i64()
        else { return nil }
        var entry = ManifestEntryFields(
            entryID: entryID, nameIndex: nameIndex, keyID: keyID, nameNonce: nameNonce, nameTag: nameTag,
            nameCiphertextLength: nameLength, labels: EntryLabels(current: current, previous: previous, pending: pending, nextVersion: nextVersion))
        entry.bucket = bucket
        var versions = [(number: Int64, bytes: Range<Int>)]()
        while at < range.upperBound, buffer.readU8(at: at) == 1 {
            let start = at
            // u8 1, i64 version, u32 key_id, i64 alg, nonce, tag, i64 length
            guard u8() == 1, let number = i64(), u32() != nil, i64() != nil, field() != nil, field() != nil, i64() != nil else { return nil }
            versions.append((number, start..<at))
        }
        // The closing u8 0 must be the entry's last byte.
        guard at == range.upperBound - 1, buffer.readU8(at: at) == 0 else { return nil }
        return (entry, versions)
    }

    /// Replaces entry `entryID`'s bytes in `bucket` with `segment` (nil: removes the entry).
    private func splice(bucket: Int, entryID: Int64, segment: ScratchBuffer?) {
        let index = firstIndex(bucket: bucket, notBelow: entryID)
        let present = index < ids[bucket].count && ids[bucket][index] == entryID
        let start = index == 0 ? 0 : ends[bucket][index - 1]
        let oldLength = present ? ends[bucket][index] - start : 0
        let empty = ScratchBuffer(capacity: 0)
        let replacement = segment ?? empty
        buffers[bucket].replace(start..<(start + oldLength), with: replacement)
        let delta = replacement.count - oldLength
        var next = index + 1
        switch (present, segment != nil) {
        case (true, true):
            ends[bucket][index] += delta
        case (true, false):
            ids[bucket].remove(at: index)
            ends[bucket].remove(at: index)
            next = index
        case (false, true):
            ids[bucket].insert(entryID, at: index)
            ends[bucket].insert(start + replacement.count, at: index)
        case (false, false):
            return
        }
        if delta != 0 {
            for later in next..<ends[bucket].count { ends[bucket][later] += delta }
        }
    }
}

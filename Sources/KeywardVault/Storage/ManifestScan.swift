import Foundation
import GRDB
internal import GRDBSQLite

/// The manifest's entry buckets: each of the 256 buckets is one HMAC over its entries' rows
/// and their versions' rows, in entry id and version order, with no MAC per entry in between.
/// An entry row is MACed as
///
///     u8 1, i64 entry_id, field name_index, i64 bucket, u32 key_id, field name_nonce,
///     field name_tag, i64 length(name_ciphertext), the three labels (0, or 1 and i64),
///     i64 next_version
///
/// then each of its versions as `u8 1, i64 version, u32 key_id, i64 alg, field nonce, field tag,
/// i64 length(ciphertext)` and a closing `u8 0`; the bucket ends with `u8 0, i64 count`. A
/// ciphertext is covered by its length here and by its AEAD tag (which binds its bytes, nonce
/// and associated data) in full. A field is a u32 length and the bytes; integers big-endian.
///
/// Each record kind has one encoder, ``appendManifestEntry(_:_:)`` and
/// ``appendManifestVersion(_:_:)``, whatever the fields come from (a row SQLite stepped to, or
/// what a write just stored), so what a write MACs and what the unlock recomputes cannot drift
/// apart. Rows are read on raw SQLite statements straight into reused scratch buffers: no `Row`
/// per row, no ciphertext read, nothing allocated per entry.
extension Vault {
    /// The entry columns a bucket MACs, in ``ManifestEntryFields/init(_:_:)``'s order.
    static let manifestEntryColumns = """
        entry_id, name_index, bucket, key_id, name_nonce, length(name_ciphertext), name_tag, \
        current_version, previous_version, pending_version, next_version
        """
    /// The version columns a bucket MACs, in ``ManifestVersionFields/init(_:_:)``'s order.
    static let manifestVersionColumns = "version, key_id, alg, nonce, length(ciphertext), tag"

    /// The one encoder of an entry row's manifest bytes (the type's documentation).
    static func appendManifestEntry(_ out: ScratchBuffer, _ entry: ManifestEntryFields) {
        out.u8(1)
        out.i64(entry.entryID)
        out.field(entry.nameIndex)
        out.i64(entry.bucket)
        out.u32(entry.keyID)
        out.field(entry.nameNonce)
        out.field(entry.nameTag)
        out.i64(entry.nameCiphertextLength)
        out.optionalI64(entry.labels.current)
        out.optionalI64(entry.labels.previous)
        out.optionalI64(entry.labels.pending)
        out.i64(entry.labels.nextVersion)
    }

    /// The one encoder of a version row's manifest bytes (the type's documentation).
    static func appendManifestVersion(_ out: ScratchBuffer, _ version: ManifestVersionFields) {
        out.u8(1)
        out.i64(version.version)
        out.u32(version.keyID)
        out.i64(version.alg)
        out.field(version.nonce)
        out.field(version.tag)
        out.i64(version.ciphertextLength)
    }

    /// Appends the entry row at column `o` of `s` (``manifestEntryColumns``).
    static func appendManifestEntry(_ out: ScratchBuffer, _ s: OpaquePointer?, _ o: Int32) {
        appendManifestEntry(out, ManifestEntryFields(s, o))
    }

    /// Appends the version row at column `o` of `s` (``manifestVersionColumns``).
    static func appendManifestVersion(_ out: ScratchBuffer, _ s: OpaquePointer?, _ o: Int32) {
        appendManifestVersion(out, ManifestVersionFields(s, o))
    }

    /// The digest of `bucket` whose `count` members were appended to `members`: the bucket's
    /// closing `u8 0, i64 count` is appended for the MAC and taken off again, so `members`
    /// is left as it was.
    static func finishBucket(keys: VaultKeys, bucket: Int, members: ScratchBuffer, count: Int64, head: ScratchBuffer,
                             into digest: UnsafeMutableRawBufferPointer, mac: HMACSHA256? = nil) throws {
        let length = members.count
        defer { members.truncate(to: length) }
        members.u8(0)
        members.i64(count)
        head.reset()
        head.bytes("KWV2-bucket\0")
        head.u32(UInt32(bucket))
        let mac = mac ?? keys.manifest
        try head.withBytes { h in try members.withBytes { m in try mac.authenticate(h, m, into: digest) } }
    }

    /// All 256 bucket digests from one pass over both tables (two sequential scans merged; the
    /// unlock's full check, and writes that touched many buckets without ``BucketMembers``),
    /// with the MAC input they were computed from. In format 3 both tables are read in their
    /// stored order, bucket first; in format 2 in entry order. Throws when an entry or version
    /// is filed in the wrong bucket or a version belongs to no entry.
    static func scanBuckets(_ db: Database, keys: VaultKeys) throws -> (digests: [[UInt8]], members: BucketMembers) {
        let entries = try db.makeStatement(sql: "SELECT \(manifestEntryColumns) FROM entries ORDER BY bucket, entry_id")
        let versions = try db.makeStatement(
            sql: "SELECT bucket, entry_id, \(manifestVersionColumns) FROM versions ORDER BY bucket, entry_id, version")
        // Sized up front for an entry row and two versions per id (about 250 bytes): growing
        // 256 buffers by doubling copied most of what they held.
        let maxID = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(entry_id) FROM entries")) ?? 0
        let perBucket = Int(min(max(maxID, 0), 1 << 24) / Int64(VaultSchema.entryBuckets) + 1)
        let members = BucketMembers(capacity: perBucket * 256, entries: perBucket)
        try mergeRows(entries: entries.sqliteStatement, versions: versions.sqliteStatement) { bucket in
            members.buffers[bucket]
        } ended: { bucket, id, end in
            members.ids[bucket].append(id)
            members.ends[bucket].append(end)
        }
        var digests = [[UInt8]](repeating: [], count: VaultSchema.entryBuckets)
        try macBuckets(keys: keys, Array(0..<VaultSchema.entryBuckets), of: members, into: &digests)
        return (digests, members)
    }

    /// The digests of `buckets` from `members` into `digests`: on two cores, half each, each
    /// with its own libgcrypt handle and head buffer, when there are many (a full pass: about
    /// 20 MB of input at 100,000 entries); on this thread when there are a few.
    static func macBuckets(keys: VaultKeys, _ buckets: [Int], of members: BucketMembers, into digests: inout [[UInt8]]) throws {
        let all = UnsafeMutableRawBufferPointer.allocate(byteCount: buckets.count * HMACSHA256.tagLength, alignment: 8)
        defer { all.deallocate() }
        func slot(_ index: Int) -> UnsafeMutableRawBufferPointer {
            UnsafeMutableRawBufferPointer(rebasing: all[(index * HMACSHA256.tagLength)..<((index + 1) * HMACSHA256.tagLength)])
        }
        if buckets.count <= 8 {
            let head = ScratchBuffer(capacity: 64)
            for (index, bucket) in buckets.enumerated() {
                try finishBucket(keys: keys, bucket: bucket, members: members.buffers[bucket], count: members.count(bucket), head: head,
                                 into: slot(index))
            }
        } else {
            let failures = LockedValue<[String]>([])
            let half = (buckets.count + 1) / 2
            let work = BucketWork(members: members, buckets: buckets, out: all)
            DispatchQueue.concurrentPerform(iterations: 2) { part in
                let head = ScratchBuffer(capacity: 64)
                let mac = part == 0 ? keys.manifest : keys.manifestSecondCore
                do {
                    for index in (part * half)..<min((part + 1) * half, work.buckets.count) {
                        let bucket = work.buckets[index]
                        let slot = UnsafeMutableRawBufferPointer(
                            rebasing: work.out[(index * HMACSHA256.tagLength)..<((index + 1) * HMACSHA256.tagLength)])
                        try finishBucket(keys: keys, bucket: bucket, members: work.members.buffers[bucket], count: work.members.count(bucket),
                                         head: head, into: slot, mac: mac)
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            if let failure = failures.withLock({ $0.first }) { throw CryptoError(.library, "manifest MAC failed: \(failure)") }
        }
        for (index, bucket) in buckets.enumerated() { digests[bucket] = Array(slot(index)) }
    }

    /// Merges entry rows (``manifestEntryColumns``) with version rows (`bucket, entry_id`, then
    /// ``manifestVersionColumns``), both stepped in the same order (by bucket, then entry id),
    /// appending each entry and its versions to the buffer
    /// `member(bucket)` returns, then calling `ended(bucket, entryID, end)` with the buffer's
    /// length after the entry. Throws when a row is filed in the wrong bucket or a version
    /// belongs to no entry.
    private static func mergeRows(entries e: OpaquePointer?, versions v: OpaquePointer?,
                                  member: (Int) -> ScratchBuffer, ended: (Int, Int64, Int) -> Void = { _, _, _ in }) throws {
        /// The merge order of a row.
        func key(_ bucket: Int64, _ id: Int64) -> (Int64, Int64) { (bucket, id) }
        /// The current version row's key, read once per row; nil after the last.
        func nextVersion() throws -> (Int64, Int64)? {
            guard try step(v) else { return nil }
            let bucket = sqlite3_column_int64(v, 0)
            let id = sqlite3_column_int64(v, 1)
            guard bucket == id & 0xFF else { throw VaultError.integrity("a version of entry \(id) is filed in the wrong manifest bucket") }
            return key(bucket, id)
        }
        var versionKey = try nextVersion()
        while try step(e) {
            let id = sqlite3_column_int64(e, 0)
            let bucket = sqlite3_column_int64(e, 2)
            guard bucket == id & 0xFF else {
                throw VaultError.integrity("entry \(id) is filed in the wrong manifest bucket")
            }
            let entryKey = key(bucket, id)
            if let orphan = versionKey, orphan < entryKey {
                throw VaultError.integrity("a version row belongs to no entry (entry \(orphan.1))")
            }
            let out = member(Int(bucket))
            appendManifestEntry(out, e, 0)
            while let current = versionKey, current == entryKey {
                appendManifestVersion(out, v, 2)
                versionKey = try nextVersion()
            }
            out.u8(0)
            ended(Int(bucket), id, out.count)
        }
        if let orphan = versionKey {
            throw VaultError.integrity("a version row belongs to no entry (entry \(orphan.1))")
        }
    }

    /// One bucket's digest from its own rows: what a write that touched a few buckets
    /// recomputes, O(N/256). Both tables are keyed by bucket first, so this is two range scans
    /// over contiguous pages, merged. The same bytes as ``scanBuckets(_:keys:)`` MACs for that
    /// bucket.
    static func computeBucket(_ db: Database, keys: VaultKeys, bucket: Int) throws -> [UInt8] {
        let entries = try RawStatement(db, "SELECT \(manifestEntryColumns) FROM entries WHERE bucket = ? ORDER BY entry_id")
        defer { entries.reset() }
        let versions = try RawStatement(
            db, "SELECT bucket, entry_id, \(manifestVersionColumns) FROM versions WHERE bucket = ? ORDER BY entry_id, version")
        defer { versions.reset() }
        try entries.bind(1, Int64(bucket))
        try versions.bind(1, Int64(bucket))
        let members = ScratchBuffer(capacity: 4096)
        var count: Int64 = 0
        try mergeRows(entries: entries.raw, versions: versions.raw) { _ in
            count += 1
            return members
        }
        let digest = UnsafeMutableRawBufferPointer.allocate(byteCount: HMACSHA256.tagLength, alignment: 8)
        defer { digest.deallocate() }
        try finishBucket(keys: keys, bucket: bucket, members: members, count: count, head: ScratchBuffer(capacity: 64), into: digest)
        return Array(digest)
    }

    /// A BLOB column's bytes in SQLite's memory (valid until the next step); empty for NULL or
    /// another type.
    static func storedBlob(_ statement: OpaquePointer?, _ column: Int32) -> UnsafeRawBufferPointer {
        guard sqlite3_column_type(statement, column) == SQLITE_BLOB else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let base = sqlite3_column_blob(statement, column) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base, count: count)
    }

    static func step(_ statement: OpaquePointer?) throws -> Bool {
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code: throw VaultError.io("vault database error while scanning (SQLite \(code))")
        }
    }

    static func blob(_ statement: OpaquePointer?, _ column: Int32) -> [UInt8] {
        guard sqlite3_column_type(statement, column) == SQLITE_BLOB else { return [] }
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let base = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }

    static func optionalInt(_ statement: OpaquePointer?, _ column: Int32) -> Int64? {
        sqlite3_column_type(statement, column) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, column)
    }

    static func keyID(_ statement: OpaquePointer?, _ column: Int32) -> UInt32 {
        let value = sqlite3_column_int64(statement, column)
        return (0...Int64(UInt32.max)).contains(value) ? UInt32(value) : UInt32.max
    }
}

/// The fields of an entry row that its manifest bucket covers, for
/// ``Vault/appendManifestEntry(_:_:)-(_,ManifestEntryFields)``. The byte fields point into
/// memory the caller keeps alive while encoding (SQLite's column memory until the next step, or
/// an array's storage).
struct ManifestEntryFields {
    var entryID: Int64
    var nameIndex: UnsafeRawBufferPointer
    var bucket: Int64
    var keyID: UInt32
    var nameNonce: UnsafeRawBufferPointer
    var nameTag: UnsafeRawBufferPointer
    var nameCiphertextLength: Int64
    var labels: EntryLabels

    /// The row at column `o` of `s` (``Vault/manifestEntryColumns``); a BLOB column that is
    /// NULL or of another type reads as empty, a key id out of range as `UInt32.max`.
    init(_ s: OpaquePointer?, _ o: Int32) {
        entryID = sqlite3_column_int64(s, o)
        nameIndex = Vault.storedBlob(s, o + 1)
        bucket = sqlite3_column_int64(s, o + 2)
        keyID = Vault.keyID(s, o + 3)
        nameNonce = Vault.storedBlob(s, o + 4)
        nameCiphertextLength = sqlite3_column_int64(s, o + 5)
        nameTag = Vault.storedBlob(s, o + 6)
        labels = EntryLabels(current: Vault.optionalInt(s, o + 7), previous: Vault.optionalInt(s, o + 8),
                             pending: Vault.optionalInt(s, o + 9), nextVersion: sqlite3_column_int64(s, o + 10))
    }

    init(entryID: Int64, nameIndex: UnsafeRawBufferPointer, keyID: UInt32, nameNonce: UnsafeRawBufferPointer,
         nameTag: UnsafeRawBufferPointer, nameCiphertextLength: Int64, labels: EntryLabels) {
        self.entryID = entryID
        self.nameIndex = nameIndex
        self.bucket = Vault.bucket(of: entryID)
        self.keyID = keyID
        self.nameNonce = nameNonce
        self.nameTag = nameTag
        self.nameCiphertextLength = nameCiphertextLength
        self.labels = labels
    }
}

/// The fields of a version row that its manifest bucket covers, for
/// ``Vault/appendManifestVersion(_:_:)-(_,ManifestVersionFields)``; the byte fields as in
/// ``ManifestEntryFields``.
struct ManifestVersionFields {
    var version: Int64
    var keyID: UInt32
    var alg: Int64
    var nonce: UnsafeRawBufferPointer
    var tag: UnsafeRawBufferPointer
    var ciphertextLength: Int64

    /// The row at column `o` of `s` (``Vault/manifestVersionColumns``).
    init(_ s: OpaquePointer?, _ o: Int32) {
        version = sqlite3_column_int64(s, o)
        keyID = Vault.keyID(s, o + 1)
        alg = sqlite3_column_int64(s, o + 2)
        nonce = Vault.storedBlob(s, o + 3)
        ciphertextLength = sqlite3_column_int64(s, o + 4)
        tag = Vault.storedBlob(s, o + 5)
    }

    init(version: Int64, keyID: UInt32, alg: Int64, nonce: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer, ciphertextLength: Int64) {
        self.version = version
        self.keyID = keyID
        self.alg = alg
        self.nonce = nonce
        self.tag = tag
        self.ciphertextLength = ciphertextLength
    }
}

extension VersionRow {
    init(statement s: OpaquePointer?, offset o: Int32) {
        self.init(
            entryID: sqlite3_column_int64(s, o), version: sqlite3_column_int64(s, o + 1), keyID: Vault.keyID(s, o + 2),
            alg: sqlite3_column_int64(s, o + 3),
            box: SealedBox(nonce: Vault.blob(s, o + 4), ciphertext: Vault.blob(s, o + 5), tag: Vault.blob(s, o + 6)))
    }
}

/// What the two threads of the bucket MACs share: each touches only its own half of the
/// buckets and of the output slots, and nothing changes the members meanwhile.
private struct BucketWork: @unchecked Sendable {
    let members: BucketMembers
    let buckets: [Int]
    let out: UnsafeMutableRawBufferPointer
}

/// SQLite copies a blob bound with this destructor before `bind` returns.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A growable byte buffer in manually managed memory for MAC input that is not secret (ids,
/// nonces, tags, lengths): appending costs no uniqueness check, no reference counting and,
/// once grown, no allocation. Encodes like ``ByteWriter``.
final class ScratchBuffer {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit { base.deallocate() }

    func reset() { count = 0 }

    /// Drops everything after the first `length` bytes.
    func truncate(to length: Int) {
        precondition((0...count).contains(length))
        count = length
    }

    /// Replaces the bytes in `range` with those of `other` (shifting what follows).
    func replace(_ range: Range<Int>, with other: ScratchBuffer) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        let delta = other.count - range.count
        if delta > 0 { reserve(delta) }
        let tail = count - range.upperBound
        if tail > 0, delta != 0 { (base + range.upperBound + delta).copyMemory(from: base + range.upperBound, byteCount: tail) }
        if other.count > 0 { (base + range.lowerBound).copyMemory(from: other.base, byteCount: other.count) }
        count += delta
    }

    /// Room for `extra` more bytes: the check inlined into every append, the growth not.
    @inline(__always)
    private func reserve(_ extra: Int) {
        if count + extra > capacity { grow(extra) }
    }

    @inline(never)
    private func grow(_ extra: Int) {
        var grown = capacity * 2
        while grown < count + extra { grown *= 2 }
        let next = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 8)
        next.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = next
        capacity = grown
    }

    func bytes(_ buffer: UnsafeRawBufferPointer) {
        guard let source = buffer.baseAddress, buffer.count > 0 else { return }
        reserve(buffer.count)
        (base + count).copyMemory(from: source, byteCount: buffer.count)
        count += buffer.count
    }

    func bytes(_ text: StaticString) {
        bytes(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    func u8(_ value: UInt8) {
        reserve(1)
        base.storeBytes(of: value, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    func u32(_ value: UInt32) {
        reserve(4)
        base.storeBytes(of: value.bigEndian, toByteOffset: count, as: UInt32.self)
        count += 4
    }

    func i64(_ value: Int64) {
        reserve(8)
        base.storeBytes(of: value.bigEndian, toByteOffset: count, as: Int64.self)
        count += 8
    }

    /// A value as ``ByteWriter/optionalI64(_:)`` encodes it: 0 for nil, else 1 and the value.
    func optionalI64(_ value: Int64?) {
        if let value {
            u8(1)
            i64(value)
        } else {
            u8(0)
        }
    }

    /// Bytes as ``ByteWriter/field(_:)-([UInt8])`` encodes them: u32 length, then the bytes.
    func field(_ value: UnsafeRawBufferPointer) {
        u32(UInt32(value.count))
        bytes(value)
    }

    /// Bytes as ``ByteWriter/field(_:)-([UInt8])`` encodes them: u32 length, then the bytes.
    func field(_ value: [UInt8]) {
        u32(UInt32(value.count))
        value.withUnsafeBytes { bytes($0) }
    }

    /// Appends `range` of `other`'s bytes.
    func append(_ other: ScratchBuffer, _ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= other.count)
        bytes(UnsafeRawBufferPointer(start: other.base + range.lowerBound, count: range.count))
    }

    /// The bytes in `range` (valid until the buffer next changes).
    func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// The big-endian integers at `offset` (the caller has checked the length).
    func readU32(at offset: Int) -> UInt32 { UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    func readI64(at offset: Int) -> Int64 { Int64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: Int64.self)) }
    func readU8(at offset: Int) -> UInt8 { base.load(fromByteOffset: offset, as: UInt8.self) }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }
}

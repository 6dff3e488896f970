import Foundation
import GRDB
import GRDBSQLite

/// The full manifest check's scan of every entry and version, on the raw SQLite statements:
/// no `Row` per row and no ciphertext read (the digest covers only its length; the AEAD tag
/// covers its bytes). Produces exactly the bytes of ``Vault/entryDigest(keys:entry:versions:)``
/// and ``Vault/bucketDigest(keys:bucket:members:)``, written straight from SQLite's column
/// memory into reused scratch buffers: at 100,000 entries the earlier version spent 80% of the
/// unlock allocating, appending to and freeing small arrays.
extension Vault {
    /// Checks every entry's stored digest against its rows and returns the 256 bucket digests.
    static func scanBucketDigests(_ db: Database, keys: VaultKeys) throws -> [[UInt8]] {
        let entries = try db.makeStatement(sql: """
            SELECT entry_id, name_index, bucket, key_id, name_nonce, length(name_ciphertext), name_tag,
                   current_version, previous_version, pending_version, next_version, digest
            FROM entries ORDER BY entry_id
            """)
        let versions = try db.makeStatement(sql: """
            SELECT entry_id, version, key_id, alg, nonce, length(ciphertext), tag FROM versions ORDER BY entry_id, version
            """)
        let e = entries.sqliteStatement
        let v = versions.sqliteStatement
        // Per bucket: the members' bytes as bucketDigest encodes them (id, then the digest as a
        // length-prefixed field), and how many.
        var members = [ScratchBuffer]()
        members.reserveCapacity(VaultSchema.entryBuckets)
        for _ in 0..<VaultSchema.entryBuckets { members.append(ScratchBuffer(capacity: 64)) }
        var counts = [Int64](repeating: 0, count: VaultSchema.entryBuckets)
        let head = ScratchBuffer(capacity: 256)
        let body = ScratchBuffer(capacity: 256)
        let digest = UnsafeMutableRawBufferPointer.allocate(byteCount: HMACSHA256.tagLength, alignment: 8)
        defer { digest.deallocate() }
        var versionRow = try step(v)
        while try step(e) {
            let id = sqlite3_column_int64(e, 0)
            let bucket = sqlite3_column_int64(e, 2)
            head.reset()
            head.bytes("KWV1-entry\0")
            head.i64(id)
            head.blobField(e, 1)
            head.i64(bucket)
            head.u32(keyID(e, 3))
            head.blobField(e, 4)
            head.blobField(e, 6)
            head.i64(sqlite3_column_int64(e, 5))
            for column in Int32(7)...9 { head.optionalI64(e, column) }
            head.i64(sqlite3_column_int64(e, 10))
            body.reset()
            var count: Int64 = 0
            if versionRow, sqlite3_column_int64(v, 0) < id {
                throw VaultError.integrity("a version row belongs to no entry (entry \(sqlite3_column_int64(v, 0)))")
            }
            while versionRow, sqlite3_column_int64(v, 0) == id {
                body.i64(sqlite3_column_int64(v, 1))
                body.u32(keyID(v, 2))
                body.i64(sqlite3_column_int64(v, 3))
                body.blobField(v, 4)
                body.blobField(v, 6)
                body.i64(sqlite3_column_int64(v, 5))
                count += 1
                versionRow = try step(v)
            }
            head.i64(count)
            try head.withBytes { h in try body.withBytes { b in try keys.manifest.authenticate(h, b, into: digest) } }
            let stored = storedBlob(e, 11)
            guard ConstantTime.equals(UnsafeRawBufferPointer(digest), stored) else {
                throw VaultError.integrity("entry \(id) does not match its digest (a row of entries or versions was changed)")
            }
            guard bucket == id & 0xFF else {
                throw VaultError.integrity("entry \(id) is filed in the wrong manifest bucket")
            }
            members[Int(bucket)].i64(id)
            members[Int(bucket)].u32(UInt32(HMACSHA256.tagLength))
            members[Int(bucket)].bytes(UnsafeRawBufferPointer(digest))
            counts[Int(bucket)] += 1
        }
        if versionRow {
            throw VaultError.integrity("a version row belongs to no entry (entry \(sqlite3_column_int64(v, 0)))")
        }
        var digests = [[UInt8]]()
        digests.reserveCapacity(VaultSchema.entryBuckets)
        for bucket in 0..<VaultSchema.entryBuckets {
            head.reset()
            head.bytes("KWV1-bucket\0")
            head.u32(UInt32(bucket))
            head.i64(counts[bucket])
            try head.withBytes { h in try members[bucket].withBytes { m in try keys.manifest.authenticate(h, m, into: digest) } }
            digests.append(Array(digest))
        }
        return digests
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

extension EntryRow {
    /// Reads ``columns`` from the current row of a raw statement, starting at `offset`.
    init(statement s: OpaquePointer?, offset o: Int32) {
        id = sqlite3_column_int64(s, o)
        nameIndex = Vault.blob(s, o + 1)
        bucket = sqlite3_column_int64(s, o + 2)
        keyID = Vault.keyID(s, o + 3)
        nameBox = SealedBox(nonce: Vault.blob(s, o + 4), ciphertext: Vault.blob(s, o + 5), tag: Vault.blob(s, o + 6))
        current = Vault.optionalInt(s, o + 7)
        previous = Vault.optionalInt(s, o + 8)
        pending = Vault.optionalInt(s, o + 9)
        nextVersion = sqlite3_column_int64(s, o + 10)
        digest = Vault.blob(s, o + 11)
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

    private func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
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

    /// A column as ``ByteWriter/optionalI64(_:)`` encodes it: 0 for NULL, else 1 and the value.
    func optionalI64(_ statement: OpaquePointer?, _ column: Int32) {
        if sqlite3_column_type(statement, column) == SQLITE_NULL {
            u8(0)
        } else {
            u8(1)
            i64(sqlite3_column_int64(statement, column))
        }
    }

    /// A BLOB column as ``ByteWriter/field(_:)-([UInt8])`` encodes ``Vault/blob(_:_:)``:
    /// u32 length, then the bytes (NULL or another type reads as empty).
    func blobField(_ statement: OpaquePointer?, _ column: Int32) {
        let blob = Vault.storedBlob(statement, column)
        u32(UInt32(blob.count))
        bytes(blob)
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }
}

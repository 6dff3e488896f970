import Foundation
import GRDB
import GRDBSQLite

/// The manifest of format 1 (migration `v1-vault-tables`), kept only to check a vault written
/// before `v2-manifest-over-version-rows` before that migration rewrites its manifest: there,
/// each entry row held a digest (an HMAC over the entry and its versions) and each bucket MACed
/// its entries' ids and digests. Nothing writes this format any more.
extension Vault {
    /// Checks every entry's stored digest against its rows and returns the 256 bucket digests
    /// of format 1.
    static func scanBucketDigestsFormat1(_ db: Database, keys: VaultKeys) throws -> [[UInt8]] {
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
}

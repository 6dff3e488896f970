import Foundation
import GRDB
import GRDBSQLite

/// The full manifest check's scan of every entry and version, on the raw SQLite statements:
/// no `Row` per row and no ciphertext read (the digest covers only its length; the AEAD tag
/// covers its bytes). Produces exactly the bytes of ``Vault/entryDigest(keys:entry:versions:)``.
extension Vault {
    static func scanEntryDigests(_ db: Database, keys: VaultKeys) throws -> [[(id: Int64, digest: [UInt8])]] {
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
        var members = [[(id: Int64, digest: [UInt8])]](repeating: [], count: VaultSchema.entryBuckets)
        var versionRow = try step(v)
        while try step(e) {
            let id = sqlite3_column_int64(e, 0)
            let bucket = sqlite3_column_int64(e, 2)
            var head = ByteWriter(capacity: 200)
            head.raw("KWV1-entry\0")
            head.i64(id)
            head.field(blob(e, 1))
            head.i64(bucket)
            head.u32(keyID(e, 3))
            head.field(blob(e, 4))
            head.field(blob(e, 6))
            head.i64(sqlite3_column_int64(e, 5))
            for column in Int32(7)...9 { head.optionalI64(optionalInt(e, column)) }
            head.i64(sqlite3_column_int64(e, 10))
            var body = ByteWriter(capacity: 64)
            var count: Int64 = 0
            while versionRow, sqlite3_column_int64(v, 0) < id {
                throw VaultError.integrity("a version row belongs to no entry (entry \(sqlite3_column_int64(v, 0)))")
            }
            while versionRow, sqlite3_column_int64(v, 0) == id {
                body.i64(sqlite3_column_int64(v, 1))
                body.u32(keyID(v, 2))
                body.i64(sqlite3_column_int64(v, 3))
                body.field(blob(v, 4))
                body.field(blob(v, 6))
                body.i64(sqlite3_column_int64(v, 5))
                count += 1
                versionRow = try step(v)
            }
            head.i64(count)
            head.raw(body.take())
            let digest = try keys.manifest.authenticate(head.take())
            guard ConstantTime.equals(digest, blob(e, 11)) else {
                throw VaultError.integrity("entry \(id) does not match its digest (a row of entries or versions was changed)")
            }
            guard bucket == id & 0xFF else {
                throw VaultError.integrity("entry \(id) is filed in the wrong manifest bucket")
            }
            members[Int(bucket)].append((id, digest))
        }
        if versionRow {
            throw VaultError.integrity("a version row belongs to no entry (entry \(sqlite3_column_int64(v, 0)))")
        }
        return members
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

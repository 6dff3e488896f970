import Foundation
import GRDB
import KeywardCore

/// `vault_meta`: one row.
struct MetaRow {
    var vaultID: [UInt8]
    var keyID: UInt32
    var retention: Int
    /// How long audit rows and closed journal entries are kept, in seconds.
    var auditRetention: Int64
    var generation: Int64
    var updatedAt: Int64
    var topMAC: [UInt8]
}

/// `key_slots`: one unlock slot wrapping the data key.
struct SlotRow {
    var id: Int
    var kind: String
    var keyID: UInt32
    var iterations: Int64
    var memoryKiB: Int64
    var parallelism: Int64
    var salt: [UInt8]
    var createdAt: Int64
    var box: SealedBox

    /// The stored Argon2 parameters, clamped into UInt32 so an absurd stored value fails the
    /// bounds check instead of wrapping around.
    var parameters: Argon2Parameters {
        func clamp(_ value: Int64) -> UInt32 { value < 0 ? 0 : (value > Int64(UInt32.max) ? UInt32.max : UInt32(value)) }
        return Argon2Parameters(iterations: clamp(iterations), memoryKiB: clamp(memoryKiB), parallelism: clamp(parallelism))
    }
}

/// `entries`: one named entry; its name only sealed, looked up by keyed index.
struct EntryRow {
    var id: Int64
    var nameIndex: [UInt8]
    var bucket: Int64
    var keyID: UInt32
    var nameBox: SealedBox
    var current: Int64?
    var previous: Int64?
    var pending: Int64?
    var nextVersion: Int64

    func version(labelled label: VersionLabel) -> Int64? {
        switch label {
        case .current: current
        case .previous: previous
        case .pending: pending
        }
    }

    func labels(of version: Int64) -> [VersionLabel] {
        VersionLabel.allCases.filter { self.version(labelled: $0) == version }
    }

    static let columns = "entry_id, name_index, bucket, key_id, name_nonce, name_ciphertext, name_tag, current_version, previous_version, pending_version, next_version"

    init(id: Int64, nameIndex: [UInt8], bucket: Int64, keyID: UInt32, nameBox: SealedBox, current: Int64?, previous: Int64?,
         pending: Int64?, nextVersion: Int64) {
        self.id = id
        self.nameIndex = nameIndex
        self.bucket = bucket
        self.keyID = keyID
        self.nameBox = nameBox
        self.current = current
        self.previous = previous
        self.pending = pending
        self.nextVersion = nextVersion
    }

    /// Reads the columns of ``columns`` starting at `offset`.
    init(row: Row, offset o: Int = 0) {
        id = row[o]
        nameIndex = bytes(row, o + 1)
        bucket = row[o + 2]
        keyID = keyIDValue(row, o + 3)
        nameBox = SealedBox(nonce: bytes(row, o + 4), ciphertext: bytes(row, o + 5), tag: bytes(row, o + 6))
        current = row[o + 7]
        previous = row[o + 8]
        pending = row[o + 9]
        nextVersion = row[o + 10]
    }
}

/// `versions`: one sealed version of an entry.
struct VersionRow {
    var entryID: Int64
    var version: Int64
    var keyID: UInt32
    var alg: Int64
    var box: SealedBox

    static let columns = "entry_id, version, key_id, alg, nonce, ciphertext, tag"

    init(row: Row, offset o: Int = 0) {
        entryID = row[o]
        version = row[o + 1]
        keyID = keyIDValue(row, o + 2)
        alg = row[o + 3]
        box = SealedBox(nonce: bytes(row, o + 4), ciphertext: bytes(row, o + 5), tag: bytes(row, o + 6))
    }

    init(entryID: Int64, version: Int64, keyID: UInt32, alg: Int64, box: SealedBox) {
        self.entryID = entryID
        self.version = version
        self.keyID = keyID
        self.alg = alg
        self.box = box
    }
}

/// A journal or audit row: sealed as a whole.
struct LogRow {
    var id: Int64
    var keyID: UInt32
    var box: SealedBox

    init(row: Row) {
        id = row[0]
        keyID = keyIDValue(row, 1)
        box = SealedBox(nonce: bytes(row, 2), ciphertext: bytes(row, 3), tag: bytes(row, 4))
    }
}

/// A BLOB column as bytes; NULL or a non-blob reads as empty (and then fails its MAC).
func bytes(_ row: Row, _ index: Int) -> [UInt8] {
    let value: DatabaseValue = row[index]
    if case .blob(let data) = value.storage { return Array(data) }
    return []
}

private func keyIDValue(_ row: Row, _ index: Int) -> UInt32 {
    let value: Int64 = row[index] ?? -1
    return (0...Int64(UInt32.max)).contains(value) ? UInt32(value) : UInt32.max
}

extension Vault {
    /// The manifest bucket of an entry, and the first column of both tables' keys.
    static func bucket(of entryID: Int64) -> Int64 { entryID & 0xFF }

    static func readMeta(_ db: Database) throws -> MetaRow {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT vault_id, key_id, retention, generation, updated_at, top_mac, audit_retention FROM vault_meta WHERE id = 1")) else {
            throw VaultError.integrity("the vault header row is missing")
        }
        let keyID: Int64 = row[1]
        guard (1...Int64(UInt32.max)).contains(keyID) else { throw VaultError.integrity("the vault header holds an invalid key id") }
        return MetaRow(vaultID: bytes(row, 0), keyID: UInt32(keyID), retention: row[2], auditRetention: row[6], generation: row[3],
                       updatedAt: row[4], topMAC: bytes(row, 5))
    }

    static func readSlots(_ db: Database) throws -> [SlotRow] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT slot_id, kind, key_id, kdf_t, kdf_m_kib, kdf_p, salt, created_at, wrap_nonce, wrapped_key, wrap_tag
            FROM key_slots ORDER BY slot_id
            """)).map { row in
            SlotRow(
                id: row[0], kind: row[1], keyID: keyIDValue(row, 2), iterations: row[3], memoryKiB: row[4], parallelism: row[5],
                salt: bytes(row, 6), createdAt: row[7], box: SealedBox(nonce: bytes(row, 8), ciphertext: bytes(row, 9), tag: bytes(row, 10)))
        }
    }

    static func readEntry(_ db: Database, nameIndex: [UInt8]) throws -> EntryRow? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(EntryRow.columns) FROM entries WHERE name_index = ?"), arguments: [Data(nameIndex)]).map { EntryRow(row: $0) }
    }

    static func readEntry(_ db: Database, id: Int64) throws -> EntryRow? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(EntryRow.columns) FROM entries WHERE entry_id = ?"), arguments: [id]).map { EntryRow(row: $0) }
    }

    static func readVersions(_ db: Database, entryID: Int64) throws -> [VersionRow] {
        try Row.fetchAll(
            db.cachedStatement(sql: "SELECT \(VersionRow.columns) FROM versions WHERE bucket = ? AND entry_id = ? ORDER BY version"),
            arguments: [bucket(of: entryID), entryID])
            .map { VersionRow(row: $0) }
    }

    static func readVersion(_ db: Database, entryID: Int64, version: Int64) throws -> VersionRow? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(VersionRow.columns) FROM versions WHERE bucket = ? AND entry_id = ? AND version = ?"),
            arguments: [bucket(of: entryID), entryID, version])
            .map { VersionRow(row: $0) }
    }

    static func readManifest(_ db: Database) throws -> [[UInt8]] {
        var digests = [[UInt8]](repeating: [], count: VaultSchema.manifestSlots)
        var seen = 0
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT slot, digest FROM manifest ORDER BY slot")) {
            let slot: Int64 = row[0]
            guard (0..<Int64(VaultSchema.manifestSlots)).contains(slot) else {
                throw VaultError.integrity("the manifest holds an unknown slot \(slot)")
            }
            digests[Int(slot)] = bytes(row, 1)
            seen += 1
        }
        guard seen == VaultSchema.manifestSlots else {
            throw VaultError.integrity("the manifest has \(seen) of \(VaultSchema.manifestSlots) bucket digests")
        }
        return digests
    }
}

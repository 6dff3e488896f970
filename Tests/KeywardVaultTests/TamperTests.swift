import Foundation
import GRDB
import KeywardCore
import Testing

@testable import KeywardVault

/// An attacker with the file changes it; every change must be reported as a vault failure
/// (exit 4) saying what failed, and no plaintext may come back.
@Suite("Tamper detection")
struct TamperTests {
    /// A vault with two key-file slots (the test opens with the first), entries with several
    /// versions and labels, a journal entry and audit rows.
    static func populated() throws -> (Sandbox, VaultKeySource) {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        try vault.addKeySlot(.keyFile(try box.keyFile("second")))
        try vault.putBatch((0..<6).map { (name("e/\($0)"), secret("value-\($0)-a")) })
        try vault.putBatch((0..<6).map { (name("e/\($0)"), secret("value-\($0)-b")) })
        try vault.putBatch((0..<6).map { (name("e/\($0)"), secret("value-\($0)-c")) }, label: .pending)
        let journal = try vault.openJournal(entity: "FIU-1")
        try vault.advanceJournal(id: journal.id, to: .sent)
        for index in 0..<3 {
            try vault.appendAudit(VaultAuditEvent(time: Date(), operation: "op-\(index)", entity: "FIU-1", outcome: "ok"))
        }
        return (box, source)
    }

    /// Opens, verifies and reads everything: the first failure must be a vault failure.
    static func expectDetected(_ box: Sandbox, _ source: VaultKeySource, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = expectVaultFailure(Comment(rawValue: what), sourceLocation: sourceLocation) {
            let vault = try box.open(source)
            _ = try vault.verify()
            for index in 0..<6 { _ = try vault.get(name("e/\(index)")) }
        }
        if let error {
            #expect(!error.message.contains("value-"), "\(what): message leaks plaintext", sourceLocation: sourceLocation)
            #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
        }
    }

    static let blobColumns: [(table: String, column: String, key: String)] = [
        ("vault_meta", "vault_id", "id = 1"), ("vault_meta", "top_mac", "id = 1"),
        ("key_slots", "salt", "slot_id = 2"), ("key_slots", "wrap_nonce", "slot_id = 2"),
        ("key_slots", "wrapped_key", "slot_id = 2"), ("key_slots", "wrap_tag", "slot_id = 2"),
        ("key_slots", "salt", "slot_id = 1"), ("key_slots", "wrapped_key", "slot_id = 1"), ("key_slots", "wrap_tag", "slot_id = 1"),
        ("entries", "name_index", "entry_id = 3"), ("entries", "name_nonce", "entry_id = 3"),
        ("entries", "name_ciphertext", "entry_id = 3"), ("entries", "name_tag", "entry_id = 3"),
        ("versions", "nonce", "entry_id = 3 AND version = 2"), ("versions", "ciphertext", "entry_id = 3 AND version = 2"),
        ("versions", "tag", "entry_id = 3 AND version = 2"), ("versions", "ciphertext", "entry_id = 3 AND version = 1"),
        ("manifest", "digest", "slot = 3"), ("manifest", "digest", "slot = 7"), ("manifest", "digest", "slot = 256"),
        ("manifest", "digest", "slot = 257"), ("manifest", "digest", "slot = 258"),
        ("journal", "nonce", "journal_id = 1"), ("journal", "ciphertext", "journal_id = 1"), ("journal", "tag", "journal_id = 1"),
        ("audit", "nonce", "audit_id = 2"), ("audit", "ciphertext", "audit_id = 2"), ("audit", "tag", "audit_id = 2"),
        ("audit", "ciphertext", "audit_id = 3"),
    ]

    @Test("flipping one byte of any blob column is detected", arguments: blobColumns)
    func flipBlob(target: (table: String, column: String, key: String)) throws {
        let (box, source) = try Self.populated()
        try box.tamper { db in
            let data = try #require(try Data.fetchOne(db, sql: "SELECT \(target.column) FROM \(target.table) WHERE \(target.key)"))
            var bytes = Array(data)
            try #require(!bytes.isEmpty)
            bytes[bytes.count / 2] ^= 0x01
            try db.execute(sql: "UPDATE \(target.table) SET \(target.column) = ? WHERE \(target.key)", arguments: [Data(bytes)])
        }
        Self.expectDetected(box, source, "\(target.table).\(target.column)")
    }

    static let otherColumns: [(table: String, assignment: String, key: String)] = [
        ("vault_meta", "key_id = key_id + 1", "id = 1"), ("vault_meta", "retention = retention + 1", "id = 1"),
        ("vault_meta", "generation = generation + 1", "id = 1"), ("vault_meta", "generation = generation - 1", "id = 1"),
        ("vault_meta", "updated_at = updated_at + 1", "id = 1"), ("vault_meta", "last_entry_id = last_entry_id + 1", "id = 1"),
        ("vault_meta", "last_entry_id = 1", "id = 1"),
        ("key_slots", "kind = 'passphrase'", "slot_id = 2"), ("key_slots", "key_id = key_id + 1", "slot_id = 2"),
        ("key_slots", "kdf_t = kdf_t + 1", "slot_id = 2"), ("key_slots", "kdf_m_kib = kdf_m_kib + 1", "slot_id = 2"),
        ("key_slots", "kdf_p = kdf_p + 1", "slot_id = 2"), ("key_slots", "created_at = created_at + 1", "slot_id = 2"),
        ("key_slots", "slot_id = 5", "slot_id = 2"), ("key_slots", "created_at = created_at + 1", "slot_id = 1"),
        ("entries", "bucket = bucket + 1", "entry_id = 3"), ("entries", "key_id = key_id + 1", "entry_id = 3"),
        ("entries", "current_version = 1", "entry_id = 3"), ("entries", "previous_version = 2", "entry_id = 3"),
        ("entries", "pending_version = NULL", "entry_id = 3"), ("entries", "current_version = NULL", "entry_id = 3"),
        ("entries", "next_version = next_version + 1", "entry_id = 3"), ("entries", "entry_id = 300", "entry_id = 3"),
        ("versions", "key_id = key_id + 1", "entry_id = 3 AND version = 2"), ("versions", "alg = 2", "entry_id = 3 AND version = 2"),
        ("versions", "version = 9", "entry_id = 3 AND version = 1"), ("versions", "entry_id = 4, version = 99", "entry_id = 3 AND version = 1"),
        ("versions", "bucket = bucket + 1", "entry_id = 3 AND version = 2"), ("versions", "bucket = 4, entry_id = 4, version = 99", "entry_id = 3 AND version = 3"),
        ("entries", "bucket = 44, entry_id = 300", "entry_id = 3"),
        ("manifest", "slot = 1000", "slot = 5"),
        ("journal", "key_id = key_id + 1", "journal_id = 1"), ("journal", "journal_id = 7", "journal_id = 1"),
        ("audit", "key_id = key_id + 1", "audit_id = 2"), ("audit", "audit_id = 9", "audit_id = 2"),
        ("grdb_migrations", "identifier = 'format-1-from-the-future'", "identifier = 'format-1'"),
        // A format-1 file passed off as one an earlier build made is refused too.
        ("grdb_migrations", "identifier = 'v3-rows-clustered-by-bucket'", "identifier = 'format-1'"),
    ]

    @Test("changing any other column (ids, labels, counters, parameters) is detected", arguments: otherColumns)
    func changeColumn(target: (table: String, assignment: String, key: String)) throws {
        let (box, source) = try Self.populated()
        try box.tamper { db in
            try db.execute(sql: "UPDATE \(target.table) SET \(target.assignment) WHERE \(target.key)")
            #expect(db.changesCount == 1)
        }
        Self.expectDetected(box, source, "\(target.table): \(target.assignment)")
    }

    static let deletions: [(table: String, key: String)] = [
        ("vault_meta", "id = 1"), ("key_slots", "slot_id = 2"), ("key_slots", "slot_id = 1"), ("entries", "entry_id = 3"),
        ("versions", "entry_id = 3 AND version = 1"), ("versions", "entry_id = 3 AND version = 3"), ("manifest", "slot = 0"),
        ("journal", "journal_id = 1"), ("audit", "audit_id = 1"), ("audit", "audit_id = 2"), ("audit", "audit_id = 3"),
        ("grdb_migrations", "1"), ("grdb_migrations", "identifier = 'format-1'"),
    ]

    @Test("deleting a row of any table is detected", arguments: deletions)
    func deleteRow(target: (table: String, key: String)) throws {
        let (box, source) = try Self.populated()
        try box.tamper { db in
            try db.execute(sql: "DELETE FROM \(target.table) WHERE \(target.key)")
            #expect(db.changesCount >= 1)
        }
        Self.expectDetected(box, source, "delete from \(target.table)")
    }

    @Test("a foreign header is refused", arguments: ["PRAGMA application_id = 0", "PRAGMA user_version = 2"])
    func header(pragma: String) throws {
        let (box, source) = try Self.populated()
        try box.tamper { db in try db.execute(sql: pragma) }
        let error = expectVaultFailure { _ = try box.open(source) }
        #expect(error?.code == .notAVault)
    }

    @Test("swapping two rows' ciphertexts is detected", arguments: [
        ("versions", "entry_id = 3 AND version = 1", "entry_id = 4 AND version = 1", "nonce, ciphertext, tag"),
        ("versions", "entry_id = 3 AND version = 1", "entry_id = 3 AND version = 2", "ciphertext"),
        ("versions", "entry_id = 3 AND version = 1", "entry_id = 3 AND version = 2", "nonce, ciphertext, tag"),
        ("entries", "entry_id = 3", "entry_id = 4", "name_nonce, name_ciphertext, name_tag"),
        ("entries", "entry_id = 3", "entry_id = 4", "name_index, name_nonce, name_ciphertext, name_tag"),
        ("audit", "audit_id = 1", "audit_id = 2", "nonce, ciphertext, tag"),
    ])
    func swap(table: String, first: String, second: String, columns: String) throws {
        let (box, source) = try Self.populated()
        try box.tamper { db in
            let names = columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let a = try #require(try Row.fetchOne(db, sql: "SELECT \(columns) FROM \(table) WHERE \(first)"))
            let b = try #require(try Row.fetchOne(db, sql: "SELECT \(columns) FROM \(table) WHERE \(second)"))
            let set = names.map { "\($0) = ?" }.joined(separator: ", ")
            // name_index is UNIQUE: park the first row out of the way.
            try db.execute(sql: "UPDATE \(table) SET \(set) WHERE \(first)", arguments: StatementArguments(names.indices.map { _ in Data([0]) as Data })!)
            try db.execute(sql: "UPDATE \(table) SET \(set) WHERE \(second)", arguments: StatementArguments(names.indices.map { a[$0] as DatabaseValue }))
            try db.execute(sql: "UPDATE \(table) SET \(set) WHERE \(first)", arguments: StatementArguments(names.indices.map { b[$0] as DatabaseValue }))
        }
        Self.expectDetected(box, source, "swap \(table) \(columns)")
    }

    @Test("restoring an older sealed row in place of a newer one is detected")
    func restoreOlderRow() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        try vault.put(name("e/0"), secret("value-old"))
        try vault.put(name("e/1"), secret("value-other"))
        let before = try box.versionBlobs()
        _ = try vault.rekey()
        try vault.put(name("e/0"), secret("value-new"))
        try box.tamper { db in
            // Version 1 of entry 1 as it was sealed before the rekey.
            let old = before[0]
            try db.execute(
                sql: "UPDATE versions SET nonce = ?, ciphertext = ?, tag = ?, key_id = 1 WHERE entry_id = 1 AND version = 1",
                arguments: [Data(old[0..<12]), Data(old[12..<(old.count - 16)]), Data(old[(old.count - 16)...])])
            // And point `current` back at it.
            try db.execute(sql: "UPDATE entries SET current_version = 1, previous_version = NULL WHERE entry_id = 1")
        }
        Self.expectDetected(box, source, "older row")
        try box.tamper { db in
            let copy = try #require(try Row.fetchOne(db, sql: "SELECT nonce, ciphertext, tag FROM versions WHERE entry_id = 1 AND version = 1"))
            try db.execute(sql: "UPDATE versions SET nonce = ?, ciphertext = ?, tag = ? WHERE entry_id = 1 AND version = 2",
                           arguments: [copy[0] as DatabaseValue, copy[1] as DatabaseValue, copy[2] as DatabaseValue])
        }
        Self.expectDetected(box, source, "older row copied over newer version")
    }

    /// 150 audit rows: the last checkpoint below the head is row 128, so every unlock opens rows
    /// 129 to 150; `vault verify` (and `keyward audit`) open all of them.
    static let auditEdits: [(sql: String, atUnlock: Bool)] = [
        ("UPDATE audit SET ciphertext = zeroblob(length(ciphertext)) WHERE audit_id = 10", false),
        ("DELETE FROM audit WHERE audit_id = 10", false),
        ("UPDATE audit SET tag = zeroblob(16) WHERE audit_id = 127", false),
        ("DELETE FROM audit WHERE audit_id = 128", true),
        ("UPDATE audit SET ciphertext = zeroblob(length(ciphertext)) WHERE audit_id = 140", true),
        ("DELETE FROM audit WHERE audit_id = 140", true),
        ("UPDATE audit SET ciphertext = zeroblob(length(ciphertext)) WHERE audit_id = 150", true),
        ("UPDATE audit SET nonce = zeroblob(12) WHERE audit_id = 150", true),
        ("DELETE FROM audit WHERE audit_id = 150", true),
    ]

    @Test("an edited or deleted audit row fails the unlock after the last checkpoint and vault verify anywhere", arguments: auditEdits)
    func auditChain(edit: (sql: String, atUnlock: Bool)) throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        try vault.appendAudit((0..<150).map { VaultAuditEvent(time: Date(), operation: "op-\($0)", entity: "FIU-1", outcome: "ok") })
        try box.tamper { db in
            try db.execute(sql: edit.sql)
            #expect(db.changesCount == 1)
        }
        if edit.atUnlock {
            let error = expectVaultFailure(Comment(rawValue: edit.sql)) { _ = try box.open(source) }
            #expect(error?.message.contains("audit") == true, "\(error?.message ?? "")")
        } else {
            // Before the checkpoint the unlock does not look (its cost must not grow with the log)...
            let reopened = try box.open(source)
            // ...but vault verify and reading the log do.
            let error = expectVaultFailure(Comment(rawValue: edit.sql)) { _ = try reopened.verify() }
            #expect(error?.message.contains("audit") == true, "\(error?.message ?? "")")
            expectVaultFailure(Comment(rawValue: edit.sql)) { _ = try reopened.auditEvents() }
        }
    }

    @Test("an older copy of the whole file is reported as a rollback; --accept-restore re-anchors it")
    func wholeFileRollback() throws {
        let box = try Sandbox()
        let backup = box.root + "/backup.db"
        do {
            let (vault, _) = try box.makeVault()
            try vault.put(name("e/0"), secret("value-old"))
            try vault.queue.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            try FileManager.default.copyItem(atPath: box.vaultPath, toPath: backup)
            try vault.put(name("e/0"), secret("value-new"))
            try vault.put(name("e/1"), secret("value-1"))
        }
        let source = VaultKeySource.keyFile(box.root + "/key.key")
        #expect(try box.open(source).get(name("e/0")).value == secret("value-new"))
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: box.vaultPath + suffix) }
        try FileManager.default.removeItem(atPath: box.vaultPath)
        try FileManager.default.copyItem(atPath: backup, toPath: box.vaultPath)
        let error = expectVaultFailure { _ = try box.open(source) }
        #expect(error?.code == .rollback)
        #expect(error?.message.contains("generation") == true)
        #expect(error?.message.contains("--accept-restore") == true)
        // A restored copy with a damaged record is not accepted, and stays behind its anchor.
        let intact = box.fileBytes(box.vaultPath)
        try box.tamper { db in
            try db.execute(sql: "UPDATE versions SET ciphertext = randomblob(length(ciphertext)) WHERE entry_id = 1")
            _ = try db.checkpoint(.truncate)
        }
        let damaged = expectVaultFailure { _ = try Vault.acceptRestore(at: box.vaultPath, keySource: source, options: box.options) }
        #expect(damaged?.code == .integrity)
        try Data(intact).write(to: URL(fileURLWithPath: box.vaultPath))
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: box.vaultPath + suffix) }
        #expect(expectVaultFailure { _ = try box.open(source) }?.code == .rollback)
        let (restored, info) = try Vault.acceptRestore(at: box.vaultPath, keySource: source, options: box.options)
        #expect(info.fileGeneration < (info.anchorGeneration ?? 0))
        #expect(try restored.get(name("e/0")).value == secret("value-old"))
        #expect(try box.open(source).get(name("e/0")).value == secret("value-old"))
    }

    @Test("a damaged anchor is reported, not silently replaced", arguments: ["edited", "emptied", "newlines only"])
    func damagedAnchor(damage: String) throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        try vault.put(name("a"), secret("x"))
        let anchor = vault.anchorPath
        var text = try String(contentsOfFile: anchor, encoding: .utf8)
        switch damage {
        case "edited": text = text.replacingOccurrences(of: "generation ", with: "generation 9")
        case "emptied": text = ""
        default: text = String(repeating: "\n", count: text.utf8.count)
        }
        try text.write(toFile: anchor, atomically: true, encoding: .utf8)
        let error = expectVaultFailure { _ = try box.open(source) }
        #expect(error?.message.contains("anchor") == true, "\(error?.message ?? "")")
    }

    @Test("a schema object Keyward does not create (a trigger, a view, a table, an index) is refused at unlock", arguments: [
        "CREATE TRIGGER planted AFTER INSERT ON versions BEGIN UPDATE versions SET ciphertext = randomblob(length(new.ciphertext)) "
            + "WHERE bucket = new.bucket AND entry_id = new.entry_id AND version = new.version; END",
        "CREATE VIEW planted AS SELECT * FROM entries",
        "CREATE TABLE planted(x)",
        "CREATE INDEX planted ON versions(nonce)",
    ])
    func plantedSchema(sql: String) throws {
        let (box, source) = try Self.populated()
        try box.tamper { db in try db.execute(sql: sql) }
        let error = expectVaultFailure(Comment(rawValue: sql)) { _ = try box.open(source) }
        #expect(error?.code == .integrity)
        #expect(error?.message.contains("`planted`") == true, "\(error?.message ?? "")")
    }

    @Test("a column added to a table, a table dropped or a table definition edited is an integrity failure at unlock", arguments: [
        ("ALTER TABLE audit ADD COLUMN planted INTEGER DEFAULT 0 CHECK (audit_id <= 3)", "audit"),
        ("ALTER TABLE versions ADD COLUMN planted BLOB", "versions"),
        ("ALTER TABLE entries ADD COLUMN planted INTEGER NOT NULL DEFAULT 1 CHECK (planted = 1)", "entries"),
        ("ALTER TABLE journal ADD COLUMN planted TEXT", "journal"),
        ("ALTER TABLE key_slots ADD COLUMN planted TEXT", "key_slots"),
        ("ALTER TABLE vault_meta ADD COLUMN planted TEXT", "vault_meta"),
        ("DROP TABLE journal", "journal"), ("DROP TABLE audit", "audit"), ("DROP TABLE manifest", "manifest"),
        ("DROP TABLE key_slots", "key_slots"), ("DROP TABLE versions", "versions"), ("DROP TABLE entries", "entries"),
        ("PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = replace(sql, 'tag BLOB NOT NULL', "
            + "'tag BLOB NOT NULL CHECK (audit_id <= 3)') WHERE name = 'audit'; PRAGMA writable_schema = OFF", "audit"),
    ])
    func changedTables(sql: String, table: String) throws {
        let (box, source) = try Self.populated()
        try box.tamper { db in try db.execute(sql: sql) }
        let error = expectVaultFailure(Comment(rawValue: sql)) { _ = try box.open(source) }
        #expect(error?.code == .integrity, "\(sql): \(error?.message ?? "")")
        #expect(error?.message.contains("`\(table)`") == true, "\(sql): \(error?.message ?? "")")
    }

    @Test("a rekey after a backup does not let the old copy pass as new")
    func rollbackAcrossRekey() throws {
        let box = try Sandbox()
        let backup = box.root + "/backup.db"
        do {
            let (vault, _) = try box.makeVault()
            try vault.put(name("e/0"), secret("value-old"))
            try vault.queue.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            try FileManager.default.copyItem(atPath: box.vaultPath, toPath: backup)
            _ = try vault.rekey()
        }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: box.vaultPath + suffix) }
        try FileManager.default.removeItem(atPath: box.vaultPath)
        try FileManager.default.copyItem(atPath: backup, toPath: box.vaultPath)
        let error = expectVaultFailure { _ = try box.open(.keyFile(box.root + "/key.key")) }
        #expect(error?.code == .rollback)
    }
}

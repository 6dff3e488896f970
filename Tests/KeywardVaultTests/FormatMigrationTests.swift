import Foundation
import GRDB
import KeywardCore
import KeywardTesting
import Testing

@testable import KeywardVault

/// Vaults written by earlier builds open and are upgraded in place.
///
/// `Fixtures/vault-format1.db` was written by the build before `v2-manifest-over-version-rows`
/// (commit ee78150, its `KeywardVaultBenchmark` with one entry, then
/// `PRAGMA wal_checkpoint(TRUNCATE)`): manifest format 1, with a digest per entry. It holds
/// `svc/000000/token` (10 versions, `current` and `previous` labels) and `new/000000` to
/// `new/000999` (one version each), every value 100 random bytes, and one passphrase slot
/// (Argon2id t=3, m=64 MiB, p=1).
@Suite("Format migrations")
struct FormatMigrationTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/vault-format1.db").path
    static let passphrase = VaultKeySource.passphrase(SecretValue(utf8: "correct horse battery staple"))

    /// A fixture (format 1 unless told) copied to the sandbox's vault path, mode 0600 in a 0700
    /// directory.
    static func copyFixture(_ box: Sandbox, from fixture: String = fixture) throws {
        try FileManager.default.createDirectory(
            atPath: box.root + "/data", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.copyItem(atPath: fixture, toPath: box.vaultPath)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: box.vaultPath)
    }

    /// Migrations recorded, whether `entries` still has its digest column, and the generation.
    static func inspect(_ box: Sandbox) throws -> (migrations: [String], digestColumn: Bool, generation: Int64) {
        let queue = try DatabaseQueue(path: box.vaultPath)
        defer { try? queue.close() }
        return try queue.read { db in
            (try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier"),
             try db.columns(in: "entries").contains { $0.name == "digest" },
             try Int64.fetchOne(db, sql: "SELECT generation FROM vault_meta") ?? -1)
        }
    }

    static let allMigrations = ["v1-vault-tables", "v2-manifest-over-version-rows", "v3-rows-clustered-by-bucket"]

    @Test("a format-1 vault opens, is upgraded once, and keeps every entry, version and label")
    func upgradesFormat1() throws {
        let box = try Sandbox()
        try Self.copyFixture(box)
        let before = try Self.inspect(box)
        #expect(before.migrations == ["v1-vault-tables"])
        #expect(before.digestColumn)

        let vault = try box.open(Self.passphrase)
        let after = try Self.inspect(box)
        #expect(after.migrations == Self.allMigrations)
        #expect(!after.digestColumn)
        // One generation per migration that rewrote the manifest (v2, then v3).
        #expect(after.generation == before.generation + 2)
        #expect(vault.generation == after.generation)

        let report = try vault.verify()
        #expect(report.entries == 1001)
        #expect(report.versions == 1010)
        #expect(try vault.get(name("svc/000000/token")).value.count == 100)
        #expect(try vault.get(name("svc/000000/token"), label: .previous).value.count == 100)
        #expect(try vault.get(name("new/000999")).value.count == 100)
        let history = try vault.history(name("svc/000000/token"))
        #expect(history.count == 10)
        #expect(history.last?.labels == [.current])

        // Writes after the upgrade keep the new manifest; a second open upgrades nothing.
        try vault.put(name("new/000000"), secret("value-after-upgrade"))
        try vault.putBatch((0..<40).map { (name("batch/\($0)"), secret("value-\($0)")) })
        let reopened = try box.open(Self.passphrase)
        #expect(try Self.inspect(box).generation == after.generation + 2)
        #expect(try reopened.get(name("new/000000")).value == secret("value-after-upgrade"))
        #expect(try reopened.verify().entries == 1041)
    }

    @Test("a tampered format-1 vault is refused and left as it was", arguments: [
        "UPDATE entries SET digest = zeroblob(32) WHERE entry_id = 2",
        "DELETE FROM versions WHERE entry_id = 1 AND version = (SELECT MIN(version) FROM versions WHERE entry_id = 1)",
        "UPDATE vault_meta SET generation = generation + 1",
    ])
    func tamperedFormat1(sql: String) throws {
        let box = try Sandbox()
        try Self.copyFixture(box)
        try box.tamper { db in try db.execute(sql: sql) }
        let error = expectVaultFailure(Comment(rawValue: sql)) { _ = try box.open(Self.passphrase) }
        #expect(error?.code == .integrity)
        let after = try Self.inspect(box)
        #expect(after.migrations == ["v1-vault-tables"])
        #expect(after.digestColumn)
    }

    @Test("a format-2 vault passed off as format 1 (its migration record deleted) is refused")
    func downgradeRecord() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        try vault.put(name("a"), secret("value-a"))
        try box.tamper { db in try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v2-manifest-over-version-rows'") }
        expectVaultFailure { _ = try box.open(source) }
    }

    // MARK: Format 2

    /// `Fixtures/vault-format2.db` was written by the build before `v3-rows-clustered-by-bucket`
    /// (commit c41254b, its `keyward vault init --new-key-file` and `vault put`, then
    /// `PRAGMA wal_checkpoint(TRUNCATE)`), unlocked by `Fixtures/vault-format2.key`. It holds
    /// `app/001` to `app/300` (entry ids 1 to 300, value `value-001`...), `app/001` with four
    /// versions (`token-v2` to `token-v4` after the first; `token-v4` current, `token-v3`
    /// previous), and had `app/zzz-removed` (entry id 301) stored and removed: its id survives
    /// only in `sqlite_sequence`.
    static let fixture2 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/vault-format2.db").path
    static let keyFile2Path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/vault-format2.key").path
    static let keyFile2 = VaultKeySource.keyFile(keyFile2Path)

    /// The CREATE statements of `entries` and `versions`, and `vault_meta.last_entry_id` (nil
    /// before format 3).
    static func layout(_ box: Sandbox) throws -> (entries: String, versions: String, lastEntryID: Int64?) {
        let queue = try DatabaseQueue(path: box.vaultPath)
        defer { try? queue.close() }
        return try queue.read { db in
            let sql = { (table: String) in try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = ?", arguments: [table]) ?? "" }
            let hasColumn = try db.columns(in: "vault_meta").contains { $0.name == "last_entry_id" }
            return (try sql("entries"), try sql("versions"),
                    hasColumn ? try Int64.fetchOne(db, sql: "SELECT last_entry_id FROM vault_meta") : nil)
        }
    }

    @Test("a format-2 vault is upgraded once to rows clustered by bucket, keeping every value, label and the entry-id high-water mark")
    func upgradesFormat2() throws {
        let box = try Sandbox()
        try Self.copyFixture(box, from: Self.fixture2)
        let before = try Self.inspect(box)
        #expect(before.migrations == ["v1-vault-tables", "v2-manifest-over-version-rows"])
        #expect(try Self.layout(box).lastEntryID == nil)

        let vault = try box.open(Self.keyFile2)
        let after = try Self.inspect(box)
        #expect(after.migrations == Self.allMigrations)
        #expect(after.generation == before.generation + 1)
        let layout = try Self.layout(box)
        #expect(layout.entries.contains("PRIMARY KEY(bucket, entry_id)") && layout.entries.contains("WITHOUT ROWID"))
        #expect(layout.versions.contains("PRIMARY KEY(bucket, entry_id, version)") && layout.versions.contains("WITHOUT ROWID"))
        // The removed entry's id 301 was only in sqlite_sequence: the mark keeps it given out.
        #expect(layout.lastEntryID == 301)

        let report = try vault.verify()
        #expect(report.entries == 300 && report.versions == 303)
        #expect(try vault.get(name("app/001")).value == secret("token-v4"))
        #expect(try vault.get(name("app/001"), label: .previous).value == secret("token-v3"))
        #expect(try vault.get(name("app/001"), version: 1).value == secret("value-001"))
        #expect(try vault.get(name("app/300")).value == secret("value-300"))
        #expect(try vault.list().count == 300)
        #expect(try vault.history(name("app/001")).map(\.version) == [1, 2, 3, 4])

        // New entries never take a removed entry's id, before or after the upgrade.
        try vault.put(name("app/301"), secret("value-after-upgrade"))
        try vault.remove(name("app/301"))
        try vault.put(name("app/302"), secret("value-302"))
        let ids = try DatabaseQueue(path: box.vaultPath).read { db in
            try Int64.fetchAll(db, sql: "SELECT entry_id FROM entries WHERE entry_id > 300 ORDER BY entry_id")
        }
        #expect(ids == [303])
        #expect(try Self.layout(box).lastEntryID == 303)

        // A second open upgrades nothing and finds everything.
        let reopened = try box.open(Self.keyFile2)
        #expect(try Self.inspect(box).migrations == Self.allMigrations)
        #expect(try reopened.get(name("app/302")).value == secret("value-302"))
        #expect(try reopened.verify().entries == 301)
    }

    @Test("a tampered format-2 vault is refused and left as it was", arguments: [
        "UPDATE versions SET tag = zeroblob(16) WHERE entry_id = 1 AND version = 2",
        "DELETE FROM entries WHERE entry_id = 257",
        "UPDATE vault_meta SET generation = generation + 1",
        // What the manifest covers only through AEAD tags: every record is opened before the
        // upgrade, not only the ones a command reads.
        "UPDATE versions SET ciphertext = randomblob(length(ciphertext)) WHERE entry_id = 5",
        "UPDATE entries SET name_ciphertext = randomblob(length(name_ciphertext)) WHERE entry_id = 2",
        "UPDATE audit SET ciphertext = randomblob(length(ciphertext)) WHERE audit_id = 10",
        "DELETE FROM audit WHERE audit_id = 10",
        // No MAC covers format 2's entry-id mark: an implausible one is not sealed into format 3.
        "UPDATE sqlite_sequence SET seq = 9223372036854775807 WHERE name = 'entries'",
        "UPDATE sqlite_sequence SET seq = -1 WHERE name = 'entries'",
        "UPDATE sqlite_sequence SET seq = 'abc' WHERE name = 'entries'",
        "CREATE TRIGGER planted AFTER INSERT ON audit BEGIN DELETE FROM audit WHERE audit_id = 1; END",
    ])
    func tamperedFormat2(sql: String) throws {
        let box = try Sandbox()
        try Self.copyFixture(box, from: Self.fixture2)
        try box.tamper { db in try db.execute(sql: sql) }
        let error = expectVaultFailure(Comment(rawValue: sql)) { _ = try box.open(Self.keyFile2) }
        #expect(error?.code == .integrity)
        #expect(try Self.inspect(box).migrations == ["v1-vault-tables", "v2-manifest-over-version-rows"])
        #expect(try Self.layout(box).lastEntryID == nil)
    }

    @Test("several processes opening a format-2 vault at once: one upgrades it, every one opens, reads and writes",
          arguments: 0..<4)
    func concurrentUpgrade(round: Int) async throws {
        let box = try Sandbox()
        try Self.copyFixture(box, from: Self.fixture2)
        let options = box.options
        let path = box.vaultPath
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask {
                    try await offPool {
                        // Staggered, so that some open while another one is upgrading.
                        usleep(UInt32(index) * 4_000)
                        let vault = try Vault.open(at: path, keySource: Self.keyFile2, options: options)
                        if index % 4 == 3 {
                            _ = try vault.get(name("app/150"))
                        } else {
                            try vault.put(name("concurrent/\(index)"), secret("value-\(index)"))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let vault = try box.open(Self.keyFile2)
        #expect(try Self.inspect(box).migrations == Self.allMigrations)
        #expect(try vault.verify().entries == 306)
        #expect(try vault.list(prefix: "concurrent/").count == 6)
    }

    @Test("a format-3 vault passed off as format 2 (its migration record deleted) is refused")
    func downgradeRecord3() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        try vault.put(name("a"), secret("value-a"))
        try box.tamper { db in try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v3-rows-clustered-by-bucket'") }
        expectVaultFailure { _ = try box.open(source) }
    }
}

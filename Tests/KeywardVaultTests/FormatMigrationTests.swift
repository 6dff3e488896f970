import Foundation
import GRDB
import KeywardCore
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

    /// The fixture copied to the sandbox's vault path, mode 0600 in a 0700 directory.
    static func copyFixture(_ box: Sandbox) throws {
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

    @Test("a format-1 vault opens, is upgraded once, and keeps every entry, version and label")
    func upgradesFormat1() throws {
        let box = try Sandbox()
        try Self.copyFixture(box)
        let before = try Self.inspect(box)
        #expect(before.migrations == ["v1-vault-tables"])
        #expect(before.digestColumn)

        let vault = try box.open(Self.passphrase)
        let after = try Self.inspect(box)
        #expect(after.migrations == ["v1-vault-tables", "v2-manifest-over-version-rows"])
        #expect(!after.digestColumn)
        #expect(after.generation == before.generation + 1)
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
}

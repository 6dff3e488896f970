import Foundation
import GRDB
import KeywardCore
import KeywardTesting
import Testing

@testable import KeywardVault

/// File format 1, the only one: what a new vault records, and the refusal of a file that an
/// earlier, unreleased build made.
@Suite("File format")
struct FileFormatTests {
    /// Writes, at the sandbox's vault path (0600 in a 0700 directory), a SQLite file as the
    /// development builds before format 1 left it: Keyward's `application_id`, `user_version`
    /// 1 and their migration record. The tables do not matter: the record is read first.
    static func writeEarlierBuildFile(_ box: Sandbox, migrations: [String] = ["v1-vault-tables", "v2-manifest-over-version-rows"]) throws {
        try FileManager.default.createDirectory(
            atPath: box.root + "/data", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let queue = try DatabaseQueue(path: box.vaultPath)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: """
                PRAGMA journal_mode = WAL;
                PRAGMA application_id = \(VaultSchema.applicationID);
                PRAGMA user_version = 1;
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                CREATE TABLE vault_meta(id INTEGER PRIMARY KEY);
                """)
            for migration in migrations {
                try db.execute(sql: "INSERT INTO grdb_migrations(identifier) VALUES (?)", arguments: [migration])
            }
        }
        try queue.close()
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: box.vaultPath)
    }

    @Test("a new vault records format 1: one migration, user_version 1, Keyward's application_id")
    func newVaultIsFormatOne() throws {
        let box = try Sandbox()
        _ = try box.makeVault()
        let queue = try DatabaseQueue(path: box.vaultPath)
        defer { try? queue.close() }
        let (migrations, userVersion, applicationID) = try queue.read { db in
            (try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"),
             try Int32.fetchOne(db, sql: "PRAGMA user_version"),
             try Int32.fetchOne(db, sql: "PRAGMA application_id"))
        }
        #expect(migrations == ["format-1"])
        #expect(userVersion == 1)
        #expect(applicationID == 0x4B57_5631)
    }

    @Test("the schema the unlock expects, read from format 1's statements, is exactly what its migration creates")
    func declaredSchemaMatchesMigration() throws {
        let declared = VaultSchema.declaredObjects
        let migrated = try VaultSchema.migratedObjects(applied: 1)
        #expect(declared.map(\.name).sorted() == migrated.map(\.name).sorted())
        // grdb_migrations is compared by its columns only (GRDB writes its own text).
        #expect(declared.filter { $0.name != VaultSchema.migrationsTable } == migrated.filter { $0.name != VaultSchema.migrationsTable })
    }

    @Test("a vault made by an earlier build is refused (exit 4), naming the file and what to do, and left as it was",
          arguments: [["v1-vault-tables"], ["v1-vault-tables", "v2-manifest-over-version-rows", "v3-rows-clustered-by-bucket"]])
    func earlierBuildRefused(migrations: [String]) throws {
        let box = try Sandbox()
        try Self.writeEarlierBuildFile(box, migrations: migrations)
        let before = box.fileBytes(box.vaultPath)
        let error = expectVaultFailure { _ = try box.open(.keyFile(try box.keyFile())) }
        #expect(error?.code == .notAVault)
        #expect(error?.category == .vault)
        #expect(error?.message ==
            "\(box.vaultPath) was made by a development build of Keyward from before file format 1, which this version does not read; "
            + "move it aside, create a new vault with `keyward vault init`, and put its entries again "
            + "(`keyward login` and `keyward sync` fetch the provider secrets anew)")
        #expect(box.fileBytes(box.vaultPath) == before)
    }

    @Test("a file with a migration this build does not know is refused as a newer Keyward's")
    func unknownMigrationRefused() throws {
        let box = try Sandbox()
        let (_, source) = try box.makeVault()
        try box.tamper { db in try db.execute(sql: "INSERT INTO grdb_migrations(identifier) VALUES ('format-2')") }
        let error = expectVaultFailure { _ = try box.open(source) }
        #expect(error?.code == .notAVault)
        #expect(error?.message == "\(box.vaultPath) has schema migrations this build does not know (format-2); upgrade Keyward")
    }
}

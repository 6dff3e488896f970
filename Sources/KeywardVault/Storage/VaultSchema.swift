import Foundation
import GRDB

/// The vault's SQLite schema, file format 1: one named GRDB migration (`DatabaseMigrator`),
/// recorded in `grdb_migrations`. A later format appends migrations. A file whose migrations
/// this build does not know, whose `application_id` is not Keyward's, or that an earlier,
/// unreleased build made (its migration record starts with ``earlierBuildMigrations``) is
/// refused (exit 4).
enum VaultSchema {
    /// `PRAGMA application_id`: "KWV1".
    static let applicationID: Int32 = 0x4B57_5631
    /// `PRAGMA user_version`: the file format this build writes.
    static let formatVersion: Int32 = 1

    /// The highest entry id the vault gives out (2^48, far beyond any real vault): a higher
    /// high-water mark is refused.
    static let maxEntryID: Int64 = 1 << 48

    /// Manifest slots 0...255 hold the entry buckets; the others cover the rest of the file.
    static let entryBuckets = 256
    static let headerSlot = 256
    static let journalSlot = 257
    static let auditSlot = 258
    static let manifestSlots = 259

    /// The migration that creates format 1.
    static let formatOneMigration = "format-1"

    /// The first migration of the development builds made before format 1 (never released;
    /// their files are refused with what to do, not upgraded).
    static let earlierBuildMigrations: Set<String> = [
        "v1-vault-tables", "v2-manifest-over-version-rows", "v3-rows-clustered-by-bucket",
    ]

    /// The migrations, in order.
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        // `entries` and `versions` are keyed by manifest bucket first (`WITHOUT ROWID`), so one
        // bucket's entries and versions are each one contiguous range of pages: a write
        // recomputes a bucket from two range scans, and the unlock merges two scans in the
        // same order. `vault_meta.last_entry_id` is the highest entry id ever given out (so a
        // removed entry's id is never reused), and `audit_retention` how long audit rows and
        // closed journal entries are kept (seconds), both covered by the header digest.
        // `audit_checkpoint` holds at most one row: where the retained audit chain starts once
        // older rows were pruned (docs/vault.md, "Retention").
        migrator.registerMigration(formatOneMigration) { db in
            try db.execute(sql: """
                PRAGMA application_id = \(applicationID);
                PRAGMA user_version = \(formatVersion);
                """)
            try db.execute(sql: formatOneTables)
        }
        return migrator
    }

    /// The tables of format 1, as the migration creates them: SQLite keeps each `CREATE`
    /// statement's text, which the unlock compares (``declaredObjects``).
    static let formatOneTables = """
        CREATE TABLE vault_meta(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            vault_id BLOB NOT NULL,
            key_id INTEGER NOT NULL,
            retention INTEGER NOT NULL,
            generation INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            top_mac BLOB NOT NULL,
            last_entry_id INTEGER NOT NULL,
            audit_retention INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE key_slots(
            slot_id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            key_id INTEGER NOT NULL,
            kdf_t INTEGER NOT NULL,
            kdf_m_kib INTEGER NOT NULL,
            kdf_p INTEGER NOT NULL,
            salt BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            wrap_nonce BLOB NOT NULL,
            wrapped_key BLOB NOT NULL,
            wrap_tag BLOB NOT NULL
        ) STRICT;
        CREATE TABLE entries(
            bucket INTEGER NOT NULL,
            entry_id INTEGER NOT NULL UNIQUE,
            name_index BLOB NOT NULL UNIQUE,
            key_id INTEGER NOT NULL,
            name_nonce BLOB NOT NULL,
            name_ciphertext BLOB NOT NULL,
            name_tag BLOB NOT NULL,
            current_version INTEGER,
            previous_version INTEGER,
            pending_version INTEGER,
            next_version INTEGER NOT NULL,
            PRIMARY KEY(bucket, entry_id)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE versions(
            bucket INTEGER NOT NULL,
            entry_id INTEGER NOT NULL,
            version INTEGER NOT NULL,
            key_id INTEGER NOT NULL,
            alg INTEGER NOT NULL,
            nonce BLOB NOT NULL,
            ciphertext BLOB NOT NULL,
            tag BLOB NOT NULL,
            PRIMARY KEY(bucket, entry_id, version)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE manifest(
            slot INTEGER PRIMARY KEY,
            digest BLOB NOT NULL
        ) STRICT;
        CREATE TABLE journal(
            journal_id INTEGER PRIMARY KEY AUTOINCREMENT,
            key_id INTEGER NOT NULL,
            nonce BLOB NOT NULL,
            ciphertext BLOB NOT NULL,
            tag BLOB NOT NULL
        ) STRICT;
        CREATE TABLE audit(
            audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
            key_id INTEGER NOT NULL,
            nonce BLOB NOT NULL,
            ciphertext BLOB NOT NULL,
            tag BLOB NOT NULL
        ) STRICT;
        CREATE TABLE audit_checkpoint(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            first_id INTEGER NOT NULL,
            previous_tag BLOB NOT NULL,
            pruned_at INTEGER NOT NULL,
            key_id INTEGER NOT NULL,
            mac BLOB NOT NULL
        ) STRICT;
    """

    /// SQLite's page cache once the vault is open, in KiB (it fills only as pages are read).
    /// The default 2 MiB held a few hundred pages: at 100,000 entries each durable put's bucket
    /// recomputation (an entry and its versions for every 256th id, about 800 pages) re-read
    /// its pages with `pread` every time. Raised after the unlock, not before: the unlock reads
    /// every page once, in order, and filling a large cache with them cost more than recycling
    /// a small one. (A memory map was tried instead: with `cell_size_check` every page fetched
    /// through the map is checked again, which made random reads three times slower.)
    static let openCacheKiB = 64 * 1024

    /// Connection settings: WAL, synchronous=FULL (a commit survives power loss),
    /// secure_delete=ON (freed pages are zeroed), a busy timeout for concurrent processes.
    static func configuration(busyTimeout: TimeInterval) -> Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        // WAL is set here rather than with `configuration.journalMode = .wal`: for that, GRDB
        // creates and drops a table whenever the -wal file is absent (every open after the last
        // connection closed, i.e. every CLI command), a durable write with two fsyncs before
        // the vault is even unlocked. A DatabaseQueue does not need the -wal file to exist.
        configuration.foreignKeysEnabled = true
        configuration.label = "keyward-vault"
        configuration.prepareDatabase { db in
            let journalMode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            guard journalMode?.lowercased() == "wal" else {
                throw VaultError.io("SQLite cannot use WAL mode for the vault here (journal mode \(journalMode ?? "unknown"))")
            }
            try db.execute(sql: """
                PRAGMA synchronous = FULL;
                PRAGMA secure_delete = ON;
                PRAGMA temp_store = MEMORY;
                PRAGMA trusted_schema = OFF;
                PRAGMA cell_size_check = ON;
                """)
        }
        return configuration
    }

    /// Refuses a foreign file, a file of a newer format or with unknown migrations, and a file
    /// an earlier (unreleased) build made; checks the schema objects.
    /// - Throws: ``VaultError`` `.notAVault` / `.integrity` (exit 4), naming `path`.
    static func check(_ queue: DatabaseQueue, path: String) throws {
        let migrator = self.migrator()
        try queue.writeWithoutTransaction { db in
            // One read snapshot for the migration record and the schema objects.
            try db.inTransaction(.deferred) {
                try checkSnapshot(db, path: path, migrator: migrator)
                return .commit
            }
        }
    }

    private static func checkSnapshot(_ db: Database, path: String, migrator: DatabaseMigrator) throws {
        let applicationID = try Int32.fetchOne(db.cachedStatement(sql: "PRAGMA application_id")) ?? 0
        guard applicationID == self.applicationID else {
            throw VaultError(.notAVault, "\(path) is not a Keyward vault (SQLite application_id \(applicationID))")
        }
        guard try db.tableExists("grdb_migrations") else {
            throw VaultError(.notAVault, "\(path) has no migration record; refusing it")
        }
        let applied = try migrator.appliedIdentifiers(db)
        if !applied.isDisjoint(with: earlierBuildMigrations) {
            throw VaultError(
                .notAVault,
                "\(path) was made by a development build of Keyward from before file format 1, which this version does not read; "
                    + "move it aside, create a new vault with `keyward vault init`, and put its entries again "
                    + "(`keyward login` and `keyward sync` fetch the provider secrets anew)")
        }
        let userVersion = try Int32.fetchOne(db.cachedStatement(sql: "PRAGMA user_version")) ?? 0
        guard userVersion <= formatVersion else {
            throw VaultError(.notAVault, "\(path) was written by a newer Keyward (format \(userVersion)); this build reads format \(formatVersion)")
        }
        let known = Set(migrator.migrations)
        guard applied.isSubset(of: known) else {
            let unknown = applied.subtracting(known).sorted()
            throw VaultError(
                .notAVault,
                "\(path) has schema migrations this build does not know (\(unknown.joined(separator: ", "))); upgrade Keyward")
        }
        // Migrations apply in order, so the record is always the first k of them: a gap means
        // the record was edited (a later format passed off as an earlier one, say).
        let expected = Set(migrator.migrations.prefix(applied.count))
        guard let first = migrator.migrations.first, applied.contains(first) else {
            throw VaultError(.notAVault, "\(path) lacks the record of its first schema migration; refusing it")
        }
        guard applied == expected else {
            let missing = migrator.migrations.filter { expected.contains($0) && !applied.contains($0) }
            throw VaultError(
                .integrity,
                "\(path): the record of schema migration \(missing.joined(separator: ", ")) is missing before later ones; refusing it")
        }
        guard applied.count == migrator.migrations.count else {
            throw VaultError(.notAVault, "\(path) is of an older file format than this build writes; refusing it")
        }
        try checkObjects(db, path: path, applied: applied.count)
    }

    /// One row of `sqlite_master`, as compared with what the migrations create.
    struct SchemaObject: Hashable, Sendable {
        var type: String
        var name: String
        var table: String
        /// The `CREATE` statement with quotes dropped and white space collapsed (SQLite keeps
        /// the text as written, and rewrites it on `ALTER TABLE`); nil for automatic indexes.
        var sql: String?

        init(type: String, name: String, table: String, sql: String?) {
            self.type = type
            self.name = name
            self.table = table
            self.sql = sql.map(Self.normalized)
        }

        /// Quotes dropped, runs of white space (space, tab, CR, LF) made one space, none at
        /// either end: over the UTF-8 bytes (Foundation's string search took a good part of
        /// the unlock's schema check).
        static func normalized(_ sql: String) -> String {
            var out = [UInt8]()
            out.reserveCapacity(sql.utf8.count)
            var pendingSpace = false
            for byte in sql.utf8 {
                switch byte {
                case UInt8(ascii: "\""):
                    continue
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0B, 0x0C:
                    pendingSpace = !out.isEmpty
                default:
                    if pendingSpace { out.append(UInt8(ascii: " ")) }
                    pendingSpace = false
                    out.append(byte)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// GRDB creates its migrations table itself (its text may change between GRDB releases):
    /// only its columns are compared.
    static let migrationsTable = "grdb_migrations"

    /// The schema a file holds after the first `applied` migrations: built by running them
    /// on an empty in-memory database, once per process and count.
    static func expectedObjects(applied: Int) throws -> Set<SchemaObject> {
        // Format 1, the only one: read from its statements, without building a database
        // (the in-memory run below cost about half a millisecond of every unlock). A test
        // checks that the two agree.
        if applied == 1 { return declaredObjects }
        return try migratedObjects(applied: applied)
    }

    /// What format 1's statements declare, plus what SQLite and GRDB add by themselves:
    /// `sqlite_sequence` (for the AUTOINCREMENT tables), the automatic indexes of `entries`'
    /// two UNIQUE columns, and GRDB's migration record with its primary key's index.
    static let declaredObjects: Set<SchemaObject> = {
        var objects = Set<SchemaObject>()
        for statement in formatOneTables.split(separator: ";") {
            let text = statement.trimmingCharacters(in: .whitespacesAndNewlines)
            guard text.hasPrefix("CREATE TABLE "), let open = text.firstIndex(of: "(") else { continue }
            let name = text[text.index(text.startIndex, offsetBy: "CREATE TABLE ".count)..<open].trimmingCharacters(in: .whitespaces)
            objects.insert(SchemaObject(type: "table", name: name, table: name, sql: text))
        }
        objects.insert(SchemaObject(type: "table", name: "sqlite_sequence", table: "sqlite_sequence", sql: "CREATE TABLE sqlite_sequence(name,seq)"))
        objects.insert(SchemaObject(type: "index", name: "sqlite_autoindex_entries_1", table: "entries", sql: nil))
        objects.insert(SchemaObject(type: "index", name: "sqlite_autoindex_entries_2", table: "entries", sql: nil))
        objects.insert(SchemaObject(type: "table", name: migrationsTable, table: migrationsTable, sql: nil))
        objects.insert(SchemaObject(type: "index", name: "sqlite_autoindex_grdb_migrations_1", table: migrationsTable, sql: nil))
        return objects
    }()

    /// The schema a file holds after the first `applied` migrations, by running them on an
    /// empty in-memory database (once per process and count).
    static func migratedObjects(applied: Int) throws -> Set<SchemaObject> {
        if let known = expectedObjectsCache.withLock({ $0[applied] }) { return known }
        let migrator = self.migrator()
        let queue = try DatabaseQueue()
        try migrator.migrate(queue, upTo: migrator.migrations[applied - 1])
        let created = try queue.read { db in try Self.objects(db) }
        expectedObjectsCache.withLock { $0[applied] = created }
        return created
    }

    private static let expectedObjectsCache = LockedValue<[Int: Set<SchemaObject>]>([:])

    static func objects(_ db: Database) throws -> Set<SchemaObject> {
        Set(try Row.fetchAll(db, sql: "SELECT type, name, tbl_name, sql FROM sqlite_master").map { row in
            SchemaObject(type: row[0] ?? "", name: row[1] ?? "", table: row[2] ?? "", sql: row[3] as String?)
        })
    }

    /// Refuses a file whose schema is not exactly the one its recorded migrations create:
    /// a trigger (which could rewrite rows as Keyward writes them), a view, another table or
    /// index, a missing table, or a table with a column or constraint added, removed or changed
    /// (a `CHECK` that silently refuses later writes, say). No MAC covers the schema, so it is
    /// compared, object by object, with what the migrations create.
    /// - Throws: ``VaultError`` `.integrity` (exit 4) naming the object.
    static func checkObjects(_ db: Database, path: String, applied: Int) throws {
        let expected = try expectedObjects(applied: applied)
        let found = try Self.objects(db)
        let expectedByName = Dictionary(expected.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for object in found.sorted(by: { $0.name < $1.name }) {
            guard let wanted = expectedByName[object.name], wanted.type == object.type, wanted.table == object.table else {
                throw VaultError.integrity("\(path) holds a \(object.type) `\(object.name)` that Keyward does not create; refusing the file")
            }
            if object.name == migrationsTable {
                guard try db.columns(in: migrationsTable).map(\.name) == ["identifier"] else {
                    throw VaultError.integrity("\(path): the \(object.type) `\(object.name)` was changed; refusing the file")
                }
                continue
            }
            guard wanted.sql == object.sql else {
                throw VaultError.integrity(
                    "\(path): the \(object.type) `\(object.name)` is not as Keyward creates it (a column or constraint was added, removed or changed); refusing the file")
            }
        }
        let foundNames = Set(found.map(\.name))
        if let missing = expected.filter({ !foundNames.contains($0.name) }).sorted(by: { $0.name < $1.name }).first {
            throw VaultError.integrity("\(path): the \(missing.type) `\(missing.name)` is missing; refusing the file")
        }
    }
}

import Foundation
import GRDB

/// The vault's SQLite schema: named, ordered, append-only migrations (GRDB's
/// `DatabaseMigrator`), recorded in `grdb_migrations`. A file whose migrations this build does
/// not know, or whose `application_id` is not Keyward's, is refused.
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

    /// The migration that replaced per-entry digests with version rows MACed straight into the
    /// manifest buckets (format 2 of the manifest).
    static let versionRowsMigration = "v2-manifest-over-version-rows"

    /// The migration that stores `entries` and `versions` clustered by manifest bucket and
    /// keeps the entry-id high-water mark in `vault_meta` (format 3 of the manifest).
    static let clusteredRowsMigration = "v3-rows-clustered-by-bucket"

    /// The migrations, in order. `rewriteManifest(db, from, to)` runs inside the transaction of
    /// each migration that changes what the manifest covers, when the file already holds a vault
    /// (it needs the unlocked keys, so those migrations run after the unlock): it checks the
    /// stored manifest in format `from` and rewrites it in format `to`. A new file has nothing to
    /// rewrite.
    static func migrator(
        rewriteManifest: (@Sendable (Database, ManifestFormat, ManifestFormat) throws -> Void)? = nil
    ) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-vault-tables") { db in
            try db.execute(sql: """
                PRAGMA application_id = \(applicationID);
                PRAGMA user_version = \(formatVersion);
                CREATE TABLE vault_meta(
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    vault_id BLOB NOT NULL,
                    key_id INTEGER NOT NULL,
                    retention INTEGER NOT NULL,
                    generation INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    top_mac BLOB NOT NULL
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
                    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name_index BLOB NOT NULL UNIQUE,
                    bucket INTEGER NOT NULL,
                    key_id INTEGER NOT NULL,
                    name_nonce BLOB NOT NULL,
                    name_ciphertext BLOB NOT NULL,
                    name_tag BLOB NOT NULL,
                    current_version INTEGER,
                    previous_version INTEGER,
                    pending_version INTEGER,
                    next_version INTEGER NOT NULL,
                    digest BLOB NOT NULL
                ) STRICT;
                CREATE INDEX entries_by_bucket ON entries(bucket, entry_id, digest);
                CREATE TABLE versions(
                    entry_id INTEGER NOT NULL REFERENCES entries(entry_id) ON DELETE CASCADE,
                    version INTEGER NOT NULL,
                    key_id INTEGER NOT NULL,
                    alg INTEGER NOT NULL,
                    nonce BLOB NOT NULL,
                    ciphertext BLOB NOT NULL,
                    tag BLOB NOT NULL,
                    PRIMARY KEY(entry_id, version)
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
                """)
        }
        // Format 2: no per-entry digest (its column and its place in the bucket index go); the
        // buckets MAC entry and version rows directly, so the unlock scans each table once and
        // computes 256 MACs instead of one per entry, and a put runs no digest statements.
        migrator.registerMigration(versionRowsMigration) { db in
            try db.execute(sql: """
                DROP INDEX entries_by_bucket;
                ALTER TABLE entries DROP COLUMN digest;
                CREATE INDEX entries_by_bucket ON entries(bucket, entry_id);
                """)
            try rewrite(db, from: .entryDigests, to: .versionRows, with: rewriteManifest)
        }
        // Format 3: both tables keyed by bucket first (`WITHOUT ROWID`), so one bucket's entries
        // and versions are each one contiguous range of pages: a write recomputes its bucket
        // from two range scans instead of a B-tree search per entry and per version (about 800
        // at 100,000 entries), and the unlock merges two scans in the same order. Entry ids
        // are no longer a rowid with AUTOINCREMENT, so the high-water mark that keeps a
        // removed entry's id from being reused moves from `sqlite_sequence` (which no MAC
        // covered) to `vault_meta.last_entry_id`, covered by the header digest. `versions`
        // loses its foreign key: it had no index that starts with `entry_id` any more, and
        // the vault deletes an entry's versions itself (an orphan fails the manifest check).
        migrator.registerMigration(clusteredRowsMigration) { db in
            // No MAC covered sqlite_sequence: only a plausible mark is carried over (and sealed).
            if let mark = try Row.fetchOne(db, sql: "SELECT seq, typeof(seq) FROM sqlite_sequence WHERE name = 'entries'") {
                let seq: Int64? = mark[1] == "integer" ? mark[0] : nil
                guard let seq, (0...maxEntryID).contains(seq) else {
                    throw VaultError.integrity("the entry-id mark in sqlite_sequence is not a plausible entry id; refusing to upgrade the vault")
                }
            }
            try db.execute(sql: """
                CREATE TABLE entries_clustered(
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
                INSERT INTO entries_clustered(bucket, entry_id, name_index, key_id, name_nonce, name_ciphertext, name_tag,
                                              current_version, previous_version, pending_version, next_version)
                    SELECT bucket, entry_id, name_index, key_id, name_nonce, name_ciphertext, name_tag,
                           current_version, previous_version, pending_version, next_version
                    FROM entries ORDER BY bucket, entry_id;
                CREATE TABLE versions_clustered(
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
                INSERT INTO versions_clustered(bucket, entry_id, version, key_id, alg, nonce, ciphertext, tag)
                    SELECT entry_id & 255, entry_id, version, key_id, alg, nonce, ciphertext, tag
                    FROM versions ORDER BY entry_id & 255, entry_id, version;
                ALTER TABLE vault_meta ADD COLUMN last_entry_id INTEGER NOT NULL DEFAULT 0;
                UPDATE vault_meta SET last_entry_id = max(
                    coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'entries'), 0),
                    coalesce((SELECT MAX(entry_id) FROM entries), 0));
                DROP TABLE versions;
                DROP TABLE entries;
                ALTER TABLE entries_clustered RENAME TO entries;
                ALTER TABLE versions_clustered RENAME TO versions;
                """)
            try rewrite(db, from: .versionRows, to: .clusteredRows, with: rewriteManifest)
        }
        return migrator
    }

    /// Inside a migration: rewrites the manifest of a file that already holds a vault.
    private static func rewrite(_ db: Database, from: ManifestFormat, to: ManifestFormat,
                                with rewriteManifest: (@Sendable (Database, ManifestFormat, ManifestFormat) throws -> Void)?) throws {
        guard try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM vault_meta") != 0 else { return }
        guard let rewriteManifest else {
            throw VaultError(.notAVault, "the vault's manifest must be rewritten after it is unlocked")
        }
        try rewriteManifest(db, from, to)
    }

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

    /// Refuses a foreign file, a newer format, or unknown migrations; returns the manifest
    /// format of the file. Pending migrations run after the unlock (``Vault`` `upgradeFormat`):
    /// the only one there is rewrites the manifest, which needs the keys.
    static func check(_ queue: DatabaseQueue, path: String) throws -> ManifestFormat {
        let migrator = self.migrator()
        return try queue.writeWithoutTransaction { db -> ManifestFormat in
            // One read snapshot for the migration record and the schema objects: another process
            // upgrading the file meanwhile is seen wholly or not at all (read in two implicit
            // transactions, the record of the old format met the new format's tables).
            var format = ManifestFormat.current
            try db.inTransaction(.deferred) {
                format = try checkSnapshot(db, path: path, migrator: migrator)
                return .commit
            }
            return format
        }
    }

    private static func checkSnapshot(_ db: Database, path: String, migrator: DatabaseMigrator) throws -> ManifestFormat {
        let applicationID = try Int32.fetchOne(db.cachedStatement(sql: "PRAGMA application_id")) ?? 0
        guard applicationID == self.applicationID else {
            throw VaultError(.notAVault, "\(path) is not a Keyward vault (SQLite application_id \(applicationID))")
        }
        let userVersion = try Int32.fetchOne(db.cachedStatement(sql: "PRAGMA user_version")) ?? 0
        guard userVersion <= formatVersion else {
            throw VaultError(.notAVault, "\(path) was written by a newer Keyward (format \(userVersion)); this build reads format \(formatVersion)")
        }
        guard try db.tableExists("grdb_migrations") else {
            throw VaultError(.notAVault, "\(path) has no migration record; refusing it")
        }
        if try migrator.hasBeenSuperseded(db) {
            let unknown = try migrator.appliedIdentifiers(db).subtracting(migrator.migrations).sorted()
            throw VaultError(
                .notAVault,
                "\(path) has schema migrations this build does not know (\(unknown.joined(separator: ", "))); upgrade Keyward")
        }
        let applied = try migrator.appliedIdentifiers(db)
        guard let first = migrator.migrations.first, applied.contains(first) else {
            throw VaultError(.notAVault, "\(path) lacks the record of its first schema migration; refusing it")
        }
        let known = Set(migrator.migrations)
        if !applied.isSubset(of: known) {
            throw VaultError(.notAVault, "\(path) has schema migrations this build does not know; upgrade Keyward")
        }
        // Migrations apply in order, so the record is always the first k of them: a gap means
        // the record was edited (a later format passed off as an earlier one, say).
        let expected = Set(migrator.migrations.prefix(applied.count))
        guard applied == expected else {
            let missing = migrator.migrations.filter { expected.contains($0) && !applied.contains($0) }
            throw VaultError(
                .integrity,
                "\(path): the record of schema migration \(missing.joined(separator: ", ")) is missing before later ones; refusing it")
        }
        try checkObjects(db, path: path, applied: applied.count)
        // Every open of an up-to-date file (every CLI command) skips the migrator's own checks
        // and its CREATE TABLE IF NOT EXISTS, which wrote and synced the WAL before the unlock.
        return format(applied: applied)
    }

    /// The manifest format of the file as `db` sees it now: another process may have upgraded
    /// it since ``check(_:path:)`` (the unlock's full check reads it again in its own
    /// transaction).
    static func format(_ db: Database) throws -> ManifestFormat {
        format(applied: Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")))
    }

    private static func format(applied: Set<String>) -> ManifestFormat {
        if applied.contains(clusteredRowsMigration) { return .clusteredRows }
        return applied.contains(versionRowsMigration) ? .versionRows : .entryDigests
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

        static func normalized(_ sql: String) -> String {
            sql.replacingOccurrences(of: "\"", with: "").split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        }
    }

    /// GRDB creates its migrations table itself (its text may change between GRDB releases):
    /// only its columns are compared.
    static let migrationsTable = "grdb_migrations"

    /// The schema a file holds after the first `applied` migrations: built by running them
    /// on an empty in-memory database, once per process and count.
    static func expectedObjects(applied: Int) throws -> Set<SchemaObject> {
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

/// How the manifest's entry buckets are computed.
enum ManifestFormat: Sendable {
    /// Migration `v1-vault-tables`: a digest per entry, buckets over the digests.
    case entryDigests
    /// Migration `v2-manifest-over-version-rows`: buckets over the entry and version rows.
    case versionRows
    /// Migration `v3-rows-clustered-by-bucket`: the same buckets over the same row fields,
    /// both tables keyed by bucket first, and the header digest covers `last_entry_id`.
    case clusteredRows

    static let current = ManifestFormat.clusteredRows
}

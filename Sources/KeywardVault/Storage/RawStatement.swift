import GRDB
internal import GRDBSQLite

/// A statement from GRDB's per-connection cache, driven through SQLite's C API: the write path
/// and the manifest run these thousands of times per transaction, where building a `Row` and
/// `StatementArguments` per call cost more than the SQL itself. Blobs are bound with
/// `SQLITE_TRANSIENT` (SQLite copies them before `bind` returns). Every use ends with
/// ``reset()``, which also clears the bindings, so no bound value outlives the call.
struct RawStatement {
    let raw: OpaquePointer
    private let db: Database

    init(_ db: Database, _ sql: String) throws {
        self.db = db
        raw = try db.cachedStatement(sql: sql).sqliteStatement
        // GRDB may have left this cached statement mid-step (after a `fetchOne`).
        sqlite3_reset(raw)
    }

    func bind(_ index: Int32, _ value: Int64) throws {
        try check(sqlite3_bind_int64(raw, index, value))
    }

    func bind(_ index: Int32, _ value: Int64?) throws {
        if let value { try bind(index, value) } else { try check(sqlite3_bind_null(raw, index)) }
    }

    func bind(_ index: Int32, _ bytes: [UInt8]) throws {
        // A zero-length blob, not NULL, for an empty array (the columns are NOT NULL).
        guard !bytes.isEmpty else { return try check(sqlite3_bind_zeroblob(raw, index, 0)) }
        try check(bytes.withUnsafeBytes { sqlite3_bind_blob(raw, index, $0.baseAddress, Int32($0.count), sqliteTransient) })
    }

    /// Steps once: `true` for a row, `false` when done.
    func step() throws -> Bool {
        switch sqlite3_step(raw) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code: throw error(code)
        }
    }

    /// Runs a statement that returns no rows, then resets it.
    func run() throws {
        defer { reset() }
        _ = try step()
    }

    func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    private func check(_ code: Int32) throws {
        guard code == SQLITE_OK else { throw error(code) }
    }

    private func error(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }
}

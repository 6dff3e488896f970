import Foundation

/// The audit log: one entry per operation that read or changed a secret (DESIGN.md,
/// "Commands", `keyward audit`). Entries name entities and txnIds, never values. The vault
/// implements it.
public protocol AuditLog: Sendable {
    /// Appends `entry`. Durable when this returns.
    func record(_ entry: AuditEntry) async throws
    /// Appends `entries` in order; a log that can should make it one durable write.
    func record(_ entries: [AuditEntry]) async throws
    /// Entries at or after `since` (UTC), oldest first; all of them for `nil`.
    func entries(since: Date?) async throws -> [AuditEntry]
    /// Per entity of `entities`, the newest entry whose ``AuditEntry/entity`` is exactly that
    /// entity and for which `matches` holds (`keyward status`'s last sync). A log that can
    /// reads from its newest entry back and stops once every entity has one, so the cost
    /// does not grow with the log.
    func latestEntries(for entities: Set<String>, where matches: @escaping @Sendable (AuditEntry) -> Bool) async throws -> [String: AuditEntry]
}

extension AuditLog {
    public func record(_ entries: [AuditEntry]) async throws {
        for entry in entries { try await record(entry) }
    }

    /// Reads every entry (``entries(since:)``) and keeps the newest match per entity.
    public func latestEntries(for entities: Set<String>, where matches: @escaping @Sendable (AuditEntry) -> Bool) async throws -> [String: AuditEntry] {
        var latest: [String: AuditEntry] = [:]
        for entry in try await entries(since: nil) {
            if let entity = entry.entity, entities.contains(entity), matches(entry) { latest[entity] = entry }
        }
        return latest
    }
}

/// One audit row.
public struct AuditEntry: Sendable, Codable, Equatable {
    /// When it happened (UTC).
    public var time: Date
    /// `sync`, `token`, `export`, `login`, `vault get`, …
    public var operation: String
    /// The entity concerned, if any. A row for an operation on several entities (`export`,
    /// `exec`) lists them all, joined by ``entitySeparator``; ``entities`` splits them again.
    public var entity: String?
    /// `ok`, `unchanged`, `failed`, `skipped`, …
    public var outcome: String
    /// The token service's txnId of the call concerned, if any.
    public var txnId: String?

    public init(time: Date, operation: String, entity: String? = nil, outcome: String, txnId: String? = nil) {
        self.time = time
        self.operation = operation
        self.entity = entity
        self.outcome = outcome
        self.txnId = txnId
    }

    /// One row for an operation on all of `entities` (in order): its entity field lists them.
    public init(time: Date, operation: String, entities: [String], outcome: String, txnId: String? = nil) {
        self.init(time: time, operation: operation, entity: entities.isEmpty ? nil : entities.joined(separator: AuditEntry.entitySeparator),
                  outcome: outcome, txnId: txnId)
    }

    /// Joins the ids of a row for several entities; no entity id contains it (``EntityID``).
    public static let entitySeparator = ","

    /// The entities the row concerns: the one named, or each of a list; empty for none.
    public var entities: [String] {
        guard let entity else { return [] }
        return entity.split(separator: Character(AuditEntry.entitySeparator), omittingEmptySubsequences: false).map(String.init)
    }
}

/// Everything the engine needs from the vault, handed to it whole (no downcasts): the store,
/// fingerprints, the audit log, the rotation journal, the rotation coordinator (the vault's
/// file lock; a shared store's lease may replace it, see ``Dispatcher/with(vault:coordinator:)``),
/// the token mint locks and the sinks' hook ledger.
public typealias VaultServices = SecretStore & Fingerprinter & AuditLog & RotationJournal & RotationCoordinator & MintCoordinator & HookLedger

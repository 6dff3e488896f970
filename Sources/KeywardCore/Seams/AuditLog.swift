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
}

extension AuditLog {
    public func record(_ entries: [AuditEntry]) async throws {
        for entry in entries { try await record(entry) }
    }
}

/// One audit row.
public struct AuditEntry: Sendable, Codable, Equatable {
    /// When it happened (UTC).
    public var time: Date
    /// `sync`, `token`, `export`, `login`, `vault get`, …
    public var operation: String
    /// The entity concerned, if any.
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
}

/// Everything the engine needs from the vault.
public typealias VaultServices = SecretStore & Fingerprinter & AuditLog

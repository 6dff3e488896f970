import Foundation
import KeywardCore
import Logging

/// One audit log row: time, operation, entity, outcome, txnId. Never a value.
public struct VaultAuditEvent: Sendable, Equatable {
    /// The row's id once stored; `nil` for an event to append.
    public var id: Int64?
    public var time: Date
    /// `vault get`, `sync`, `rotate`, `export`, …
    public var operation: String
    public var entity: String?
    /// `ok`, `failed`, `unchanged`, …
    public var outcome: String
    public var txnId: String?

    public init(id: Int64? = nil, time: Date, operation: String, entity: String? = nil, outcome: String, txnId: String? = nil) {
        self.id = id
        self.time = time
        self.operation = operation
        self.entity = entity
        self.outcome = outcome
        self.txnId = txnId
    }
}

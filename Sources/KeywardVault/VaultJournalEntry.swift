import Foundation
import KeywardCore
import Logging

/// The state of a rotation journal entry (DESIGN.md, "Rotation", item 7):
/// `pending` → `sent` → `stored` → `done`, or `aborted`.
public enum VaultJournalState: String, Sendable, Codable, CaseIterable {
    case pending, sent, stored, done, aborted

    /// `true` for `done` and `aborted`.
    public var isClosed: Bool { self == .done || self == .aborted }

    /// Whether moving from `self` to `next` follows the state machine.
    public func canAdvance(to next: VaultJournalState) -> Bool {
        switch (self, next) {
        case (.pending, .sent), (.pending, .stored), (.sent, .stored), (.stored, .done): true
        case (.pending, .aborted), (.sent, .aborted), (.stored, .aborted): true
        case (.pending, .done), (.sent, .done): true  // recovery may find nothing to store
        default: false
        }
    }
}

/// One rotation journal entry.
public struct VaultJournalEntry: Sendable, Equatable {
    public var id: Int64
    public var entity: EntityID
    public var txnId: String?
    public var state: VaultJournalState
    public var createdAt: Date
    public var updatedAt: Date
}

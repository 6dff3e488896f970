import Foundation

/// The state of a rotation journal entry (DESIGN.md, "Rotation: a crash-safe state machine",
/// item 7): `pending` → `sent` → `stored` → `done`, or `aborted`.
public enum RotationJournalState: String, Sendable, Codable, CaseIterable {
    /// The intent is committed; reset not called yet.
    case pending
    /// The reset request is about to go, or went, out: its outcome may be unknown.
    case sent
    /// The new secret is in the vault as the `pending` version.
    case stored
    /// Finished: the vault follows the service.
    case done
    /// The service certainly did not act (400, 401, 429).
    case aborted

    /// `true` for `done` and `aborted`.
    public var isClosed: Bool { self == .done || self == .aborted }
}

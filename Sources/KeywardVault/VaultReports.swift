import Foundation
import KeywardCore
import Logging

/// What `verify` checked.
public struct VaultVerifyReport: Sendable, Equatable {
    public var generation: Int64
    /// When the vault was last written (UTC).
    public var updatedAt: Date
    public var entries: Int
    public var versions: Int
    public var keySlots: Int
    public var journalEntries: Int
    public var auditEvents: Int
}

/// What `acceptRestore` found and re-anchored.
public struct VaultRestoreInfo: Sendable, Equatable {
    /// The generation and last-write time of the file as restored.
    public var fileGeneration: Int64
    public var fileUpdatedAt: Date
    /// What the anchor on this machine held before, if there was one.
    public var anchorGeneration: Int64?
    public var anchorUpdatedAt: Date?
}

/// What `rekey` did.
public struct VaultRekeyReport: Sendable, Equatable {
    /// The new data key's id.
    public var keyID: Int
    /// Versions re-sealed under the new key.
    public var versionsResealed: Int
    /// Slots that wrap the new key.
    public var slotsRewrapped: [Int]
    /// Slots removed because no key source given could open them.
    public var slotsRemoved: [Int]
}

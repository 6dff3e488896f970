import Foundation
import KeywardCore
import Logging

/// An unlock slot: one way to open the data key.
public struct VaultKeySlot: Sendable, Equatable {
    public var id: Int
    /// `passphrase` or `key-file`.
    public var kind: String
    public var createdAt: Date
    /// For passphrase slots, the Argon2id parameters (`t=3, m=65536 KiB, p=2`).
    public var kdf: String?
    /// `true` for the slot this process unlocked with.
    public var unlockedThisSession: Bool
}

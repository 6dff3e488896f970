import Foundation
import KeywardCore
import Logging

/// Metadata sealed with each version of an entry.
public struct VaultRecordMetadata: Sendable, Equatable {
    /// When the value was created (UTC); `nil` means now by the vault's clock.
    public var createdAt: Date?
    /// When the value stops working (UTC), if it expires.
    public var expiresAt: Date?
    /// Where the value came from (`user` for `vault put`, a provider name, `login`).
    public var source: String
    /// The token service's `txnId` of the call that produced it.
    public var txnId: String?

    public init(createdAt: Date? = nil, expiresAt: Date? = nil, source: String = "user", txnId: String? = nil) {
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.source = source
        self.txnId = txnId
    }
}

import Foundation
import KeywardCore
import Logging

/// One version of an entry as `history` shows it: never the value, only its fingerprint.
public struct VaultVersionInfo: Sendable, Equatable {
    public var version: Int
    /// The labels this version carries (at most one of each across the entry).
    public var labels: [VersionLabel]
    public var createdAt: Date
    public var expiresAt: Date?
    public var source: String
    public var txnId: String?
    /// Keyed HMAC of the value, first 8 hex digits.
    public var fingerprint: String
    /// The value's length in bytes.
    public var byteCount: Int
}

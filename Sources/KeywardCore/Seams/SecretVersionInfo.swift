import Foundation

/// One version of a store entry as `vault history` shows it: never the value, only its
/// fingerprint and length (DESIGN.md, "Commands").
public struct SecretVersionInfo: Sendable, Equatable {
    /// The version number, counting from 1.
    public var version: Int
    /// The labels this version carries (at most one of each across the entry).
    public var labels: [VersionLabel]
    /// When the version was stored (UTC).
    public var createdAt: Date
    /// When the secret stops working (UTC), or `nil` for none.
    public var expiresAt: Date?
    /// Where the value came from (``SecretRecord/source``).
    public var source: String
    /// The token service's `txnId` of the call that produced the value, if any.
    public var txnId: String?
    /// The store's fingerprint of the value (``Fingerprinter``): 8 hex digits.
    public var fingerprint: String
    /// The value's length in bytes.
    public var byteCount: Int

    public init(version: Int, labels: [VersionLabel], createdAt: Date, expiresAt: Date?, source: String, txnId: String?,
                fingerprint: String, byteCount: Int) {
        self.version = version
        self.labels = labels
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.source = source
        self.txnId = txnId
        self.fingerprint = fingerprint
        self.byteCount = byteCount
    }
}

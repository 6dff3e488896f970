import Foundation

/// One version of a secret as Keyward knows it: the value and where and when it came from.
public struct SecretRecord: Sendable, Equatable, CustomStringConvertible {
    /// The secret's bytes.
    public var value: SecretValue
    /// The version number in the store, counting from 1; `0` for a record not stored yet.
    public var version: Int
    /// When this version was created (UTC).
    public var createdAt: Date
    /// When the secret stops working (UTC), or `nil` for a secret without expiry (contract:
    /// `expiresOn` absent, `null` or `0`).
    public var expiresAt: Date?
    /// Where the value came from: a provider name (`uat`), `login`, `user` (vault put), …
    public var source: String
    /// The token service's `txnId` of the call that produced the value, if any.
    public var txnId: String?
    /// The label of this version in the store, if any.
    public var label: VersionLabel?

    public init(
        value: SecretValue, version: Int = 0, createdAt: Date, expiresAt: Date? = nil,
        source: String, txnId: String? = nil, label: VersionLabel? = nil
    ) {
        self.value = value
        self.version = version
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.source = source
        self.txnId = txnId
        self.label = label
    }

    /// Appended to ``source`` for a secret that a reset by Keyward created, whose lifetime
    /// (`expiresAt - createdAt`) is therefore exact (see ``RotationDecision``).
    public static let resetSourceSuffix = " (reset)"

    /// Whether a reset by Keyward created this secret.
    public var createdByReset: Bool { source.hasSuffix(Self.resetSourceSuffix) }

    /// Marks the record as created by a reset by Keyward.
    public mutating func markCreatedByReset() {
        if !createdByReset { source += Self.resetSourceSuffix }
    }

    public var description: String {
        "SecretRecord(version: \(version), label: \(label?.rawValue ?? "none"), source: \(source), value: <redacted>)"
    }
}

/// The labels that rotation moves between versions of one entry (DESIGN.md, "Rotation").
public enum VersionLabel: String, Sendable, Codable, CaseIterable {
    /// The version in use.
    case current
    /// The version that was current before the last rotation.
    case previous
    /// A version obtained by a reset that has not been tested and promoted yet.
    case pending
}

import Foundation

/// What a provider returns: the record and the notices that came with it.
public struct ProvidedSecret: Sendable {
    /// The value and its metadata (`version` is 0: the record is not stored yet).
    public var record: SecretRecord
    /// Human-readable notices from the service (its `message` field, a shortened validity …).
    /// Surfaced to the user, never parsed.
    public var warnings: [String]

    public init(record: SecretRecord, warnings: [String] = []) {
        self.record = record
        self.warnings = warnings
    }
}

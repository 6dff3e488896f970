import Foundation

/// Keyward's durable, versioned store of secrets; the encrypted vault implements it.
///
/// Every entry is a ``SecretName`` with numbered versions. At most one version of an entry
/// carries each ``VersionLabel``. A store is also a provider of the values it holds, and the
/// engine resolves `vault:` references in the configuration through it.
public protocol SecretStore: Sendable {
    /// The version of `name` that carries `label`, or `nil` when the entry or label is absent.
    func read(_ name: SecretName, label: VersionLabel, context: OperationContext) async throws -> SecretRecord?

    /// Stores `record` as a new version of `name` and moves `label` to it (for ``VersionLabel/current``
    /// the version that was current becomes ``VersionLabel/previous``). Returns the record as
    /// stored, with its version number. The write is durable when this returns.
    func write(_ name: SecretName, record: SecretRecord, label: VersionLabel, context: OperationContext) async throws -> SecretRecord

    /// Records a new expiry for the version of `name` that carries `label`, keeping its bytes,
    /// creation time and source: the service changed a secret's expiry without changing the
    /// secret, and the store follows. `txnId` (when not `nil`) replaces the
    /// version's. A store that can amends in place (same version number); the default stores a
    /// new version with the same bytes. Returns the record as stored. Durable when this returns.
    func amend(_ name: SecretName, label: VersionLabel, expiresAt: Date?, txnId: String?, context: OperationContext) async throws -> SecretRecord

    /// The version of each of `names` that carries `label` (`nil` where absent), in order; a
    /// store that can should make it one round trip.
    func read(_ names: [SecretName], label: VersionLabel, context: OperationContext) async throws -> [SecretRecord?]

    /// The names of all entries whose name starts with `prefix` (all entries for `""`), sorted.
    func list(prefix: String, context: OperationContext) async throws -> [SecretName]

    /// Removes the entry and all its versions. Removing an absent entry throws.
    func remove(_ name: SecretName, context: OperationContext) async throws

    /// The version of `name` numbered `version` (`vault get --entry-version`), with the label it
    /// carries, if any.
    ///
    /// - Throws: the store's not-found error (exit 2) naming the entry, or the entry and the
    ///   version, when either is absent. The default: a usage error saying the store keeps no
    ///   numbered versions.
    func read(_ name: SecretName, version: Int, context: OperationContext) async throws -> SecretRecord

    /// Every version of `name`, oldest first (`vault history`): labels, dates, source and
    /// fingerprint, never the value.
    ///
    /// - Throws: the store's not-found error (exit 2) when the entry is absent. The default: a
    ///   usage error saying the store keeps no history.
    func history(_ name: SecretName, context: OperationContext) async throws -> [SecretVersionInfo]
}

extension SecretStore {
    public func amend(_ name: SecretName, label: VersionLabel, expiresAt: Date?, txnId: String?, context: OperationContext) async throws -> SecretRecord {
        guard let existing = try await read(name, label: label, context: context) else {
            throw KeywardError.operationFailed("\(name) has no \(label.rawValue) version to amend")
        }
        var record = existing
        record.expiresAt = expiresAt
        if let txnId { record.txnId = txnId }
        return try await write(name, record: record, label: label, context: context)
    }

    public func read(_ name: SecretName, version: Int, context: OperationContext) async throws -> SecretRecord {
        throw KeywardError.usage("this store keeps no numbered versions: \(type(of: self))")
    }

    public func history(_ name: SecretName, context: OperationContext) async throws -> [SecretVersionInfo] {
        throw KeywardError.usage("this store keeps no version history: \(type(of: self))")
    }

    public func read(_ names: [SecretName], label: VersionLabel, context: OperationContext) async throws -> [SecretRecord?] {
        var records: [SecretRecord?] = []
        for name in names { records.append(try await read(name, label: label, context: context)) }
        return records
    }
}

/// Computes fingerprints of secret values for plans, history and audit: a keyed HMAC whose key
/// never leaves the vault, so nobody without the vault can confirm a guess from a fingerprint.
public protocol Fingerprinter: Sendable {
    /// The first 8 hex digits of the keyed HMAC of `value`.
    func fingerprint(_ value: SecretValue) -> String
}

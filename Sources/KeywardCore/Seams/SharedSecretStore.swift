import Foundation

/// A store shared by several hosts that use one entity's credentials (DESIGN.md, "Beyond one
/// machine"): it grants rotation leases across hosts (its ``RotationCoordinator`` conformance
/// wraps the local vault's lock) and holds each entity's published secret. KeywardOpenBao
/// implements it on an OpenBao/Vault KV v2 mount; Core only calls this seam.
public protocol SharedSecretStore: RotationCoordinator {
    /// Names the store for messages and `status`, never a token (`openbao https://bao:8200 secret/keyward/prod`).
    var location: String { get }

    /// Checks once per run, before any entity is synced, that the store's mount exists and is
    /// usable (DESIGN.md: a missing or KV v1 mount stops the run, exit 2, naming the mount).
    ///
    /// - Throws: a ``CategorizedError`` (usage for a missing or KV v1 mount, authentication for a
    ///   403, operation failed for a server that is away).
    func checkReady(context: OperationContext) async throws

    /// The entity's publication record, read consistently (it sees the latest write), or `nil`
    /// when none was published.
    ///
    /// - Throws: a ``CategorizedError`` when the store cannot answer.
    func publication(of entity: EntityID, context: OperationContext) async throws -> SecretPublication?

    /// Publishes `secret` as the entity's current secret with check-and-set against `replacing`
    /// (the record the caller read; `nil`: only when none exists), incrementing the generation.
    /// The caller has checked DESIGN.md's rule (publish only when the record is absent or its
    /// secret is not the one the service returns now).
    ///
    /// - Parameters:
    ///   - fingerprint: the publisher's fingerprint of the secret, for display on other hosts.
    ///   - txnId: the token service's transaction id of the reset or read that returned it.
    /// - Returns: the record as written.
    /// - Throws: a ``CategorizedError``; operation failed when another host published first
    ///   (check-and-set conflict): the caller reads the record again and adopts it.
    func publish(_ entity: EntityID, secret: SecretRecord, fingerprint: String, txnId: String?, replacing: SecretPublication?,
                 context: OperationContext) async throws -> SecretPublication

    /// The entity's lease as the store holds it now, for `status` (`nil` when never taken).
    func leaseStatus(of entity: EntityID, context: OperationContext) async throws -> SharedLeaseStatus?

    /// A digest of `value` that is the same on every host (SHA-256, lowercase hex): what the
    /// engine records in a lease as the secret its rotation started from
    /// (``RotationLease/advance(to:txnId:secretHash:)``), so a taker on another host can compare
    /// it with the service's secret. Never the value.
    func digest(_ value: SecretValue) -> String

    /// The value of `key` in the KV entry `<mount>/<path>` (an `openbao:` credential reference),
    /// read through the store's connection.
    ///
    /// - Throws: a ``CategorizedError`` naming the reference (never a value) when the entry or
    ///   the key is missing (usage), or the store cannot answer.
    func credential(mount: String, path: String, key: String, context: OperationContext) async throws -> SecretValue

    /// Releases every lease this process holds (on SIGTERM: DESIGN.md, "Lease"), keeping the
    /// progress each recorded for the next holder. Best effort: a store that cannot be reached
    /// leaves the leases to expire.
    func releaseHeldLeases() async
}

/// An entity's publication record in a ``SharedSecretStore`` (DESIGN.md, "Publication").
public struct SecretPublication: Sendable {
    /// The published secret.
    public var secret: SecretValue
    /// When the secret expires (UTC), as the token service said; `nil` when it said nothing.
    public var secretExpiresAt: Date?
    /// Incremented by each publication: 1 for the first.
    public var generation: UInt64
    /// The token service's transaction id of the reset or read the secret came from.
    public var txnId: String?
    /// The host (and process) that published it.
    public var updatedBy: String
    /// The publisher's fingerprint of the secret (its vault's keyed HMAC; for display only).
    public var fingerprint: String?
    /// When it was published, by the store's clock (UTC).
    public var publishedAt: Date
    /// The store's version of the record (for check-and-set).
    public var version: UInt64

    public init(secret: SecretValue, secretExpiresAt: Date?, generation: UInt64, txnId: String?, updatedBy: String,
                fingerprint: String?, publishedAt: Date, version: UInt64)
    {
        self.secret = secret
        self.secretExpiresAt = secretExpiresAt
        self.generation = generation
        self.txnId = txnId
        self.updatedBy = updatedBy
        self.fingerprint = fingerprint
        self.publishedAt = publishedAt
        self.version = version
    }
}

/// An entity's rotation lease in a ``SharedSecretStore``, as `status` shows it.
public struct SharedLeaseStatus: Sendable, Equatable {
    /// Who holds (or last held) it: `host (pid N)`.
    public var holder: String
    /// When it expires (UTC, by the store's clock); a released lease is free whatever this says.
    public var expiresAt: Date
    /// Whether the holder released it.
    public var released: Bool
    /// The rotation state the holder recorded, if any.
    public var progress: RotationProgress?
    /// The lease record's version: the fencing token of its holder.
    public var fencingToken: UInt64

    public init(holder: String, expiresAt: Date, released: Bool, progress: RotationProgress?, fencingToken: UInt64) {
        self.holder = holder
        self.expiresAt = expiresAt
        self.released = released
        self.progress = progress
        self.fencingToken = fencingToken
    }
}

import Foundation

/// `entities.<id>` section.
public struct EntityConfiguration: Sendable, Equatable {
    public var id: EntityID
    /// The name of the provider that holds this entity's secret.
    public var provider: String
    /// Validity asked for on reset, in days; `nil` leaves the provider's default.
    public var secretExpiryDays: Int?
    /// The validity, in days, a reset of this entity's secret is granted: ``secretExpiryDays``
    /// within the provider type's default and maximum (``SecretValidityRules``), set by the
    /// loader; `nil` when the provider does not say. The rotation window uses it for a secret
    /// whose record cannot tell its lifetime.
    public var grantedValidityDays: Int?
    /// `rotateBefore`: a rotation is due once the secret's expiry is this close (a `Duration`).
    /// Default 15 days; the engine caps it at a third of the secret's lifetime (DESIGN.md, "Rotation").
    public var rotateBefore: Duration
    /// `tokenRefreshBefore`: an entity token is minted again once its expiry is this close
    /// (a `Duration`). Default 10 min.
    public var tokenRefreshBefore: Duration
    /// `secretSource`: where the entity's secret is read (DESIGN.md, "Beyond one machine",
    /// "Followers"). Default ``SecretSource/service``.
    public var secretSource: SecretSource

    /// - Parameter grantedValidityDays: `nil` takes `secretExpiryDays`.
    public init(id: EntityID, provider: String, secretExpiryDays: Int? = nil, grantedValidityDays: Int? = nil,
                rotateBefore: Duration = .seconds(15 * 86_400), tokenRefreshBefore: Duration = .seconds(600), secretSource: SecretSource = .service) {
        self.secretSource = secretSource
        self.id = id
        self.provider = provider
        self.secretExpiryDays = secretExpiryDays
        self.grantedValidityDays = grantedValidityDays ?? secretExpiryDays
        self.rotateBefore = rotateBefore
        self.tokenRefreshBefore = tokenRefreshBefore
    }
}

/// Where an entity's secret comes from (DESIGN.md, "Beyond one machine").
public enum SecretSource: String, Sendable, Equatable, Codable {
    /// The provider's service (`secret/read`); this host may rotate it.
    case service
    /// The shared store's publication record: this host follows it, mints its own tokens with
    /// it, and never resets it (no admin user or password needed here).
    case shared
}

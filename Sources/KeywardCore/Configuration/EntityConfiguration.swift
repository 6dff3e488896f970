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

    /// - Parameter grantedValidityDays: `nil` takes `secretExpiryDays`.
    public init(id: EntityID, provider: String, secretExpiryDays: Int? = nil, grantedValidityDays: Int? = nil,
                rotateBefore: Duration = .seconds(15 * 86_400), tokenRefreshBefore: Duration = .seconds(600)) {
        self.id = id
        self.provider = provider
        self.secretExpiryDays = secretExpiryDays
        self.grantedValidityDays = grantedValidityDays ?? secretExpiryDays
        self.rotateBefore = rotateBefore
        self.tokenRefreshBefore = tokenRefreshBefore
    }
}

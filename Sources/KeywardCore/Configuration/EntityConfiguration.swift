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
    /// A rotation is due once the secret's expiry is this close, in seconds. Default 15 days;
    /// the engine caps it at a third of the secret's lifetime.
    public var rotateBeforeSeconds: Int64
    /// An entity token is minted again once its expiry is this close, in seconds. Default 10 min.
    public var tokenRefreshBeforeSeconds: Int64

    /// - Parameter grantedValidityDays: `nil` takes `secretExpiryDays`.
    public init(id: EntityID, provider: String, secretExpiryDays: Int? = nil, grantedValidityDays: Int? = nil,
                rotateBeforeSeconds: Int64 = 15 * 86_400, tokenRefreshBeforeSeconds: Int64 = 600) {
        self.id = id
        self.provider = provider
        self.secretExpiryDays = secretExpiryDays
        self.grantedValidityDays = grantedValidityDays ?? secretExpiryDays
        self.rotateBeforeSeconds = rotateBeforeSeconds
        self.tokenRefreshBeforeSeconds = tokenRefreshBeforeSeconds
    }
}

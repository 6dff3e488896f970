import Foundation
import KeywardCore

/// An access token from the token service: a user token (for secret read and reset) or an
/// entity token (what services send to other members).
public struct AccessToken: Sendable, CustomStringConvertible {
    /// The JWT.
    public var value: SecretValue
    /// When it stops working (UTC): the earlier of now + `expiresIn` and the JWT's `exp`
    /// (contract, "Quirks").
    public var expiresAt: Date
    /// When the client received it (UTC, from the context's clock).
    public var issuedAt: Date
    /// The `txnId` of the answer.
    public var txnId: String?
    /// The service's `message`, e.g. that the secret is inside its grace period. Surface it.
    public var message: String?

    public init(value: SecretValue, expiresAt: Date, issuedAt: Date, txnId: String?, message: String?) {
        self.value = value
        self.expiresAt = expiresAt
        self.issuedAt = issuedAt
        self.txnId = txnId
        self.message = message
    }

    public var description: String { "AccessToken(expiresAt: \(Timestamps.format(expiresAt)), value: <redacted>)" }
}

/// An entity secret as read or reset.
public struct EntitySecret: Sendable, CustomStringConvertible {
    public var entityId: EntityID
    /// The secret: every byte significant.
    public var secret: SecretValue
    /// When it expires (UTC), or `nil` for a secret that never expires until reset
    /// (`expiresOn` absent, `null` or `0`).
    public var expiresAt: Date?
    /// The `txnId` of the answer.
    public var txnId: String?
    /// The service's `message` (e.g. the default validity was applied). Surface, never parse.
    public var message: String?

    public init(entityId: EntityID, secret: SecretValue, expiresAt: Date?, txnId: String?, message: String?) {
        self.entityId = entityId
        self.secret = secret
        self.expiresAt = expiresAt
        self.txnId = txnId
        self.message = message
    }

    public var description: String { "EntitySecret(\(entityId), expiresAt: \(expiresAt.map(Timestamps.format) ?? "none"), secret: <redacted>)" }
}

// MARK: - Wire types (token-service-contract.md; the answers are decoded in KeywardTokenServiceWire)

/// The JSON body of secret read and reset.
struct SecretRequestBody: Encodable {
    var ver = "1.0.0"
    var timestamp: String
    var txnId: String
    var entityId: String
    var secretExpiryDays: Int?
}

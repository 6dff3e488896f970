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

// MARK: - Wire types (token-service-contract.md)

/// The JSON body of secret read and reset.
struct SecretRequestBody: Encodable {
    var ver = "1.0.0"
    var timestamp: String
    var txnId: String
    var entityId: String
    var secretExpiryDays: Int?
}

/// The 200 body of user token and entity token generation.
struct TokenResponseBody: Decodable {
    var txnId: String?
    var accessToken: String
    var expiresIn: FlexibleNumber?
    var tokenType: String?
    var message: String?
}

/// The 200 body of secret read and reset.
struct SecretResponseBody: Decodable {
    var txnId: String?
    var entityId: String?
    var secret: String
    var expiresOn: FlexibleNumber?
    var expirationDate: String?
    var message: String?
}

/// The 400/401 envelope.
struct ErrorResponseBody: Decodable {
    var txnId: String?
    var errorCode: String?
    var errorMsg: String?
}

/// A number that some servers send as a JSON number (integer or not) and others as a string.
struct FlexibleNumber: Decodable {
    var value: Double

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) {
            value = number
        } else if let text = try? container.decode(String.self), let number = Double(text.trimmingCharacters(in: .whitespaces)) {
            value = number
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a number")
        }
    }
}

/// What the contract says about `expiresOn` (seconds or milliseconds, absent/null/0 meaning no
/// expiry) and `expirationDate` (no zone: UTC; used only when `expiresOn` is absent).
enum SecretExpiry {
    /// Values above 10^11 are milliseconds (contract, "POST /entity/secret/read").
    static let millisecondsThreshold = 1e11

    static func resolve(expiresOn: Double?, expirationDate: String?) -> Date? {
        if let expiresOn {
            guard expiresOn > 0, expiresOn.isFinite else { return nil }
            return Date(timeIntervalSince1970: expiresOn > millisecondsThreshold ? expiresOn / 1000 : expiresOn)
        }
        if let expirationDate, let date = Timestamps.parse(expirationDate) {
            return date
        }
        return nil
    }
}

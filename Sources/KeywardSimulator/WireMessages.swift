import Foundation

/// `POST /user/token/generate` answer. The extra fields (`refreshExpiresIn`, `notBeforePolicy`,
/// `scope`) are there because the real service sends them and clients must ignore them.
struct UserTokenAnswer: Encodable {
    var ver = "1.0.0"
    var timestamp: String
    var txnId: String
    var accessToken: String
    /// Seconds.
    var expiresIn: Int
    var tokenType = "Bearer"
    var refreshExpiresIn = 0
    var notBeforePolicy = 0
    var scope = "email profile"
}

/// `POST /entity/secret/read` and `/entity/secret/reset` answer.
struct SecretAnswer: Encodable {
    var ver = "1.0.0"
    var timestamp: String
    var txnId: String
    var entityId: String
    var secret: String
    /// Unix time in seconds or milliseconds (see `ExpiresOnUnit`); absent for a secret that never expires.
    var expiresOn: Int64?
    /// UTC without a zone; absent for a secret that never expires.
    var expirationDate: String?
    var message: String?
}

/// `POST /entity/token/generate` answer.
struct EntityTokenAnswer: Encodable {
    var ver = "1.0.0"
    var timestamp: String
    var txnId: String
    var accessToken: String
    /// Seconds.
    var expiresIn: Int
    var tokenType = "Bearer"
    var message: String?
}

/// The error envelope of 400 and 401 answers (token-service-contract.md, "Errors"). `errorMsg`
/// never holds a secret, a password or a token.
struct ErrorEnvelope: Encodable {
    var ver = "1.0.0"
    var timestamp: String
    var txnId: String
    var errorCode: String
    var errorMsg: String
}

/// A JSON value as a request carried it, so that validation can say exactly what is wrong.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case composite

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else {
            self = .composite
        }
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value as an integer when it is one (`90` or `90.0`); `nil` otherwise.
    var integer: Int? {
        switch self {
        case .integer(let value): value
        case .number(let value) where value.rounded() == value && abs(value) < 1e15: Int(value)
        default: nil
        }
    }

    /// A JSON object's fields; `nil` when `bytes` is not a JSON object.
    static func object(from bytes: [UInt8]) -> [String: JSONValue]? {
        try? JSONDecoder().decode([String: JSONValue].self, from: Data(bytes))
    }
}

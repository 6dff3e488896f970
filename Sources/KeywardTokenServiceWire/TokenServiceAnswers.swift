import Foundation
import KeywardCore

/// What Keyward makes of the token service's answer bodies (token-service-contract.md), from
/// bytes alone: the JSON decoding, the checks on what a 2xx answer must hold, the expiry
/// quirks, and the scrubbing of server text. ``TokenServiceClient`` (KeywardTokenService)
/// sends the requests and maps each ``Failure`` to its `TokenServiceError`.
///
/// A module of its own, with no HTTP client or NIO, so the fuzz targets in `Fuzz/` (issue 16,
/// item 1) decode the upstream's answers without building the transport.
public enum TokenServiceAnswers {
    /// Why a 2xx body is not a usable answer.
    public enum Failure: Error, Equatable, Sendable {
        /// Not a JSON object (an HTML error page from a proxy, say).
        case nonJSONBody
        /// A JSON object without what the contract promises: `reason` names the field, never a
        /// value; `txnId` is the answer's own when it has one.
        case invalidResponse(reason: String, txnId: String?)
    }

    /// A decoded 200 answer of user or entity token generation.
    public struct Token: Sendable {
        /// The JWT, never empty.
        public var accessToken: String
        /// Seconds, finite or not, as sent (a number or a numeric string).
        public var expiresIn: Double?
        public var txnId: String?
        /// The service's `message`, scrubbed (``scrub(_:_:)``) of the request's credentials
        /// and of the token; `nil` when absent or blank.
        public var message: String?
    }

    /// A decoded 200 answer of secret read or reset.
    public struct Secret: Sendable {
        /// The secret, never empty; every byte significant.
        public var secret: String
        /// When it expires (UTC), or `nil` for never (``SecretExpiry``).
        public var expiresAt: Date?
        public var txnId: String?
        /// The service's `message`, scrubbed of the secret and the request's credentials.
        public var message: String?
    }

    /// What a 4xx/5xx body says: its `txnId` and `errorCode: errorMsg`, scrubbed.
    public struct ErrorEnvelope: Sendable, Equatable {
        public var txnId: String?
        public var message: String
    }

    /// `body` as a token answer.
    /// - Parameter sensitive: the credentials the request carried (never echoed back).
    /// - Throws: ``Failure``.
    public static func token(_ body: [UInt8], sensitive: [SecretValue]) throws(Failure) -> Token {
        let decoded: TokenResponseBody = try decode(Data(body))
        guard !decoded.accessToken.isEmpty else {
            throw .invalidResponse(reason: "the answer has an empty accessToken", txnId: decoded.txnId)
        }
        let token = SecretValue(utf8: decoded.accessToken)
        return Token(accessToken: decoded.accessToken, expiresIn: decoded.expiresIn?.value, txnId: decoded.txnId,
                     message: nonEmpty(decoded.message).map { scrub($0, sensitive + [token]) })
    }

    /// `body` as a secret answer for `entity` (an answer naming another entity is refused).
    /// - Parameter sensitive: the credentials the request carried (the user token).
    /// - Throws: ``Failure``.
    public static func secret(_ body: [UInt8], entity: EntityID, sensitive: [SecretValue]) throws(Failure) -> Secret {
        let decoded: SecretResponseBody = try decode(Data(body))
        if let echoed = decoded.entityId, echoed != entity.rawValue {
            throw .invalidResponse(reason: "the answer is for another entity", txnId: decoded.txnId)
        }
        guard !decoded.secret.isEmpty else {
            throw .invalidResponse(reason: "the answer has an empty secret", txnId: decoded.txnId)
        }
        // `message` is server text shown to users: it must not repeat the secret or the token.
        let secret = SecretValue(utf8: decoded.secret)
        return Secret(secret: decoded.secret,
                      expiresAt: SecretExpiry.resolve(expiresOn: decoded.expiresOn?.value, expirationDate: decoded.expirationDate),
                      txnId: decoded.txnId, message: nonEmpty(decoded.message).map { scrub($0, [secret] + sensitive) })
    }

    /// `body` of a 4xx/5xx answer as its envelope, or `nil` when it is not one.
    public static func errorEnvelope(_ body: [UInt8], sensitive: [SecretValue]) -> ErrorEnvelope? {
        guard let envelope = try? JSONDecoder().decode(ErrorResponseBody.self, from: Data(body)) else { return nil }
        return ErrorEnvelope(txnId: envelope.txnId,
                             message: scrub([envelope.errorCode, envelope.errorMsg].compactMap { $0 }.joined(separator: ": "), sensitive))
    }

    /// Decodes a 2xx body: not a JSON object is ``Failure/nonJSONBody``; a JSON object without
    /// the promised fields is ``Failure/invalidResponse(reason:txnId:)``.
    package static func decode<T: Decodable>(_ data: Data) throws(Failure) -> T {
        guard (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else { throw .nonJSONBody }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw .invalidResponse(reason: describe(error), txnId: nil)
        } catch {
            throw .invalidResponse(reason: "the answer has an unexpected shape", txnId: nil)
        }
    }

    /// Which field failed to decode, never the value.
    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "the answer lacks '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            "the answer's '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        @unknown default: "the answer has an unexpected shape"
        }
    }

    /// Removes every credential in `sensitive` (those of 4 bytes or more) from server-provided
    /// text, drops control characters, and caps it at 200 characters (then `…`).
    public static func scrub(_ text: String, _ sensitive: [SecretValue]) -> String {
        var result = text
        for value in sensitive where !value.isEmpty && value.count >= 4 {
            result = result.replacingOccurrences(of: value.revealUTF8(), with: "<redacted>")
        }
        result = String(result.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
        return result.count > 200 ? String(result.prefix(200)) + "…" : result
    }

    private static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return nil }
        return text
    }
}

// MARK: - Wire types (token-service-contract.md)

/// The 200 body of user token and entity token generation.
package struct TokenResponseBody: Decodable {
    package var txnId: String?
    package var accessToken: String
    package var expiresIn: FlexibleNumber?
    package var tokenType: String?
    package var message: String?
}

/// The 200 body of secret read and reset.
package struct SecretResponseBody: Decodable {
    package var txnId: String?
    package var entityId: String?
    package var secret: String
    package var expiresOn: FlexibleNumber?
    package var expirationDate: String?
    package var message: String?
}

/// The 400/401 envelope.
package struct ErrorResponseBody: Decodable {
    package var txnId: String?
    package var errorCode: String?
    package var errorMsg: String?
}

/// A number that some servers send as a JSON number (integer or not) and others as a string.
package struct FlexibleNumber: Decodable {
    package var value: Double

    package init(from decoder: any Decoder) throws {
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
package enum SecretExpiry {
    /// Values above 10^11 are milliseconds (contract, "POST /entity/secret/read").
    package static let millisecondsThreshold = 1e11

    /// The dates an expiry from the service may take: 0000-01-01T00:00:00Z to
    /// 9999-12-31T23:59:59.999Z, what an RFC 3339 date-time names. Beyond them a number is
    /// nonsense, and one past ±2^63 milliseconds traps where the vault converts it to
    /// milliseconds to store it (`expiresOn: 1e20`; found while writing Fuzz/fuzz-token-service).
    package static let plausible = Date(timeIntervalSince1970: -62_167_219_200)...Date(timeIntervalSince1970: 253_402_300_799.999)

    /// The expiry the answer gives, or `nil` for none: `expiresOn` absent, `null`, 0 or below,
    /// not finite, or outside ``plausible`` (as the contract reads a missing expiry).
    package static func resolve(expiresOn: Double?, expirationDate: String?) -> Date? {
        if let expiresOn {
            guard expiresOn > 0, expiresOn.isFinite else { return nil }
            let date = Date(timeIntervalSince1970: expiresOn > millisecondsThreshold ? expiresOn / 1000 : expiresOn)
            return plausible.contains(date) ? date : nil
        }
        if let expirationDate, let date = Timestamps.parse(expirationDate) {
            return date
        }
        return nil
    }
}

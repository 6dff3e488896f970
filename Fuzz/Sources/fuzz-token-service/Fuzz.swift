import Foundation
import FuzzSupport
import KeywardCore
import KeywardTokenServiceWire

/// The token service's answer bodies (token-service-contract.md), as KeywardTokenServiceWire
/// decodes them for the client: the input is one body, read as a token answer, a secret answer
/// for entity FIU-EXAMPLE-1, and an error envelope. Properties: each gives a value or a typed
/// failure, never a trap or a hang; a token answer's `accessToken` and a secret answer's
/// `secret` are never empty; a secret answer never belongs to another entity; a secret's
/// expiry lies in years 0 to 9999 (what the vault can store); every message shown to users (the answer's `message`, the error
/// envelope's text) holds no control character, is at most 200 characters and `…`, and never
/// holds the credential the request carried, the token or the secret of the answer.
private let entity: EntityID = "FIU-EXAMPLE-1"
private let userToken = SecretValue(utf8: "eyJhbGciOiJSUzI1NiJ9.user-token.signature")
private let password = SecretValue(utf8: "admin-password-42")

private func checkShown(_ text: String, hiding values: [String], _ what: String) {
    require(!text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(what): a control character")
    require(text.count <= 201, "\(what): \(text.count) characters")
    for value in values where value.utf8.count >= 4 {
        require(!text.contains(value), "\(what): holds a credential")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = input(data, size)
    do throws(TokenServiceAnswers.Failure) {
        let token = try TokenServiceAnswers.token(body, sensitive: [password])
        require(!token.accessToken.isEmpty, "an empty accessToken accepted")
        if let message = token.message { checkShown(message, hiding: [password.revealUTF8(), token.accessToken], "token message") }
    } catch {
        checkFailure(error)
    }
    do throws(TokenServiceAnswers.Failure) {
        let secret = try TokenServiceAnswers.secret(body, entity: entity, sensitive: [userToken])
        require(!secret.secret.isEmpty, "an empty secret accepted")
        // What the vault stores as milliseconds in an Int64, and RFC 3339 can name: years 0 to 9999.
        if let expiresAt = secret.expiresAt {
            require((-62_167_219_200...253_402_300_799.999).contains(expiresAt.timeIntervalSince1970),
                    "an expiry the vault cannot store: \(expiresAt.timeIntervalSince1970) s")
        }
        if let message = secret.message { checkShown(message, hiding: [userToken.revealUTF8(), secret.secret], "secret message") }
    } catch {
        checkFailure(error)
    }
    if let envelope = TokenServiceAnswers.errorEnvelope(body, sensitive: [userToken, password]) {
        checkShown(envelope.message, hiding: [userToken.revealUTF8(), password.revealUTF8()], "error envelope")
    }
    return 0
}

private func checkFailure(_ failure: TokenServiceAnswers.Failure) {
    if case .invalidResponse(let reason, _) = failure {
        require(!reason.isEmpty && !reason.unicodeScalars.contains { $0.value < 0x20 }, "an empty or unprintable reason")
    }
}

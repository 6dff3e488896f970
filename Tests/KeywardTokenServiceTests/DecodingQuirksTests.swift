import Foundation
import JWTKit
import KeywardCore
import Testing

@testable import KeywardTokenService
import KeywardTokenServiceWire

/// Every decoding quirk of token-service-contract.md, as a table.
@Suite("decoding the token service's answers")
struct DecodingQuirksTests {
    struct SecretCase: Sendable, CustomTestStringConvertible {
        var label: String
        var json: String
        var expiresAt: Date?
        var message: String?
        var testDescription: String { label }
    }

    static let secretCases: [SecretCase] = [
        .init(label: "expiresOn in seconds", json: #"{"secret":"a+b/c=","expiresOn":1725010763}"#,
              expiresAt: Date(timeIntervalSince1970: 1_725_010_763)),
        .init(label: "expiresOn in milliseconds", json: #"{"secret":"a","expiresOn":1733226041466}"#,
              expiresAt: Date(timeIntervalSince1970: 1_733_226_041.466)),
        .init(label: "expiresOn as a string", json: #"{"secret":"a","expiresOn":"1725010763"}"#,
              expiresAt: Date(timeIntervalSince1970: 1_725_010_763)),
        .init(label: "expiresOn absent: no expiry", json: #"{"secret":"a"}"#, expiresAt: nil),
        .init(label: "expiresOn null: no expiry", json: #"{"secret":"a","expiresOn":null}"#, expiresAt: nil),
        .init(label: "expiresOn 0: no expiry, even with an expirationDate", json: #"{"secret":"a","expiresOn":0,"expirationDate":"2024-12-17T07:10:52.929"}"#, expiresAt: nil),
        .init(label: "expirationDate without a zone is UTC", json: #"{"secret":"a","expirationDate":"2024-12-17T07:10:52.929"}"#,
              expiresAt: Date(timeIntervalSince1970: 1_734_419_452.929)),
        .init(label: "expiresOn preferred over a disagreeing expirationDate", json: #"{"secret":"a","expiresOn":1725010763,"expirationDate":"2030-01-01T00:00:00"}"#,
              expiresAt: Date(timeIntervalSince1970: 1_725_010_763)),
        .init(label: "timestamp with 9 fractional digits and unknown fields", json: #"{"ver":"1.0.0","timestamp":"2024-10-10T10:33:56.177646614Z","txnId":"t-1","entityId":"FIU-1","secret":"a","expiresOn":1725010763,"newField":{"x":[1,2]}}"#,
              expiresAt: Date(timeIntervalSince1970: 1_725_010_763)),
        .init(label: "message is surfaced", json: #"{"secret":"a","expiresOn":1725010763,"message":"Default expiry of 180 days applied for $entityId"}"#,
              expiresAt: Date(timeIntervalSince1970: 1_725_010_763), message: "Default expiry of 180 days applied for $entityId"),
    ]

    @Test("secret answers", arguments: secretCases)
    func secretAnswer(_ quirk: SecretCase) throws {
        let body: SecretResponseBody = try TokenServiceClient.decodeBody(
            Data(quirk.json.utf8), status: 200, contentType: "application/json", endpoint: .secretRead, txnId: "x")
        let expiresAt = SecretExpiry.resolve(expiresOn: body.expiresOn?.value, expirationDate: body.expirationDate)
        if let expected = quirk.expiresAt {
            let actual = try #require(expiresAt)
            #expect(abs(actual.timeIntervalSince(expected)) < 0.001)
        } else {
            #expect(expiresAt == nil)
        }
        #expect(body.message == quirk.message)
    }

    @Test("timestamps", arguments: [
        ("2024-10-10T10:33:56.177646614Z", 1_728_556_436.177646614),
        ("2024-10-10T10:33:56Z", 1_728_556_436),
        ("2024-10-10T10:33:56.1Z", 1_728_556_436.1),
        ("2024-10-10T16:03:56.5+05:30", 1_728_556_436.5),
        ("2024-12-17T07:10:52.929", 1_734_419_452.929),
    ] as [(String, Double)])
    func timestamps(text: String, epoch: Double) throws {
        let date = try #require(Timestamps.parse(text))
        #expect(abs(date.timeIntervalSince1970 - epoch) < 0.000_01)
    }

    @Test("malformed timestamps", arguments: ["", "2024-10-10", "2024-13-10T10:33:56Z", "2024-10-10T10:33:56.1234567890Z", "2024-10-10T10:33:56.Z", "2024-10-10T10:33:56+0530", "yesterday"])
    func malformedTimestamps(text: String) {
        #expect(Timestamps.parse(text) == nil)
    }

    @Test("token expiry is the earlier of expiresIn and the JWT's exp")
    func tokenExpiry() async throws {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: String(repeating: "k", count: 32)), digestAlgorithm: .sha256)
        struct Claims: JWTPayload {
            var exp: ExpirationClaim
            func verify(using algorithm: some JWTAlgorithm) async throws {}
        }
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let short = try await keys.sign(Claims(exp: .init(value: now.addingTimeInterval(3_600))))
        let long = try await keys.sign(Claims(exp: .init(value: now.addingTimeInterval(86_400 * 180))))
        // Docs disagree (24 h vs 180 days): whichever is earlier wins.
        #expect(TokenServiceClient.tokenExpiry(token: short, expiresIn: 86_400, receivedAt: now) == now.addingTimeInterval(3_600))
        #expect(TokenServiceClient.tokenExpiry(token: long, expiresIn: 86_400, receivedAt: now) == now.addingTimeInterval(86_400))
        #expect(TokenServiceClient.tokenExpiry(token: "not-a-jwt", expiresIn: 600, receivedAt: now) == now.addingTimeInterval(600))
        #expect(TokenServiceClient.tokenExpiry(token: short, expiresIn: nil, receivedAt: now) == now.addingTimeInterval(3_600))
        #expect(TokenServiceClient.tokenExpiry(token: "x", expiresIn: nil, receivedAt: now) == now)
    }

    @Test("an expiresOn past 9999-12-31 is no expiry, not a date the vault cannot store (fuzz-token-service)",
          arguments: [(1e20, nil), (1e300, nil), (253_402_300_800_000, nil), (253_402_300_799_000, 253_402_300_799)] as [(Double, Double?)])
    func implausibleExpiry(expiresOn: Double, expected: Double?) throws {
        let body = Array(#"{"secret":"s3cr3t","expiresOn":\#(expiresOn)}"#.utf8)
        let secret = try TokenServiceAnswers.secret(body, entity: "FIU-EXAMPLE-1", sensitive: [])
        #expect(secret.expiresAt == expected.map { Date(timeIntervalSince1970: $0) })
    }

    @Test("a token's expiresIn or exp past 9999-12-31 is not usable: the token counts as due (fuzz-token-service)")
    func implausibleTokenExpiry() async throws {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: String(repeating: "k", count: 32)), digestAlgorithm: .sha256)
        struct Claims: JWTPayload {
            var exp: ExpirationClaim
            func verify(using algorithm: some JWTAlgorithm) async throws {}
        }
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let farFuture = try await keys.sign(Claims(exp: .init(value: Date(timeIntervalSince1970: 1e15))))
        #expect(TokenServiceClient.tokenExpiry(token: "x", expiresIn: 1e300, receivedAt: now) == now)
        #expect(TokenServiceClient.tokenExpiry(token: farFuture, expiresIn: nil, receivedAt: now) == now)
        #expect(TokenServiceClient.tokenExpiry(token: farFuture, expiresIn: 600, receivedAt: now) == now.addingTimeInterval(600))
    }

    @Test("a token answer with extra fields decodes; a missing accessToken is an invalid response")
    func tokenAnswer() throws {
        let body: TokenResponseBody = try TokenServiceClient.decodeBody(
            Data(#"{"ver":"1.0.0","accessToken":"a.b.c","expiresIn":86400,"tokenType":"Bearer","refreshExpiresIn":0,"notBeforePolicy":0,"scope":"email"}"#.utf8),
            status: 200, contentType: "application/json", endpoint: .userToken, txnId: "x")
        #expect(body.expiresIn?.value == 86_400)
        let error = try #require(throws: TokenServiceError.self) {
            let _: TokenResponseBody = try TokenServiceClient.decodeBody(Data(#"{"expiresIn":1}"#.utf8), status: 200, contentType: nil, endpoint: .userToken, txnId: "x")
        }
        #expect(error.code == .invalidResponse)
        #expect(error.description.contains("accessToken"))
    }

    @Test("an HTML page with status 200 is a non-JSON body", arguments: ["<html><body>Bad gateway</body></html>", "", "[1,2]", "{\"secret\": \"cut"])
    func nonJSON(body: String) throws {
        let error = try #require(throws: TokenServiceError.self) {
            let _: SecretResponseBody = try TokenServiceClient.decodeBody(Data(body.utf8), status: 200, contentType: "text/html", endpoint: .secretRead, txnId: "t-9")
        }
        #expect(error.code == .nonJSONBody)
        #expect(error.txnId == "t-9")
        #expect(!error.description.contains("Bad gateway"))
    }

    @Test("form bodies are percent-encoded field by field")
    func formEncoding() {
        let body = FormEncoding.encode([("username", SecretValue(utf8: "ops+1@example.com")), ("password", SecretValue(utf8: "a b&c=d/e%f+g\u{e9}"))])
        #expect(String(decoding: body, as: UTF8.self) == "username=ops%2B1%40example.com&password=a+b%26c%3Dd%2Fe%25f%2Bg%C3%A9")
    }

    @Test("a message that repeats a credential is scrubbed before anyone sees it")
    func messageScrubbed() {
        let secret = SecretValue(utf8: "new-secret-value==")
        #expect(TokenServiceClient.scrub("Your new secret is new-secret-value==, valid 180 days", [secret]) == "Your new secret is <redacted>, valid 180 days")
    }

    @Test("server text is scrubbed of credentials sent")
    func scrub() {
        let secret = SecretValue(utf8: "topsecret==")
        let scrubbed = TokenServiceClient.scrub("Unauthorized: bad secret topsecret== for FIU\n", [secret])
        #expect(scrubbed == "Unauthorized: bad secret <redacted> for FIU")
    }
}

import Foundation
import KeywardSimulator
import NIOHTTP1
import Testing

/// The four calls of token-service-contract.md, over real HTTP.
@Suite struct TokenServiceEndpointTests {
    @Test("a user token answer has the contract's fields, an extra field, and a JWT whose exp is iat + 180 days")
    func userTokenSuccess() async throws {
        try await Harness.run { harness in
            let answer = try await harness.postForm(.userToken, [("username", Harness.username), ("password", Harness.password)])
            #expect(answer.status == 200)
            #expect(answer.headers["content-type"]?.hasPrefix("application/json") == true)
            let json = try answer.json()
            #expect(json["ver"] as? String == "1.0.0")
            #expect(json["tokenType"] as? String == "Bearer")
            #expect(Harness.integer(json["expiresIn"]) == 180 * 86_400)
            #expect(json["refreshExpiresIn"] != nil, "the real service sends extra fields")
            let txnId = try #require(json["txnId"] as? String)
            #expect(UUID(uuidString: txnId) != nil)
            let timestamp = try #require(json["timestamp"] as? String)
            #expect(timestamp.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z/) != nil, "9 fractional digits: \(timestamp)")

            let claims = try Harness.claims(of: try #require(json["accessToken"] as? String))
            let exp = try #require(Harness.integer(claims["exp"]), "exp is a whole number of seconds")
            let iat = try #require(Harness.integer(claims["iat"]))
            #expect(exp - iat == 180 * 86_400)
            #expect(abs(Double(iat) - harness.simulator.now.timeIntervalSince1970) < 60, "issued now (a loaded machine may take seconds to get here)")
            #expect(claims["sub"] as? String == Harness.username)
        }
    }

    @Test("form fields are percent-decoded with + as a space")
    func formDecoding() async throws {
        try await Harness.run { harness in
            harness.simulator.addUser(username: "a b+c@example.com", password: "x y+z/=", entities: [])
            // Spaces sent as '+', a literal plus as %2B, as browsers and curl --data-urlencode do.
            let body = "username=a+b%2Bc%40example.com&password=x+y%2Bz%2F%3D"
            let answer = try await harness.send(
                .POST, harness.baseURL.absoluteString + "/user/token/generate",
                contentType: "application/x-www-form-urlencoded; charset=utf-8", body: body
            )
            #expect(answer.status == 200, "\(answer.text)")
        }
    }

    @Test("a wrong password answers 401 in the error envelope, without the password")
    func userTokenWrongPassword() async throws {
        try await Harness.run { harness in
            let answer = try await harness.postForm(.userToken, [("username", Harness.username), ("password", "not-it-\(Harness.password)")])
            #expect(answer.status == 401)
            let json = try answer.json()
            #expect(json["errorCode"] as? String == "Unauthorized")
            #expect(json["ver"] as? String == "1.0.0")
            #expect(json["timestamp"] is String)
            #expect(json["txnId"] is String)
            #expect(json["errorMsg"] is String)
            #expect(!answer.text.contains("not-it"))
            #expect(!answer.text.contains(Harness.password))
        }
    }

    @Test("a missing form field, a wrong content type or broken percent-encoding answer 400")
    func userTokenBadRequests() async throws {
        try await Harness.run { harness in
            let missing = try await harness.postForm(.userToken, [("username", Harness.username)])
            #expect(missing.status == 400)
            #expect(try missing.json()["errorCode"] as? String == "Bad Request")
            let json = try await harness.send(
                .POST, harness.baseURL.absoluteString + "/user/token/generate",
                contentType: "application/json", body: #"{"username":"a","password":"b"}"#
            )
            #expect(json.status == 400)
            let broken = try await harness.send(
                .POST, harness.baseURL.absoluteString + "/user/token/generate",
                contentType: "application/x-www-form-urlencoded", body: "username=a%ZZ&password=b"
            )
            #expect(broken.status == 400)
        }
    }

    @Test("secret read answers the current secret, echoes txnId, and gives expiresOn in milliseconds")
    func secretReadSuccess() async throws {
        try await Harness.run { harness in
            let token = try await harness.userToken()
            let txnId = UUID().uuidString
            let answer = try await harness.postJSON(.secretRead, Harness.secretRequest(Harness.entity, txnId: txnId), bearer: token)
            #expect(answer.status == 200, "\(answer.text)")
            let json = try answer.json()
            #expect(json["txnId"] as? String == txnId)
            #expect(json["entityId"] as? String == Harness.entity)
            #expect(json["ver"] as? String == "1.0.0")
            let secret = try #require(json["secret"] as? String)
            #expect(secret == harness.simulator.currentSecret(for: Harness.entity))
            #expect(Data(base64Encoded: secret)?.count == 32, "a generated secret is 32 random bytes, base64")
            let expiresOn = try #require(Harness.integer(json["expiresOn"]))
            #expect(expiresOn > 100_000_000_000, "milliseconds by default")
            // The seed's 90 days count from the simulator's start, which a loaded machine can
            // put well before this call: compare with the expiry the simulator holds.
            let expected = try #require(harness.simulator.secretExpiry(for: Harness.entity)).timeIntervalSince1970
            #expect(abs(Double(expiresOn) / 1000 - expected) < 0.002)
            #expect(abs(expected - (harness.simulator.now.timeIntervalSince1970 + 90 * 86_400)) < 600)
            let date = try #require(json["expirationDate"] as? String)
            #expect(date.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}/) != nil, "no zone: \(date)")
            #expect(json["message"] == nil)
            #expect(harness.simulator.counters()[.secretRead] == 1)
        }
    }

    @Test("a secret that never expires is read without expiresOn, its punctuation intact")
    func secretReadLegacy() async throws {
        try await Harness.run { harness in
            let token = try await harness.userToken()
            let json = try await harness.read(Harness.otherEntity, token: token).json()
            #expect(json["secret"] as? String == "legacy$secret#'\"\\")
            #expect(json["expiresOn"] == nil)
            #expect(json["expirationDate"] == nil)
        }
    }

    @Test("expiresOn switches to seconds when configured")
    func expiresOnSeconds() async throws {
        try await Harness.run { harness in
            harness.simulator.setExpiresOnUnit(.seconds)
            let token = try await harness.userToken()
            let json = try await harness.read(Harness.entity, token: token).json()
            let expiresOn = try #require(Harness.integer(json["expiresOn"]))
            #expect(expiresOn < 100_000_000_000)
            let expected = try #require(harness.simulator.secretExpiry(for: Harness.entity)).timeIntervalSince1970
            #expect(abs(Double(expiresOn) - expected) < 1)
        }
    }

    @Test("secret calls without a token, with a bad token or an entity token answer 401")
    func secretReadUnauthorized() async throws {
        try await Harness.run { harness in
            let none = try await harness.postJSON(.secretRead, Harness.secretRequest(Harness.entity), bearer: nil)
            #expect(none.status == 401)
            let forged = try await harness.read(Harness.entity, token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
            #expect(forged.status == 401)
            #expect(try forged.json()["errorCode"] as? String == "Unauthorized")

            let secret = try #require(harness.simulator.currentSecret(for: Harness.entity))
            let entityToken = try #require(try await harness.entityToken(Harness.entity, secret: secret).json()["accessToken"] as? String)
            #expect(try await harness.read(Harness.entity, token: entityToken).status == 401)

            let other = TokenServiceSimulator(seed: Harness.seed())
            let otherURL = try await other.start()
            let otherAnswer = try await harness.send(
                .POST, otherURL.absoluteString + "/user/token/generate",
                contentType: "application/x-www-form-urlencoded",
                body: Harness.formEncode([("username", Harness.username), ("password", Harness.password)])
            )
            await other.stop()
            let otherToken = try #require(try otherAnswer.json()["accessToken"] as? String)
            #expect(try await harness.read(Harness.entity, token: otherToken).status == 401, "another simulator's key")
        }
    }

    @Test("an entity the user may not manage, or an unknown one, answers 401")
    func secretReadForbiddenEntity() async throws {
        try await Harness.run { harness in
            let token = try await harness.userToken()
            #expect(try await harness.read(Harness.foreignEntity, token: token).status == 401)
            #expect(try await harness.read("NO-SUCH-ENTITY", token: token).status == 401)
        }
    }

    @Test("missing fields, a bad txnId or timestamp, and broken JSON answer 400, echoing a good txnId")
    func secretReadBadRequests() async throws {
        try await Harness.run { harness in
            let token = try await harness.userToken()
            let txnId = UUID().uuidString
            let missing = try await harness.postJSON(.secretRead, Harness.secretRequest(nil, txnId: txnId), bearer: token)
            #expect(missing.status == 400)
            let envelope = try missing.json()
            #expect(envelope["errorCode"] as? String == "Bad Request")
            #expect(envelope["txnId"] as? String == txnId)
            #expect((envelope["errorMsg"] as? String)?.contains("entityId") == true)

            for field in ["ver", "timestamp", "txnId"] {
                var request = Harness.secretRequest(Harness.entity)
                request[field] = nil
                #expect(try await harness.postJSON(.secretRead, request, bearer: token).status == 400, "without \(field)")
            }
            var badTime = Harness.secretRequest(Harness.entity)
            badTime["timestamp"] = "yesterday"
            #expect(try await harness.postJSON(.secretRead, badTime, bearer: token).status == 400)
            var nanoTime = Harness.secretRequest(Harness.entity)
            nanoTime["timestamp"] = "2024-10-10T10:33:56.177646614Z"
            #expect(try await harness.postJSON(.secretRead, nanoTime, bearer: token).status == 200)

            let broken = try await harness.send(
                .POST, harness.baseURL.absoluteString + "/entity/secret/read",
                contentType: "application/json", headers: ["Authorization": "Bearer \(token)"], body: "{not json"
            )
            #expect(broken.status == 400)
            #expect(harness.simulator.counters()[.secretRead] == 7)
        }
    }

    @Test("reset issues a new secret, the old one stops working at once, and exactly one reset is counted")
    func resetInvalidatesOldSecret() async throws {
        try await Harness.run { harness in
            let token = try await harness.userToken()
            let old = try #require(harness.simulator.currentSecret(for: Harness.entity))
            #expect(try await harness.entityToken(Harness.entity, secret: old).status == 200)

            let answer = try await harness.reset(Harness.entity, token: token, days: 90)
            #expect(answer.status == 200, "\(answer.text)")
            let json = try answer.json()
            let new = try #require(json["secret"] as? String)
            #expect(new != old)
            #expect(new == harness.simulator.currentSecret(for: Harness.entity))
            #expect(json["message"] == nil, "90 days is honoured silently")

            let refused = try await harness.entityToken(Harness.entity, secret: old)
            #expect(refused.status == 401)
            #expect(try refused.json()["errorMsg"] as? String == "Invalid entity id/secret or secret is expired")
            #expect(!refused.text.contains(old))
            #expect(try await harness.entityToken(Harness.entity, secret: new).status == 200)
            #expect(harness.simulator.counters()[.secretReset] == 1)
            #expect(harness.simulator.counters()[.entityToken] == 3)
        }
    }

    @Test("secretExpiryDays is honoured when 180 or less", arguments: [1, 30, 180])
    func resetHonoursDays(days: Int) async throws {
        try await Harness.run { harness in
            // Before the user token: a reset's validity is capped by the user token's remaining
            // life (token-service-contract.md), so a 180-day expiry may count from its minting.
            let before = harness.simulator.now
            let token = try await harness.userToken()
            let json = try await harness.reset(Harness.entity, token: token, days: days).json()
            let after = harness.simulator.now
            let expiresOn = try #require(Harness.integer(json["expiresOn"]))
            let expiry = Date(timeIntervalSince1970: Double(expiresOn) / 1000)
            #expect(Harness.isOffset(expiry, by: Double(days) * 86_400, between: before, and: after))
            #expect(json["message"] == nil)
        }
    }

    @Test("secretExpiryDays above 180, or none, falls back to 180 days with a message", arguments: [365, nil] as [Int?])
    func resetFallsBackToDefault(days: Int?) async throws {
        try await Harness.run { harness in
            // Before the user token: a reset's validity is capped by the user token's remaining
            // life (token-service-contract.md), so a 180-day expiry may count from its minting.
            let before = harness.simulator.now
            let token = try await harness.userToken()
            let json = try await harness.reset(Harness.entity, token: token, days: days).json()
            let after = harness.simulator.now
            let expiresOn = try #require(Harness.integer(json["expiresOn"]))
            let expiry = Date(timeIntervalSince1970: Double(expiresOn) / 1000)
            #expect(Harness.isOffset(expiry, by: 180 * 86_400, between: before, and: after))
            #expect((json["message"] as? String)?.isEmpty == false)
        }
    }

    @Test("a bad secretExpiryDays answers 400 and changes nothing", arguments: [0, -3, 2.5, "90"] as [any Sendable])
    func resetRejectsBadDays(days: any Sendable) async throws {
        try await Harness.run { harness in
            let token = try await harness.userToken()
            let before = harness.simulator.currentSecret(for: Harness.entity)
            let answer = try await harness.reset(Harness.entity, token: token, days: days)
            #expect(answer.status == 400)
            #expect(harness.simulator.currentSecret(for: Harness.entity) == before)
        }
    }

    @Test("a reset's validity is capped by the user token's remaining life, with a message")
    func resetCappedByUserToken() async throws {
        try await Harness.run(seed: Harness.seed(userTokenLifetime: 10 * 86_400)) { harness in
            let token = try await harness.userToken()
            let exp = try #require(Harness.integer(try Harness.claims(of: token)["exp"]))
            harness.simulator.advanceClock(bySeconds: 86_400)
            let json = try await harness.reset(Harness.entity, token: token, days: 90).json()
            let expiresOn = try #require(Harness.integer(json["expiresOn"]))
            #expect(expiresOn / 1000 == exp, "the secret expires with the user token, 9 days away")
            #expect((json["message"] as? String)?.isEmpty == false)
        }
    }

    @Test("an entity token is a JWT for 24 hours, or the seed's lifetime")
    func entityTokenSuccess() async throws {
        try await Harness.run { harness in
            let secret = try #require(harness.simulator.currentSecret(for: Harness.entity))
            let answer = try await harness.entityToken(Harness.entity, secret: secret)
            #expect(answer.status == 200)
            let json = try answer.json()
            #expect(Harness.integer(json["expiresIn"]) == 86_400)
            #expect(json["tokenType"] as? String == "Bearer")
            #expect(json["ver"] as? String == "1.0.0")
            #expect(json["message"] == nil)
            #expect(UUID(uuidString: try #require(json["txnId"] as? String)) != nil)
            let claims = try Harness.claims(of: try #require(json["accessToken"] as? String))
            #expect(claims["sub"] as? String == Harness.entity)
            let exp = try #require(Harness.integer(claims["exp"]))
            let iat = try #require(Harness.integer(claims["iat"]))
            #expect(exp - iat == 86_400)
        }
        try await Harness.run(seed: Harness.seed(entityTokenLifetime: 15 * 60)) { harness in
            let secret = try #require(harness.simulator.currentSecret(for: Harness.otherEntity))
            let json = try await harness.entityToken(Harness.otherEntity, secret: secret).json()
            #expect(Harness.integer(json["expiresIn"]) == 900)
        }
    }

    @Test("a secret with form-hostile punctuation mints a token when encoded field by field")
    func entityTokenPunctuation() async throws {
        try await Harness.run { harness in
            let secret = "a+b/c=d e&f%g$h#'\"\\"
            harness.simulator.setSecret(secret, for: Harness.entity, expiresIn: 86_400)
            let accepted = try await harness.entityToken(Harness.entity, secret: secret)
            #expect(accepted.status == 200)
            let nearMiss = try await harness.entityToken(Harness.entity, secret: "a b/c=d e&f%g$h#'\"\\")
            #expect(nearMiss.status == 401)
        }
    }

    @Test("inside the 5-day grace period a token comes with a message; after it, 401")
    func gracePeriod() async throws {
        try await Harness.run(seed: Harness.seed(entityExpiresIn: 3_600)) { harness in
            let secret = try #require(harness.simulator.currentSecret(for: Harness.entity))
            harness.simulator.advanceClock(bySeconds: 3_600 + 2 * 86_400)
            let inGrace = try await harness.entityToken(Harness.entity, secret: secret)
            #expect(inGrace.status == 200)
            #expect((try inGrace.json()["message"] as? String)?.isEmpty == false)

            harness.simulator.advanceClock(bySeconds: 4 * 86_400)
            let after = try await harness.entityToken(Harness.entity, secret: secret)
            #expect(after.status == 401)
            #expect(!after.text.contains(secret))
        }
    }

    @Test("a user token past its exp on the simulator's clock answers 401")
    func expiredUserToken() async throws {
        try await Harness.run(seed: Harness.seed(userTokenLifetime: 3_600)) { harness in
            let token = try await harness.userToken()
            #expect(try await harness.read(Harness.entity, token: token).status == 200)
            harness.simulator.advanceClock(bySeconds: 3_601)
            let answer = try await harness.read(Harness.entity, token: token)
            #expect(answer.status == 401)
            #expect(!answer.text.contains(token))
        }
    }

    @Test("entity tokens are unique even within one second")
    func tokensAreUnique() async throws {
        try await Harness.run { harness in
            let secret = try #require(harness.simulator.currentSecret(for: Harness.entity))
            let first = try await harness.entityToken(Harness.entity, secret: secret).json()["accessToken"] as? String
            let second = try await harness.entityToken(Harness.entity, secret: secret).json()["accessToken"] as? String
            #expect(first != nil && first != second)
        }
    }
}

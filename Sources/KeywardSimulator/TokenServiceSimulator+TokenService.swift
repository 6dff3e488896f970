import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The four calls of `token-service-contract.md` and the faults played in front of them.
extension TokenServiceSimulator {
    /// One request as the handlers see it: headers and the whole body.
    struct Call {
        var endpoint: SimulatorEndpoint
        var headers: HTTPFields
        var body: [UInt8]
    }

    /// A refusal in the contract's error envelope. `message` never holds a secret, password or token.
    struct Refusal: Error {
        var status: HTTPResponse.Status
        var message: String

        static func badRequest(_ message: String) -> Refusal { Refusal(status: .badRequest, message: message) }
        static func unauthorized(_ message: String) -> Refusal { Refusal(status: .unauthorized, message: message) }

        /// The one text of every entity-token refusal: a wrong id, a wrong secret and a secret
        /// past its grace period are not told apart (contract, "Quirks").
        static let invalidEntityCredentials = unauthorized("Invalid entity id/secret or secret is expired")
        static let invalidUserToken = unauthorized("Invalid or expired access token")
    }

    /// The largest request body read; the real calls are a few hundred bytes.
    static let maximumBodySize = 64 * 1024

    /// The size of an ``SimulatorFault/oversized`` answer, in bytes: 2 MiB, twice a client's 1 MiB limit.
    static let oversizedBodyBytes = 2 << 20

    func addTokenServiceRoutes(to router: Router<BasicRequestContext>) {
        for endpoint in SimulatorEndpoint.allCases {
            router.post(RouterPath("iam/v1" + endpoint.path)) { request, _ in
                try await self.serve(endpoint, request: request)
            }
        }
    }

    private func serve(_ endpoint: SimulatorEndpoint, request: Request) async throws -> Response {
        var request = request
        let fault = state.withLockedValue { $0.arrive(at: endpoint) }
        // Read the whole body before any fault, so a dropped connection is not mistaken for a
        // client that failed to send.
        let body = try await request.collectBody(upTo: Self.maximumBodySize)
        let call = Call(endpoint: endpoint, headers: request.headers, body: Array(buffer: body))
        logger.debug("token service call", metadata: ["endpoint": "\(endpoint.rawValue)", "fault": "\(fault?.kind ?? "none")"])

        switch fault {
        case nil:
            return await answer(call)
        case .latency(let milliseconds):
            try? await Task.sleep(for: .milliseconds(milliseconds))
            return await answer(call)
        case .status500:
            return Self.plain(.internalServerError, "Internal Server Error\n")
        case .html502:
            let page = """
                <!DOCTYPE html>
                <html><head><title>502 Bad Gateway</title></head>
                <body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>

                """
            var response = Self.plain(.badGateway, page)
            response.headers[.contentType] = "text/html; charset=utf-8"
            return response
        case .rateLimit429(let retryAfterSeconds):
            var response = Self.plain(.tooManyRequests, "Too Many Requests\n")
            response.headers[.retryAfter] = String(max(0, retryAfterSeconds))
            return response
        case .drop:
            var response = Response(status: .ok)
            response.headers[FaultInjectionHandler.marker] = FaultInjectionHandler.Action.drop.rawValue
            return response
        case .truncate:
            var response = await answer(call)
            response.headers[FaultInjectionHandler.marker] = FaultInjectionHandler.Action.truncate.rawValue
            return response
        case .dropAfterApplying:
            var response = await answer(call)
            response.headers[FaultInjectionHandler.marker] = FaultInjectionHandler.Action.drop.rawValue
            return response
        case .oversized:
            // The call is served (a reset happens); its answer is replaced by 2 MiB of JSON.
            _ = await answer(call)
            var body = ByteBuffer(string: "{")
            body.writeRepeatingByte(UInt8(ascii: " "), count: Self.oversizedBodyBytes - 2)
            body.writeString("}")
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
    }

    private func answer(_ call: Call) async -> Response {
        let txnId = Self.requestTxnId(call)
        do {
            switch call.endpoint {
            case .userToken: return try await userToken(call)
            case .secretRead, .secretReset: return try await secret(call)
            case .entityToken: return try await entityToken(call)
            }
        } catch let refusal as Refusal {
            logger.debug("token service refusal", metadata: ["endpoint": "\(call.endpoint.rawValue)", "status": "\(refusal.status.code)"])
            let envelope = ErrorEnvelope(
                timestamp: WireFormat.timestamp(now, fractionDigits: 3),
                txnId: txnId ?? UUID().uuidString.lowercased(),
                errorCode: refusal.status == .badRequest ? "Bad Request" : "Unauthorized",
                errorMsg: refusal.message
            )
            return Self.json(refusal.status, envelope)
        } catch {
            logger.error("token service simulator failed", metadata: ["error.type": "\(type(of: error))"])
            return Self.plain(.internalServerError, "Internal Server Error\n")
        }
    }

    // MARK: The calls

    private func userToken(_ call: Call) async throws -> Response {
        let fields = try Self.formFields(call, required: ["username", "password"])
        let username = fields["username"]!
        let (valid, lifetime) = state.withLockedValue { state in
            let user = state.users[username]
            // Compare even for an unknown user, so timing does not tell users apart.
            let matches = Self.constantTimeEquals(user?.password ?? "", fields["password"]!)
            return (user != nil && matches, state.userTokenLifetime)
        }
        guard valid else { throw Refusal.unauthorized("Invalid username or password") }
        let now = self.now
        let token = try await mint(.user, subject: username, lifetime: lifetime, now: now)
        return Self.json(
            .ok,
            UserTokenAnswer(
                timestamp: WireFormat.timestamp(now, fractionDigits: 9),
                txnId: UUID().uuidString.lowercased(),
                accessToken: token,
                expiresIn: Int(lifetime),
                refreshExpiresIn: 1_800
            )
        )
    }

    private func secret(_ call: Call) async throws -> Response {
        let user = try await authorizedUser(call)
        let request = try Self.secretRequest(call)
        let now = self.now
        let answer: SecretAnswer = try state.withLockedValue { state in
            guard state.users[user.username]?.entities.contains(request.entityId) == true,
                var record = state.entities[request.entityId]
            else {
                throw Refusal.unauthorized("Entity not found or not permitted for this user")
            }
            var messages: [String] = []
            if call.endpoint == .secretReset {
                let maximum = SimulatorState.maximumSecretExpiryDays
                let days: Int
                switch request.secretExpiryDays {
                case nil:
                    days = maximum
                    messages.append("secretExpiryDays not given; the default expiry of \(maximum) days was applied")
                case let asked? where asked > maximum:
                    days = maximum
                    messages.append("secretExpiryDays exceeds the maximum of \(maximum) days; the default expiry of \(maximum) days was applied")
                case let asked?:
                    days = asked
                }
                var expiry = now.addingTimeInterval(TimeInterval(days) * 86_400)
                if user.tokenExpiry < expiry {
                    // A few seconds' difference is the token's own age, not worth a notice.
                    if expiry.timeIntervalSince(user.tokenExpiry) > 60 {
                        messages.append("The secret's validity was capped by the remaining lifetime of the user access token")
                    }
                    expiry = user.tokenExpiry
                }
                record = .init(secret: WireFormat.randomSecret(), expiresAt: expiry)
                state.entities[request.entityId] = record
            }
            return SecretAnswer(
                timestamp: WireFormat.timestamp(now, fractionDigits: 3),
                txnId: request.txnId,
                entityId: request.entityId,
                secret: record.secret,
                expiresOn: record.expiresAt.map { Self.expiresOn($0, unit: state.expiresOnUnit) },
                expirationDate: record.expiresAt.map { WireFormat.expirationDate($0) },
                message: messages.isEmpty ? nil : messages.joined(separator: ". ")
            )
        }
        if call.endpoint == .secretReset {
            logger.info("secret reset", metadata: ["entityId": "\(request.entityId)"])
        }
        return Self.json(.ok, answer)
    }

    private func entityToken(_ call: Call) async throws -> Response {
        let fields = try Self.formFields(call, required: ["id", "secret"])
        let id = fields["id"]!
        let now = self.now
        let (record, lifetime) = state.withLockedValue { ($0.entities[id], $0.entityTokenLifetime) }
        let matches = Self.constantTimeEquals(record?.secret ?? "", fields["secret"]!)
        guard let record, matches else { throw Refusal.invalidEntityCredentials }
        var message: String?
        if let expiresAt = record.expiresAt, expiresAt < now {
            let graceEnd = expiresAt.addingTimeInterval(SimulatorState.gracePeriod)
            guard now <= graceEnd else { throw Refusal.invalidEntityCredentials }
            message = "The secret of entity \(id) expired at \(WireFormat.timestamp(expiresAt, fractionDigits: 0)); "
                + "it is in its grace period until \(WireFormat.timestamp(graceEnd, fractionDigits: 0)). Reset it now."
        }
        let token = try await mint(.entity, subject: id, lifetime: lifetime, now: now)
        return Self.json(
            .ok,
            EntityTokenAnswer(
                timestamp: WireFormat.timestamp(now, fractionDigits: 9),
                txnId: UUID().uuidString.lowercased(),
                accessToken: token,
                expiresIn: Int(lifetime),
                message: message
            )
        )
    }

    // MARK: Tokens

    private func mint(_ kind: SimulatorTokenClaims.Kind, subject: String, lifetime: TimeInterval, now: Date) async throws -> String {
        // Whole seconds, as JWT NumericDate values are written (RFC 7519, section 2).
        let issued = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let id = UUID().uuidString.lowercased()
        if kind == .user { state.withLockedValue { _ = $0.liveUserTokenIDs.insert(id) } }
        let claims = SimulatorTokenClaims(
            sub: .init(value: subject),
            exp: .init(value: issued.addingTimeInterval(lifetime.rounded(.down))),
            iat: .init(value: issued),
            jti: .init(value: id),
            iss: .init(value: "keyward-simulator"),
            kind: kind,
            scope: kind == .user ? "entity:secret" : nil
        )
        return try await keys.sign(claims)
    }

    /// The user behind the request's `Authorization: Bearer` user token, and when that token expires.
    private func authorizedUser(_ call: Call) async throws -> (username: String, tokenExpiry: Date) {
        guard let header = call.headers[.authorization] else {
            throw Refusal.unauthorized("Missing access token")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Refusal.unauthorized("The Authorization header must be 'Bearer <access token>'")
        }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        let claims: SimulatorTokenClaims
        do {
            claims = try await keys.verify(token, as: SimulatorTokenClaims.self)
        } catch {
            throw Refusal.invalidUserToken
        }
        let now = self.now
        let known = state.withLockedValue { $0.users[claims.sub.value] != nil && !$0.revokedUserTokenIDs.contains(claims.jti.value) }
        guard claims.kind == .user, claims.exp.value > now, known else { throw Refusal.invalidUserToken }
        return (claims.sub.value, claims.exp.value)
    }

    // MARK: Requests

    struct SecretRequest {
        var txnId: String
        var entityId: String
        var secretExpiryDays: Int?
    }

    /// Validates the JSON body of `secret/read` and `secret/reset` (contract: `ver`, `timestamp`,
    /// `txnId`, `entityId` required; `secretExpiryDays` an optional positive integer).
    private static func secretRequest(_ call: Call) throws -> SecretRequest {
        guard hasContentType(call.headers, "application/json") else {
            throw Refusal.badRequest("Content-Type must be application/json")
        }
        guard let object = JSONValue.object(from: call.body) else {
            throw Refusal.badRequest("The body must be a JSON object")
        }
        func requiredString(_ name: String) throws -> String {
            guard let value = object[name], value != .null else { throw Refusal.badRequest("Missing required field: \(name)") }
            guard let text = value.string, !text.isEmpty else { throw Refusal.badRequest("Field \(name) must be a non-empty string") }
            return text
        }
        _ = try requiredString("ver")
        let timestamp = try requiredString("timestamp")
        guard WireFormat.isRFC3339(timestamp) else {
            throw Refusal.badRequest("Field timestamp must be an RFC 3339 date-time")
        }
        let txnId = try requiredString("txnId")
        guard UUID(uuidString: txnId) != nil else { throw Refusal.badRequest("Field txnId must be a UUID") }
        let entityId = try requiredString("entityId")
        var days: Int?
        if call.endpoint == .secretReset, let value = object["secretExpiryDays"], value != .null {
            if let asked = value.integer, asked > 0 {
                days = asked
            } else if case .number(let huge) = value, huge.rounded() == huge, huge > 0 {
                days = Int.max  // integral but beyond Int: more than the maximum, so the default applies
            } else {
                throw Refusal.badRequest("Field secretExpiryDays must be a positive integer")
            }
        }
        return SecretRequest(txnId: txnId, entityId: entityId, secretExpiryDays: days)
    }

    /// The request's `txnId`, when a JSON body carried one, for echoing in an error envelope.
    private static func requestTxnId(_ call: Call) -> String? {
        guard call.endpoint == .secretRead || call.endpoint == .secretReset,
            let text = JSONValue.object(from: call.body)?["txnId"]?.string,
            UUID(uuidString: text) != nil
        else { return nil }
        return text
    }

    private static func formFields(_ call: Call, required: [String]) throws -> [String: String] {
        guard hasContentType(call.headers, "application/x-www-form-urlencoded") else {
            throw Refusal.badRequest("Content-Type must be application/x-www-form-urlencoded")
        }
        guard let fields = WireFormat.decodeForm(call.body) else {
            throw Refusal.badRequest("The body is not valid application/x-www-form-urlencoded UTF-8")
        }
        for name in required where (fields[name] ?? "").isEmpty {
            throw Refusal.badRequest("Missing required field: \(name)")
        }
        return fields
    }

    private static func hasContentType(_ headers: HTTPFields, _ expected: String) -> Bool {
        guard let value = headers[.contentType] else { return false }
        let mediaType = value.split(separator: ";", maxSplits: 1).first ?? ""
        return mediaType.trimmingCharacters(in: .whitespaces).lowercased() == expected
    }

    static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8)
        let right = Array(rhs.utf8)
        var difference: UInt8 = left.count == right.count ? 0 : 1
        for index in 0..<max(left.count, right.count) {
            difference |= (index < left.count ? left[index] : 0) ^ (index < right.count ? right[index] : 0)
        }
        return difference == 0
    }

    static func expiresOn(_ date: Date, unit: ExpiresOnUnit) -> Int64 {
        switch unit {
        case .seconds: Int64(date.timeIntervalSince1970.rounded(.down))
        case .milliseconds: Int64((date.timeIntervalSince1970 * 1_000).rounded(.down))
        }
    }

    // MARK: Responses

    static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }
}

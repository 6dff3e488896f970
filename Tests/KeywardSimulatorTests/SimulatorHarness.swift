import AsyncHTTPClient
import Foundation
import KeywardSimulator
import Logging
import NIOCore
import NIOHTTP1
import NIOFoundationCompat
import Testing

/// One answer as a client saw it.
struct WireAnswer {
    var status: Int
    var headers: [String: String]
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: body) as? [String: Any], "not a JSON object: \(text)")
    }
}

/// A running simulator plus an HTTP client pointed at it.
struct Harness {
    let simulator: TokenServiceSimulator
    let baseURL: URL
    let client: HTTPClient

    static let username = "ops@example.com"
    /// Punctuation on purpose: form bodies must be encoded field by field.
    static let password = "p@ss+w/rd=&%20 ok"
    static let entity = "FIU-EXAMPLE-1"
    static let otherEntity = "FIU-EXAMPLE-2"
    static let foreignEntity = "AA-SOMEONE-ELSE"

    static func seed(
        entityExpiresIn: TimeInterval? = 90 * 86_400,
        userTokenLifetime: TimeInterval? = nil,
        entityTokenLifetime: TimeInterval? = nil
    ) -> SimulatorSeed {
        SimulatorSeed(
            users: [.init(username: username, password: password, entities: [entity, otherEntity])],
            entities: [
                .init(id: entity, secret: nil, expiresIn: entityExpiresIn),
                .init(id: otherEntity, secret: "legacy$secret#'\"\\", expiresIn: nil),
                .init(id: foreignEntity, secret: nil, expiresIn: 180 * 86_400),
            ],
            userTokenLifetime: userTokenLifetime,
            entityTokenLifetime: entityTokenLifetime
        )
    }

    /// Starts a simulator on a free loopback port, runs `body`, then shuts both down.
    static func run<T>(
        seed: SimulatorSeed = Harness.seed(),
        logger: Logger? = nil,
        _ body: (Harness) async throws -> T
    ) async throws -> T {
        let simulator = logger.map { TokenServiceSimulator(seed: seed, logger: $0) } ?? TokenServiceSimulator(seed: seed)
        let baseURL = try await simulator.start()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let harness = Harness(simulator: simulator, baseURL: baseURL, client: client)
        do {
            let result = try await body(harness)
            try await client.shutdown()
            await simulator.stop()
            return result
        } catch {
            try? await client.shutdown()
            await simulator.stop()
            throw error
        }
    }

    var root: String { baseURL.absoluteString.replacingOccurrences(of: "/iam/v1", with: "") }

    // MARK: Requests

    func send(
        _ method: HTTPMethod,
        _ url: String,
        contentType: String? = nil,
        headers: [String: String] = [:],
        body: String? = nil
    ) async throws -> WireAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        // Generous: a machine busy with other suites (readers, builds) must not fail a test of the
        // simulator's answers; timeouts are tested on the client's side.
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return WireAnswer(status: Int(response.status.code), headers: fields, body: Data(buffer: bytes))
    }

    func postForm(_ endpoint: SimulatorEndpoint, _ fields: [(String, String)]) async throws -> WireAnswer {
        try await send(
            .POST, baseURL.absoluteString + endpoint.path,
            contentType: "application/x-www-form-urlencoded",
            body: Self.formEncode(fields)
        )
    }

    func postJSON(_ endpoint: SimulatorEndpoint, _ object: [String: Any], bearer: String?) async throws -> WireAnswer {
        let data = try JSONSerialization.data(withJSONObject: object)
        return try await send(
            .POST, baseURL.absoluteString + endpoint.path,
            contentType: "application/json",
            headers: bearer.map { ["Authorization": "Bearer \($0)"] } ?? [:],
            body: String(decoding: data, as: UTF8.self)
        )
    }

    func admin(_ method: HTTPMethod, _ path: String, _ object: [String: Any]? = nil) async throws -> WireAnswer {
        let body = try object.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        return try await send(method, root + path, contentType: body == nil ? nil : "application/json", body: body)
    }

    // MARK: The calls, the happy way

    func userToken(username: String = Harness.username, password: String = Harness.password) async throws -> String {
        let answer = try await postForm(.userToken, [("username", username), ("password", password)])
        #expect(answer.status == 200, "user token: \(answer.text)")
        return try #require(try answer.json()["accessToken"] as? String)
    }

    static func secretRequest(_ entityId: String?, txnId: String = UUID().uuidString, days: Any? = nil) -> [String: Any] {
        var object: [String: Any] = [
            "ver": "1.0.0",
            "timestamp": "2024-10-10T10:33:56.177Z",
            "txnId": txnId,
        ]
        if let entityId { object["entityId"] = entityId }
        if let days { object["secretExpiryDays"] = days }
        return object
    }

    func read(_ entityId: String, token: String) async throws -> WireAnswer {
        try await postJSON(.secretRead, Self.secretRequest(entityId), bearer: token)
    }

    func reset(_ entityId: String, token: String, days: Any? = nil) async throws -> WireAnswer {
        try await postJSON(.secretReset, Self.secretRequest(entityId, days: days), bearer: token)
    }

    func entityToken(_ entityId: String, secret: String) async throws -> WireAnswer {
        try await postForm(.entityToken, [("id", entityId), ("secret", secret)])
    }

    // MARK: Helpers

    /// application/x-www-form-urlencoded, field by field: only unreserved bytes stay literal.
    static func formEncode(_ fields: [(String, String)]) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        func encode(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: unreserved)!
        }
        return fields.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    /// The claims of a JWT, unverified.
    static func claims(of token: String) throws -> [String: Any] {
        let parts = token.split(separator: ".")
        try #require(parts.count == 3, "not a JWT")
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        let data = try #require(Data(base64Encoded: payload))
        return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A JSON number as an exact integer, or `nil` for anything else (a fraction, a string).
    /// Whether `date` lies `offset` seconds after some instant of the simulator's clock between
    /// `before` and `after` (read around the call that set it), give or take `slack` seconds for
    /// the wire format's rounding. A loaded machine may stall for seconds between a call and the
    /// next clock read, so a fixed tolerance around "now after the call" is not a sound check.
    static func isOffset(_ date: Date, by offset: TimeInterval, between before: Date, and after: Date, slack: TimeInterval = 1) -> Bool {
        let value = date.timeIntervalSince1970
        return value >= before.timeIntervalSince1970 + offset - slack && value <= after.timeIntervalSince1970 + offset + slack
    }

    static func integer(_ value: Any?) -> Int? {
        if let whole = value as? Int { return whole }
        guard let number = value as? NSNumber else { return nil }
        return Int(exactly: number.doubleValue)
    }
}

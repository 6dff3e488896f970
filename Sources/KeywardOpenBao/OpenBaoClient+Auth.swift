import Foundation
import KeywardCore
import NIOHTTP1

/// The client's token: resolved (``OpenBaoAuth/token(_:)``) or obtained by AppRole login on
/// the first request, renewed with `auth/token/renew-self` when renewable and less than a third
/// of its period is left (checked before each request; no background task), and, for AppRole,
/// obtained again by login when it can no longer be renewed or a request was refused with 403.
actor OpenBaoAuthenticator {
    struct Held: Sendable {
        var token: String
        var renewable: Bool
        /// When the token expires (`nil`: never, or unknown).
        var expires: ContinuousClock.Instant?
        /// Its last granted TTL: renewal is due when less than a third of it is left.
        var period: Duration?
    }

    let auth: OpenBaoAuth
    let credentials: CredentialResolver
    private var held: Held?
    private var pending: Task<Held, any Error>?
    /// The tokens after whose 403 a new login was already made (one re-login per token).
    private var reloggedAfter: Set<String> = []

    init(auth: OpenBaoAuth, credentials: CredentialResolver) {
        self.auth = auth
        self.credentials = credentials
    }

    var isAppRole: Bool { if case .appRole = auth { true } else { false } }

    /// `true` once per token for an AppRole client: a 403 then means "log in again and retry".
    func canLogInAgain(after token: String) -> Bool {
        guard isAppRole, !reloggedAfter.contains(token) else { return false }
        reloggedAfter.insert(token)
        return true
    }

    /// The token to send; `replacing` drops that token first (it was refused).
    func token(transport: OpenBaoTransport, deadline: ContinuousClock.Instant, context: OperationContext,
               replacing: String? = nil) async throws -> String
    {
        if let replacing, held?.token == replacing { held = nil }
        if let pending { return try await pending.value.token }
        if let current = held {
            guard current.renewable, let expires = current.expires, let period = current.period,
                expires - ContinuousClock.now < period / 3
            else { return current.token }
        }
        let previous = held
        let task = Task { try await self.refresh(previous, transport: transport, deadline: deadline, context: context) }
        pending = task
        do {
            let fresh = try await task.value
            pending = nil
            held = fresh
            return fresh.token
        } catch {
            pending = nil
            throw error
        }
    }

    /// Renews `previous` when there is one; otherwise (or when renewal fails for an AppRole
    /// token) obtains a token.
    private func refresh(_ previous: Held?, transport: OpenBaoTransport, deadline: ContinuousClock.Instant,
                         context: OperationContext) async throws -> Held
    {
        if let previous {
            if let renewed = try? await renew(previous, transport: transport, deadline: deadline) { return renewed }
            guard isAppRole else { return Held(token: previous.token, renewable: false, expires: previous.expires, period: nil) }
        }
        switch auth {
        case .token(let reference):
            let token = try await credentials.resolve(reference, context: context).revealUTF8()
            return await lookUp(token, transport: transport, deadline: deadline)
        case .appRole(let roleID, let secretID, let mount):
            let role = try await credentials.resolve(roleID, context: context).revealUTF8()
            let secret = try await credentials.resolve(secretID, context: context).revealUTF8()
            return try await logIn(roleID: role, secretID: secret, mount: mount, transport: transport, deadline: deadline)
        }
    }

    private struct AuthAnswer: Decodable {
        struct Auth: Decodable {
            var client_token: String?
            var lease_duration: Int?
            var renewable: Bool?
        }
        var auth: Auth?
    }

    private struct LookupAnswer: Decodable {
        struct Data: Decodable {
            var ttl: Int?
            var renewable: Bool?
            var creation_ttl: Int?
            var period: Int?
        }
        var data: Data?
    }

    private func held(from answer: AuthAnswer.Auth, fallbackToken: String? = nil) -> Held? {
        guard let token = answer.client_token ?? fallbackToken, !token.isEmpty else { return nil }
        let lease = answer.lease_duration ?? 0
        return Held(token: token, renewable: answer.renewable ?? false,
                    expires: lease > 0 ? ContinuousClock.now + .seconds(lease) : nil,
                    period: lease > 0 ? .seconds(lease) : nil)
    }

    /// `auth/token/lookup-self`: whether the token is renewable and when it expires. A failed
    /// lookup (a policy without it, a revoked token) leaves the token as is: the request itself
    /// then says what is wrong.
    private func lookUp(_ token: String, transport: OpenBaoTransport, deadline: ContinuousClock.Instant) async -> Held {
        let plain = Held(token: token, renewable: false, expires: nil, period: nil)
        guard let response = try? await transport.send(.GET, "auth/token/lookup-self", shownPath: "auth/token/lookup-self", token: token,
                                                       body: nil, consistent: false, deadline: deadline),
            response.status == 200,
            let data = (try? JSONDecoder().decode(LookupAnswer.self, from: response.body))?.data
        else { return plain }
        let ttl = data.ttl ?? 0
        guard ttl > 0 else { return plain }
        let period = [data.period ?? 0, data.creation_ttl ?? 0, ttl].first { $0 > 0 } ?? ttl
        return Held(token: token, renewable: data.renewable ?? false, expires: ContinuousClock.now + .seconds(ttl), period: .seconds(period))
    }

    private func renew(_ previous: Held, transport: OpenBaoTransport, deadline: ContinuousClock.Instant) async throws -> Held {
        let path = "auth/token/renew-self"
        let response = try await transport.send(.POST, path, shownPath: path, token: previous.token, body: Data("{}".utf8),
                                                consistent: false, deadline: deadline)
        guard response.status == 200,
            let answer = (try? JSONDecoder().decode(AuthAnswer.self, from: response.body))?.auth,
            let renewed = held(from: answer, fallbackToken: previous.token)
        else { throw transport.failure(response, path) }
        return renewed
    }

    private func logIn(roleID: String, secretID: String, mount: String, transport: OpenBaoTransport,
                       deadline: ContinuousClock.Instant) async throws -> Held
    {
        let path = try "auth/" + transport.validatedPath([mount], what: "AppRole mount") + "/login"
        struct Login: Encodable { var role_id: String; var secret_id: String }
        let body = try JSONEncoder().encode(Login(role_id: roleID, secret_id: secretID))
        let response = try await transport.send(.POST, path, shownPath: path, token: nil, body: body, consistent: false, deadline: deadline)
        guard response.status == 200 else {
            var failure = transport.failure(response, path)
            if response.status == 400 || response.status == 401 || response.status == 403 {
                failure.kind = .forbidden
                failure.detail = "AppRole login refused" + (response.errorText.isEmpty ? "" : ": \(response.errorText)")
            }
            // The server's words for a refused login never hold the IDs, but scrub them anyway.
            for secret in [roleID, secretID] where secret.count >= 4 {
                failure.detail = failure.detail.replacingOccurrences(of: secret, with: "<redacted>")
            }
            throw failure
        }
        guard let answer = (try? JSONDecoder().decode(AuthAnswer.self, from: response.body))?.auth, let logged = held(from: answer) else {
            throw transport.error(.badResponse, path, status: 200, "the login answer has no client_token")
        }
        return logged
    }
}

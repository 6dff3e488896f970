import AsyncHTTPClient
import Foundation
import KeywardCore

/// The `token-service` provider: entity secrets read, reset and turned into entity access
/// tokens through the IAM token service (token-service-contract.md).
///
/// The admin user's password is resolved from the provider's `password` reference at each
/// call that needs a user token; user tokens are cached by the client in memory.
public struct TokenServiceProvider: SecretRotator, AccessTokenIssuer, CredentialVerifier {
    /// The `type` name in `keyward.yaml`.
    public static let type = "token-service"

    public var name: String { configuration.name }
    public let configuration: ProviderConfiguration
    /// The section's options, parsed.
    public let options: TokenServiceOptions
    public let client: TokenServiceClient
    private let credentials: CredentialResolver
    /// Where user tokens persist between processes (`providers/<NAME>/user-token`), if anywhere.
    private let store: (any SecretStore)?
    private let gate = UserTokenGate()

    /// - Parameter store: the vault, to persist the user token across runs until shortly
    ///   before it expires; `nil` keeps it in memory only.
    /// - Throws: ``KeywardError`` (usage) for options the descriptor refuses (a section built in
    ///   code; the loader checked one read from a file); ``TokenServiceError`` for a base URL the
    ///   client refuses.
    public init(configuration: ProviderConfiguration, credentials: CredentialResolver, store: (any SecretStore)? = nil,
                httpClient: HTTPClient = TokenServiceClient.sharedHTTPClient, retry: RetryPolicy = RetryPolicy()) throws {
        self.configuration = configuration
        let options = try TokenServiceOptions(configuration)
        self.options = options
        self.credentials = credentials
        self.store = store
        self.client = try TokenServiceClient(
            configuration: .init(baseURL: options.baseURL, timeout: .seconds(options.timeout.components.seconds), retry: retry),
            httpClient: httpClient)
    }

    /// Registers this provider type in `registry`, as the type of a provider section that names
    /// none.
    public static func register(in registry: inout PluginRegistry, httpClient: HTTPClient = TokenServiceClient.sharedHTTPClient) {
        registry.registerProvider(descriptor, isDefault: true) { configuration, environment in
            try TokenServiceProvider(configuration: configuration, credentials: environment.credentials, store: environment.store, httpClient: httpClient)
        }
    }

    /// A user access token for the configured admin user.
    ///
    /// - Throws: ``KeywardError`` when the password reference cannot be resolved;
    ///   ``TokenServiceError`` from the service.
    public func userToken(context: OperationContext) async throws -> AccessToken {
        try await userTokenNotingReuse(context: context).token
    }

    /// ``userToken(context:)``, and whether the token was reused (kept in memory or in the vault)
    /// rather than minted by this call: only a reused token the service refuses is worth
    /// replacing.
    private func userTokenNotingReuse(context: OperationContext) async throws -> (token: AccessToken, reused: Bool) {
        // One request at a time per provider: entities synced concurrently share one user token.
        try await gate.serialize {
            guard !options.username.isEmpty else {
                throw KeywardError.usage("provider '\(configuration.name)' has no username: its entities follow the shared store "
                                         + "(secretSource: shared), so it never reads or resets a secret")
            }
            let password = try await credentials.resolve(options.password, context: context)
            if let persisted = try await persistedUserToken(context: context) {
                client.adoptUserToken(persisted, username: options.username, password: password)
            }
            if let cached = client.cachedUserToken(username: options.username, password: password, at: context.clock.now) {
                return (cached, true)
            }
            // Processes that need a new user token together obtain one: the
            // others wait for `<vault>.locks/providers-<NAME>.user-token.lock`, then adopt the
            // token the first one persisted.
            guard !context.dryRun, let coordinator = store as? any MintCoordinator else {
                let token = try await client.userToken(username: options.username, password: password, context: context)
                try await persist(token, context: context)
                return (token, false)
            }
            return try await coordinator.withMintLock(.userToken(provider: configuration.name), operation: "user token mint",
                                                      timeout: .seconds(options.timeout.components.seconds)) { _ in
                if let persisted = try await persistedUserToken(context: context) {
                    client.adoptUserToken(persisted, username: options.username, password: password)
                }
                let token = try await client.userToken(username: options.username, password: password, context: context)
                try await persist(token, context: context)
                return (token, false)
            }
        }
    }

    /// The user token kept in the vault, when it belongs to this username.
    private func persistedUserToken(context: OperationContext) async throws -> AccessToken? {
        guard let store, let record = try await store.read(.providerUserToken(configuration.name), label: .current, context: context),
            record.source == options.username, let expiresAt = record.expiresAt
        else { return nil }
        return AccessToken(value: record.value, expiresAt: expiresAt, issuedAt: record.createdAt, txnId: record.txnId, message: nil)
    }

    /// Proves the password by obtaining a user token with it (contract, `POST /user/token/generate`).
    ///
    /// - Throws: ``TokenServiceError`` (``TokenServiceError/Code/unauthorized``) for a wrong password.
    public func verify(password: SecretValue, context: OperationContext) async throws {
        client.invalidateUserToken(username: options.username)
        let token = try await client.userToken(username: options.username, password: password, context: context)
        try await persist(token, context: context)
    }

    /// Keeps the user token in the vault (`providers/<NAME>/user-token`) for later runs.
    private func persist(_ token: AccessToken, context: OperationContext) async throws {
        guard let store, !context.dryRun else { return }
        let name = SecretName.providerUserToken(configuration.name)
        guard try await store.read(name, label: .current, context: context)?.value != token.value else { return }
        let record = SecretRecord(value: token.value, createdAt: token.issuedAt, expiresAt: token.expiresAt,
                                  source: options.username, txnId: token.txnId)
        _ = try await store.write(name, record: record, label: .current, context: context)
    }

    /// Fetches a fresh user token, never a cached or persisted one: a reset's validity is capped
    /// by the user token's remaining life (contract, "Reset semantics"), and a long-running
    /// process may hold one that is close to its end.
    ///
    /// - Throws: ``KeywardError`` when the password cannot be resolved; ``TokenServiceError``.
    public func prepareReset(for entity: EntityID, context: OperationContext) async throws {
        client.invalidateUserToken(username: options.username)
        let persisted = SecretName.providerUserToken(configuration.name)
        if let store, !context.dryRun, try await store.read(persisted, label: .current, context: context) != nil {
            try await store.remove(persisted, context: context)
        }
        _ = try await userToken(context: context)
    }

    public func readSecret(for entity: EntityID, context: OperationContext) async throws -> ProvidedSecret {
        let secret = try await withUserToken(context: context) { token in
            try await client.readSecret(entity: entity, userToken: token, context: context)
        }
        return provided(secret, context: context, warnings: secret.message.map { ["token service: \($0)"] } ?? [])
    }

    public func resetSecret(for entity: EntityID, validityDays: Int?, context: OperationContext) async throws -> ProvidedSecret {
        let secret = try await withUserToken(context: context) { token in
            try await client.resetSecret(entity: entity, validityDays: validityDays, userToken: token, context: context)
        }
        var warnings = secret.message.map { ["token service: \($0)"] } ?? []
        let asked = Double(validityDays ?? 180) * 86_400
        if let expiresAt = secret.expiresAt, expiresAt.timeIntervalSince(context.clock.now) < asked - 3_600 {
            // Rounded to the nearest day, so 89.9 days reads "90 days".
            let days = Int((expiresAt.timeIntervalSince(context.clock.now) / 86_400).rounded())
            let askedDays = Int(asked / 86_400)
            warnings.append("the new secret is valid for \(days >= askedDays ? "just under \(askedDays)" : "\(days)") days, shorter than the \(askedDays) asked for")
        }
        return provided(secret, context: context, warnings: warnings)
    }

    public func issueAccessToken(for entity: EntityID, secret: SecretValue, context: OperationContext) async throws -> ProvidedSecret {
        let token = try await client.generateEntityToken(entity: entity, secret: secret, context: context)
        let record = SecretRecord(value: token.value, createdAt: token.issuedAt, expiresAt: token.expiresAt, source: name, txnId: token.txnId)
        return ProvidedSecret(record: record, warnings: token.message.map { ["token service (secret inside its grace period?): \($0)"] } ?? [])
    }

    private func provided(_ secret: EntitySecret, context: OperationContext, warnings: [String]) -> ProvidedSecret {
        ProvidedSecret(
            record: SecretRecord(value: secret.secret, createdAt: context.clock.now, expiresAt: secret.expiresAt, source: name, txnId: secret.txnId),
            warnings: warnings)
    }

    /// Runs `body` with a user token; when a reused (cached or persisted) token is refused (401),
    /// forgets it, mints a fresh one from the configured password once (under the user-token
    /// lock, ``userToken(context:)``) and runs `body` once more. Safe for reset too: a 401 means
    /// the service did not act (token-service-contract.md: a 400/401/429 means the server did
    /// not act), so the retried reset is the same journal step, never a second reset.
    /// A token this call minted itself is not retried: the password or the permission is wrong.
    private func withUserToken<T>(context: OperationContext, _ body: (AccessToken) async throws -> T) async throws -> T {
        let (token, reused) = try await userTokenNotingReuse(context: context)
        do {
            return try await body(token)
        } catch let error as TokenServiceError where error.code == .unauthorized && reused {
            client.invalidateUserToken(username: options.username)
            if let store, !context.dryRun,
                try await store.read(.providerUserToken(configuration.name), label: .current, context: context)?.value == token.value
            {
                try? await store.remove(.providerUserToken(configuration.name), context: context)
            }
            return try await body(try await userToken(context: context))
        }
    }
}

/// Serializes user token requests of one provider.
private actor UserTokenGate {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func serialize<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        while busy {
            await withCheckedContinuation { waiters.append($0) }
        }
        busy = true
        defer {
            busy = false
            if !waiters.isEmpty { waiters.removeFirst().resume() }
        }
        return try await body()
    }
}

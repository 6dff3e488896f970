import AsyncHTTPClient
import Foundation
import KeywardCore

/// The `token-service` provider: entity secrets read, reset and turned into entity access
/// tokens through the IAM token service (token-service-contract.md).
///
/// The admin user's password is resolved from the provider's `password` reference at each
/// call that needs a user token; user tokens are cached by the client in memory.
public struct TokenServiceProvider: SecretRotator, AccessTokenIssuer {
    /// The `type` name in `keyward.yaml`.
    public static let type = "token-service"

    public var name: String { configuration.name }
    public let configuration: ProviderConfiguration
    public let client: TokenServiceClient
    private let credentials: CredentialResolver

    /// - Throws: ``TokenServiceError`` for a base URL the client refuses.
    public init(configuration: ProviderConfiguration, credentials: CredentialResolver,
                httpClient: HTTPClient = .shared, retry: RetryPolicy = RetryPolicy()) throws {
        self.configuration = configuration
        self.credentials = credentials
        self.client = try TokenServiceClient(
            configuration: .init(baseURL: configuration.baseURL, timeoutSeconds: Double(configuration.timeoutSeconds), retry: retry),
            httpClient: httpClient)
    }

    /// Registers this provider type in `registry`.
    public static func register(in registry: inout PluginRegistry, httpClient: HTTPClient = .shared) {
        registry.registerProvider(type: type) { configuration, environment in
            try TokenServiceProvider(configuration: configuration, credentials: environment.credentials, httpClient: httpClient)
        }
    }

    /// A user access token for the configured admin user.
    ///
    /// - Throws: ``KeywardError`` when the password reference cannot be resolved;
    ///   ``TokenServiceError`` from the service.
    public func userToken(context: OperationContext) async throws -> AccessToken {
        let password = try await credentials.resolve(configuration.password, context: context)
        return try await client.userToken(username: configuration.username, password: password, context: context)
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
            let days = Int(expiresAt.timeIntervalSince(context.clock.now) / 86_400)
            warnings.append("the new secret is valid for \(days) days, shorter than the \(Int(asked / 86_400)) asked for")
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

    /// Runs `body` with a user token; when a cached token is refused (401), forgets it and
    /// tries once more with a fresh one. Safe for reset too: a 401 means the service did not act.
    private func withUserToken<T>(context: OperationContext, _ body: (AccessToken) async throws -> T) async throws -> T {
        let token = try await userToken(context: context)
        do {
            return try await body(token)
        } catch let error as TokenServiceError where error.code == .unauthorized && token.issuedAt < context.clock.now.addingTimeInterval(-1) {
            client.invalidateUserToken(username: configuration.username)
            return try await body(try await userToken(context: context))
        }
    }
}

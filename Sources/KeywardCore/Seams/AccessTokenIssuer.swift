import Foundation

/// A provider that mints entity access tokens from an entity secret (contract:
/// `POST /entity/token/generate`).
public protocol AccessTokenIssuer: SecretProvider {
    /// Mints an access token for `entity` with `secret`.
    func issueAccessToken(for entity: EntityID, secret: SecretValue, context: OperationContext) async throws -> ProvidedSecret
}

import Foundation
import JWTKit

/// The claims of the access tokens the simulator mints (HS256, a random key per simulator).
///
/// `exp` and `iat` are whole seconds on the simulator's clock. Expiry is checked by the
/// simulator against its own (movable) clock, not by ``verify(using:)``, which would use the
/// system clock.
struct SimulatorTokenClaims: JWTPayload {
    enum Kind: String, Codable { case user, entity }

    /// The username for user tokens, the entity id for entity tokens.
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var jti: IDClaim
    var iss: IssuerClaim
    /// Which call minted the token, so an entity token cannot stand in for a user token.
    var kind: Kind
    var scope: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        // The signature is checked by JWTKit; expiry is checked against the simulator's clock.
    }
}

import Foundation

/// A provider whose credentials (an admin password) can be checked before they are stored,
/// as `keyward login` does.
public protocol CredentialVerifier: SecretProvider {
    /// Proves that `password` works, without storing it.
    ///
    /// - Throws: the provider's error; an authentication failure for a wrong password.
    func verify(password: SecretValue, context: OperationContext) async throws
}

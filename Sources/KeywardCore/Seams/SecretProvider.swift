import Foundation

/// A source of entity secrets, such as the IAM token service (`type: token-service`).
///
/// Implementations are values built from configuration by the ``PluginRegistry``; the engine
/// holds a mixed list of them as `any SecretProvider`, so the protocol has no associated types.
public protocol SecretProvider: Sendable {
    /// The provider's name in `keyward.yaml` (`providers.<name>`).
    var name: String { get }

    /// Reads the entity's current secret without changing it.
    ///
    /// - Throws: the provider's own error type; the CLI maps it to an exit code.
    func readSecret(for entity: EntityID, context: OperationContext) async throws -> ProvidedSecret
}

/// A provider that can also issue a new secret, invalidating the old one (contract:
/// `POST /entity/secret/reset`). Not idempotent: callers must never repeat a reset whose
/// outcome is unknown, and recover by ``SecretProvider/readSecret(for:context:)`` instead.
public protocol SecretRotator: SecretProvider {
    /// Resets the entity's secret.
    ///
    /// - Parameter validityDays: the validity asked for the new secret, in days; `nil` leaves the
    ///   provider's default (its type's ``ProviderTypeDescriptor/secretValidity``).
    func resetSecret(for entity: EntityID, validityDays: Int?, context: OperationContext) async throws -> ProvidedSecret

    /// Gets ready for ``resetSecret(for:validityDays:context:)`` without acting on the entity:
    /// the token service fetches a fresh user token here, since a reset's validity is capped by
    /// the user token's remaining life (token-service-contract.md, "Reset semantics"). Rotation
    /// calls it while its journal entry is still `pending`, so a failure here is known to have
    /// changed nothing and the entry is closed `aborted`.
    func prepareReset(for entity: EntityID, context: OperationContext) async throws
}

extension SecretRotator {
    /// Nothing to prepare.
    public func prepareReset(for entity: EntityID, context: OperationContext) async throws {}
}

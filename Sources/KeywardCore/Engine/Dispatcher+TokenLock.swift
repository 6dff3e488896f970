import Foundation
import Logging

extension Dispatcher {
    /// The entity token the vault holds, when it stays valid for longer than the entity's
    /// `tokenRefreshBefore`; `nil` when a mint is due.
    func freshToken(_ id: EntityID, vault: any VaultServices, context: OperationContext) async throws -> SecretRecord? {
        guard let refreshBefore = configuration.entities[id]?.tokenRefreshBefore,
            let held = try await vault.read(.entityToken(id), label: .current, context: context), let expiresAt = held.expiresAt,
            expiresAt.timeIntervalSince(context.clock.now) > refreshBefore.timeInterval
        else { return nil }
        return held
    }

    /// Runs `body` holding `id`'s token lock (`<vault>.locks/<entity>.token.lock`, DESIGN.md
    /// "Files and defaults") when the vault coordinates mints (``MintCoordinator``), waiting
    /// for another process's mint up to the entity's provider timeout. `body` reads the vault
    /// again before it mints: what another process minted meanwhile is used, not minted twice
    ///. Dry runs and stores without the seam run `body` unlocked.
    func withTokenLock<T: Sendable>(_ id: EntityID, operation: String, context: OperationContext,
                                    _ body: (_ locked: Bool) async throws -> T) async throws -> T
    {
        guard !context.dryRun, let coordinator = vault else { return try await body(false) }
        let timeout = configuration.entities[id].flatMap { configuration.providers[$0.provider] }
            .map { registry.providerSettings($0).callTimeout.components.seconds } ?? 10
        return try await coordinator.withMintLock(.entityToken(id), operation: operation, timeout: .seconds(timeout)) { locked in
            if !locked {
                context.logger.notice("\(id): another process has held the token lock for \(timeout)s; reading the vault and minting if still due")
            }
            return try await body(locked)
        }
    }

    /// `id`'s entity token: the vault's while it is fresh, else one minted with `secret` and
    /// stored, under the token lock, so processes that find it due together make one mint.
    ///
    /// - Returns: the token, whether this call minted it, and the service's warnings.
    /// - Throws: the provider's or the vault's error.
    func mintTokenIfDue(_ id: EntityID, secret: SecretRecord, issuer: any AccessTokenIssuer, vault: any VaultServices,
                        operation: String, context: OperationContext) async throws -> (record: SecretRecord, minted: Bool, warnings: [String])
    {
        try await withTokenLock(id, operation: operation, context: context) { _ in
            if let held = try await freshToken(id, vault: vault, context: context) { return (held, false, []) }
            let minted = try await issuer.issueAccessToken(for: id, secret: secret.value, context: context)
            let stored = try await vault.write(.entityToken(id), record: minted.record, label: .current, context: context)
            return (stored, true, minted.warnings)
        }
    }
}

import Foundation
import Logging

/// The engine's side of a shared store (DESIGN.md, "Beyond one machine"): where a follower's
/// secret comes from, the publication rule, and what a rotation reads before it may reset.
extension Dispatcher {
    /// Whether `id` follows the shared store (`secretSource: shared`): its secret is read from the
    /// publication record, and this host never resets it.
    public func followsShared(_ id: EntityID) -> Bool {
        configuration.entities[id]?.secretSource == .shared
    }

    /// A digest naming `value` in a rotation lease: the shared store's (SHA-256, the same on every
    /// host) when one is configured, else the vault's keyed fingerprint (the local lock never
    /// leaves this host).
    func leaseDigest(_ value: SecretValue, vault: any VaultServices) -> String {
        shared?.digest(value) ?? vault.fingerprint(value)
    }

    /// The entity's current secret from where it comes from: the provider's service, or for a
    /// follower the shared store's publication record (read consistently).
    ///
    /// - Throws: the provider's error; for a follower, the store's error, or ``KeywardError``
    ///   (operation failed) when nothing is published yet.
    func readSourceSecret(_ id: EntityID, provider: any SecretProvider, context: OperationContext) async throws -> ProvidedSecret {
        guard followsShared(id) else { return try await provider.readSecret(for: id, context: context) }
        guard let shared else {
            throw KeywardError.usage("entity '\(id)' has secretSource: shared, and no shared store is configured")
        }
        guard let publication = try await shared.publication(of: id, context: context) else {
            throw KeywardError.operationFailed(
                "\(id) follows the shared store (\(shared.location)), which holds no published secret for it yet: "
                    + "a host that reads it from the service publishes it at its next sync or rotation")
        }
        return ProvidedSecret(record: publication.record)
    }

    /// DESIGN.md, "Publication": publishes what the service holds now, unless the record
    /// already holds it. `serviceSecret` (what the service returned to the caller) settles the
    /// common case with one consistent read of the record; when the record holds another secret,
    /// the service is read again right before publishing, so a host that was slow since its read
    /// never publishes a secret that a reset elsewhere has killed, and the write is
    /// check-and-set against the record read first. A conflict (another host published
    /// meanwhile) is read again once.
    ///
    /// - Returns: the generation published, or `nil` when the record already held the secret
    ///   (or no shared store is configured, the entity follows it, or the run is dry).
    /// - Throws: the store's or the provider's error.
    @discardableResult
    func publishIfBehind(_ id: EntityID, serviceSecret: SecretRecord, provider: any SecretProvider, vault: any VaultServices,
                         context: OperationContext) async throws -> UInt64? {
        guard let shared, !followsShared(id), !context.dryRun else { return nil }
        CrashHook.at(.beforePublish, environment: environment)
        var record = try await shared.publication(of: id, context: context)
        if let held = record, held.secret == serviceSecret.value { return nil }
        var serviceSecret = serviceSecret
        for attempt in 0..<2 {
            let fresh = try await provider.readSecret(for: id, context: context).record
            if let record, record.secret == fresh.value { return nil }
            serviceSecret = fresh
            do {
                let published = try await shared.publish(id, secret: serviceSecret, fingerprint: vault.fingerprint(serviceSecret.value),
                                                         txnId: serviceSecret.txnId, replacing: record, context: context)
                context.logger.notice("\(id): published generation \(published.generation) to \(shared.location)")
                return published.generation
            } catch where attempt == 0 {
                record = try await shared.publication(of: id, context: context)
            }
        }
        return nil
    }

    /// What a rotation does under a fresh shared lease before it may reset (DESIGN.md, "Fencing
    /// the reset" and "Due, across hosts"):
    /// 1. a lease a previous holder left mid-rotation (`pending`, `sent`, `stored`): the service's
    ///    secret is read; when it is not the one that rotation started from, the rotation
    ///    happened, and it is finished by storing and publishing that secret;
    /// 2. the publication record is read, and a newer secret than the vault's is adopted.
    ///
    /// What ``settleFromShared(_:provider:lease:vault:startGeneration:context:)`` found.
    enum SharedSettlement {
        /// Nothing to do: the rotation goes on.
        case proceed
        /// A newer published secret is now the vault's current one: the rotation goes on only
        /// if it is still due (sinks are written either way).
        case adopted(String)
        /// The entity is settled without a reset: `changed` when the vault's secret changed.
        case settled(changed: Bool, reason: String)
    }

    /// - Parameter startGeneration: the publication's generation when the process started, for
    ///   `--force` (a publication made since satisfies it); `nil` without `--force`.
    func settleFromShared(_ id: EntityID, provider: any SecretProvider, lease: any RotationLease, vault: any VaultServices,
                          startGeneration: UInt64?, context: OperationContext) async throws -> SharedSettlement
    {
        guard let shared else { return .proceed }
        let name = SecretName.entitySecret(id)
        if let inherited = lease.inherited, [.pending, .sent, .stored].contains(inherited.state), let startedFrom = inherited.secretHash {
            let service = try await provider.readSecret(for: id, context: context).record
            if shared.digest(service.value) != startedFrom {
                let before = try await vault.read(name, label: .current, context: context)
                let stored = try await storeIfChanged(service, id: id, vault: vault, context: context)
                try await publishIfBehind(id, serviceSecret: service, provider: provider, vault: vault, context: context)
                return .settled(changed: before?.value != stored.value,
                                reason: "the previous holder's rotation (\(inherited)) happened: its secret is stored and published, not reset again")
            }
            context.logger.notice("\(id): the previous holder's rotation (\(inherited)) never reset the secret; it may be rotated now")
        }
        guard let publication = try await shared.publication(of: id, context: context) else { return .proceed }
        let current = try await vault.read(name, label: .current, context: context)
        var adopted = false
        if publication.secret != current?.value,
            (publication.secretExpiresAt ?? .distantPast) > (current?.expiresAt ?? .distantPast) || current == nil
        {
            _ = try await vault.write(name, record: publication.record, label: .current, context: context)
            adopted = true
            context.logger.notice("\(id): adopted generation \(publication.generation) from \(shared.location) (published by \(publication.updatedBy))")
        }
        if let startGeneration, publication.generation > startGeneration {
            return .settled(changed: adopted, reason: "another host rotated it during this run (generation \(publication.generation)); not reset again")
        }
        return adopted ? .adopted("adopted the secret another host published (generation \(publication.generation))") : .proceed
    }
}

extension SecretPublication {
    /// The publication as a record for the vault (source `shared`).
    public var record: SecretRecord {
        SecretRecord(value: secret, createdAt: publishedAt, expiresAt: secretExpiresAt, source: "shared", txnId: txnId)
    }
}

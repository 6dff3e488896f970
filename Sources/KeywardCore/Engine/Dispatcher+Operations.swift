import Foundation
import Logging

extension Dispatcher {
    // MARK: - token

    /// A valid entity access token for `entity`: the vault's when it is valid for longer than
    /// the entity's `tokenRefreshBefore`, else a newly minted one (stored). With no secret in the
    /// vault yet, the secret is read from the provider first. A secret the service refuses is
    /// read again once (another job may have rotated it), per token-service-contract.md ("Quirks").
    ///
    /// - Throws: ``KeywardError`` (usage) for an unknown entity; the provider's errors.
    public func token(for name: String, context: OperationContext) async throws -> SecretRecord {
        let vault = try requireVault()
        let id = try selectEntities([name])[0]
        await recoverOpenRotations(for: [id], context: context)
        var txnId: String?
        do {
            let token = try await validToken(for: id, vault: vault, context: context, txnId: &txnId)
            try await vault.record(AuditEntry(time: context.clock.now, operation: "token", entity: id.rawValue, outcome: .ok, txnId: token.txnId))
            return token
        } catch {
            await recordAudit(AuditEntry(time: context.clock.now, operation: "token", entity: id.rawValue, outcome: .failed,
                                         txnId: Self.txnId(of: error) ?? txnId), to: vault, context: context)
            throw error
        }
    }

    /// The `txnId` a failed service call's error carries (``TransactionReporting``), if any.
    static func txnId(of error: any Error) -> String? { (error as? any TransactionReporting)?.txnId }

    /// The vault's entity token for `id` when it is valid for longer than the entity's
    /// `tokenRefreshBefore`, else a newly minted one (stored). Appends no audit row.
    /// Processes that find the token due together make one mint: the others
    /// wait for the token lock, then find the new token in the vault.
    ///
    /// - Parameter txnId: set to the mint's `txnId` when one was made.
    /// - Throws: ``KeywardError`` (usage) for a provider that mints no tokens; the provider's errors.
    func validToken(for id: EntityID, vault: any VaultServices, context: OperationContext, txnId: inout String?) async throws -> SecretRecord {
        let (stored, minted) = try await validTokenMinting(for: id, vault: vault, context: context)
        if minted { txnId = stored.txnId }
        return stored
    }

    /// ``validToken(for:vault:context:txnId:)``, saying whether this call minted the token.
    func validTokenMinting(for id: EntityID, vault: any VaultServices, context: OperationContext) async throws -> (record: SecretRecord, minted: Bool) {
        if let held = try await freshToken(id, vault: vault, context: context) { return (held, false) }
        let provider = try provider(for: id)
        guard let issuer = provider as? any AccessTokenIssuer else {
            throw KeywardError.usage("provider '\(provider.name)' does not mint access tokens")
        }
        return try await withTokenLock(id, operation: "token mint", context: context) { _ in
            if let held = try await freshToken(id, vault: vault, context: context) { return (held, false) }
            return (try await mintToken(id, provider: provider, issuer: issuer, vault: vault, context: context), true)
        }
    }

    /// Mints and stores `id`'s token with the vault's secret (read from the provider first when
    /// the vault holds none); a secret the service refuses is read again once, unless a
    /// rotation of `id` is open (its recovery stores the new secret).
    private func mintToken(_ id: EntityID, provider: any SecretProvider, issuer: any AccessTokenIssuer, vault: any VaultServices,
                           context: OperationContext) async throws -> SecretRecord
    {
        var secret = try await vault.read(.entitySecret(id), label: .current, context: context)
        var readAgain = false
        if secret == nil {
            secret = try await storeIfChanged(try await readSourceSecret(id, provider: provider, context: context).record, id: id, vault: vault,
                                              context: context)
            readAgain = true
        }
        var minted: ProvidedSecret
        do {
            minted = try await issuer.issueAccessToken(for: id, secret: secret!.value, context: context)
        } catch let error as any CategorizedError where error.category == .authentication && !readAgain {
            // A secret changed by an open rotation is that rotation's to store (journal, lock,
            // fan-out): stored here, it made the rotation's recovery see "the service still shows
            // the vault's secret" and leave the entry open as a reset of unknown outcome.
            if try await vault.openRotations(context: context).contains(where: { $0.entity == id })
            {
                throw error
            }
            // A follower reads the publication again, consistently (DESIGN.md, "Followers").
            let fresh = try await readSourceSecret(id, provider: provider, context: context).record
            guard fresh.value != secret!.value else { throw error }
            secret = try await storeIfChanged(fresh, id: id, vault: vault, context: context)
            minted = try await issuer.issueAccessToken(for: id, secret: secret!.value, context: context)
        }
        for warning in minted.warnings + expiryWarnings(id, secret!.expiresAt, now: context.clock.now) {
            context.logger.warning("\(id): \(warning)")
        }
        return try await vault.write(.entityToken(id), record: minted.record, label: .current, context: context)
    }

    /// Stores `record` as the entity's current secret unless the vault holds the same bytes;
    /// then only a changed expiry is recorded (the vault follows the service).
    func storeIfChanged(_ record: SecretRecord, id: EntityID, vault: any VaultServices, context: OperationContext) async throws -> SecretRecord {
        if let current = try await vault.read(.entitySecret(id), label: .current, context: context), current.value == record.value {
            if Self.sameInstant(current.expiresAt, record.expiresAt) { return current }
            return try await vault.amend(.entitySecret(id), label: .current, expiresAt: record.expiresAt, txnId: record.txnId, context: context)
        }
        return try await vault.write(.entitySecret(id), record: record, label: .current, context: context)
    }

    // MARK: - export

    /// The credentials of the named entities, for `export` and `exec`; appends one audit row
    /// for the whole operation, whose entity field lists every entity read
    /// (``AuditEntry/entities``), `failed` (with the service's txnId when there was one) when
    /// nothing is delivered.
    ///
    /// It never delivers a dead or superseded credential (DESIGN.md,
    /// "Rotation", item 7): a rotation left open is finished first, under the entity's lock, as
    /// `token` does; an entity token that is missing or due is minted (as `token` does). When
    /// that cannot be done, it throws naming the entity, and delivers nothing.
    ///
    /// - Throws: ``KeywardError`` for an unknown entity, one with no secret in the vault, one
    ///   whose rotation is still open, or one whose token expired and cannot be renewed.
    public func exportMaterial(_ names: [String], operation: String, context: OperationContext) async throws -> [EntityMaterial] {
        let vault = try requireVault()
        guard !names.isEmpty else { throw KeywardError.usage("name at least one entity") }
        let ids = try selectEntities(names)
        var txnId: String?
        do {
            let recovery = await recoverOpenRotationsReporting(for: ids, context: context)
            let open = try await openRotationSummaries(ids, context: context)
            if let first = open.first {
                // The audit row names the failed call that left it open.
                txnId = recovery.txnIds[first.id] ?? txnId
                throw KeywardError.operationFailed(
                    "\(first.id): nothing delivered while its rotation is open (\(first.summary)): it could not be finished now "
                        + "(see the warnings above), and the service may already have replaced the vault's secret"
                        + (open.count > 1 ? " (also open: \(open.dropFirst().map(\.id.rawValue).joined(separator: ", ")))" : ""))
            }
            var material = try await material(for: ids, vault: vault, context: context)
            let now = context.clock.now
            for index in material.indices {
                let id = material[index].id
                guard let entityConfiguration = configuration.entities[id], let provider = try? provider(for: id), provider is any AccessTokenIssuer else {
                    continue
                }
                if let expiresAt = material[index].token?.expiresAt,
                    expiresAt.timeIntervalSince(now) > entityConfiguration.tokenRefreshBefore.timeInterval
                {
                    continue
                }
                do {
                    material[index].token = try await validToken(for: id, vault: vault, context: context, txnId: &txnId)
                } catch {
                    txnId = Self.txnId(of: error) ?? txnId
                    guard let held = material[index].token, let expiresAt = held.expiresAt, expiresAt > context.clock.now else {
                        let why = (error as? any CategorizedError)?.description ?? "unexpected error: \(type(of: error))"
                        throw KeywardError.operationFailed(
                            "\(id): " + (material[index].token == nil ? "no entity access token is held" : "the entity access token expired")
                                + " and a new one could not be minted: \(why)", underlying: nil)
                    }
                    // Still valid, only due: delivered, and said so.
                    let why = (error as? any CategorizedError)?.description ?? "\(type(of: error))"
                    context.logger.warning("\(id): the entity access token expires \(Timestamps.format(expiresAt)) and could not be renewed now: \(why)")
                }
            }
            try Self.refuseExpiredTokens(material, keys: nil, now: context.clock.now, what: operation)
            // One row per operation, not per entity: each row is sealed and chained, and an export
            // of thousands of entities spent most of its time writing them.
            try await vault.record(AuditEntry(time: context.clock.now, operation: operation, entities: ids.map(\.rawValue), outcome: .ok, txnId: txnId))
            return material
        } catch {
            await recordAudit(AuditEntry(time: context.clock.now, operation: operation, entities: ids.map(\.rawValue), outcome: .failed,
                                         txnId: Self.txnId(of: error) ?? txnId), to: vault, context: context)
            throw error
        }
    }

    // MARK: - login

    /// The provider named `name`, checked against the configuration (the CLI checks before
    /// unlocking).
    ///
    /// - Throws: ``KeywardError`` (usage) naming a provider that is not configured.
    @discardableResult
    public func selectProvider(_ name: String) throws -> ProviderConfiguration {
        guard let providerConfiguration = configuration.providers[name] else {
            let known = configuration.providers.keys.sorted().joined(separator: ", ")
            throw KeywardError.usage("provider '\(name)' is not in the configuration" + (known.isEmpty ? "" : " (configured: \(known))"))
        }
        return providerConfiguration
    }

    /// Checks the admin user's password with the provider, then stores it in the vault at the
    /// provider's `vault:` password reference.
    ///
    /// - Throws: ``KeywardError`` (usage) for an unknown provider or one whose password comes
    ///   from `env:` or `file:`; the provider's authentication error for a wrong password
    ///   (nothing is stored then).
    public func login(provider name: String, password: SecretValue, context: OperationContext) async throws {
        let vault = try requireVault()
        let providerConfiguration = try selectProvider(name)
        guard let credential = registry.providerSettings(providerConfiguration).credential else {
            throw KeywardError.usage("provider '\(name)' (type \(providerConfiguration.type)) signs in with no password; nothing to store")
        }
        guard case .vault(let entry) = credential else {
            throw KeywardError.usage("provider '\(name)' reads its password from \(credential); nothing to store (remove `password:` to use the vault)")
        }
        guard !password.isEmpty else { throw KeywardError.usage("the password is empty; nothing stored") }
        let provider = try providers.provider(named: name) { try registry.makeProvider(providerConfiguration, environment: pluginEnvironment) }
        do {
            if let verifier = provider as? any CredentialVerifier {
                try await verifier.verify(password: password, context: context)
            }
            _ = try await vault.write(entry, record: SecretRecord(value: password, createdAt: context.clock.now, source: "login"), label: .current, context: context)
            try await vault.record(AuditEntry(time: context.clock.now, operation: "login \(name)", outcome: .ok))
        } catch {
            // Audited as failed, with the service's txnId when a call failed.
            await recordAudit(AuditEntry(time: context.clock.now, operation: "login \(name)", outcome: .failed, txnId: Self.txnId(of: error)),
                              to: vault, context: context)
            throw error
        }
    }

    // MARK: - status

    /// Per entity: the secret's version and expiry, the token's expiry, the last sync and
    /// rotation (from the audit log), and warnings. Reads the vault only; appends nothing.
    ///
    /// - Parameter failWithin: with `--fail-within`, a `Duration`: the report's
    ///   ``StatusReport/expiringWithin`` lists the secrets that expire within it (tokens renew
    ///   themselves and are not counted).
    public func status(entities names: [String] = [], failWithin: Duration? = nil, context: OperationContext) async throws -> StatusReport {
        let vault = try requireVault()
        let ids = try selectEntities(names)
        // The newest sync per entity, read from the log's end back (not the whole log).
        let lastSyncs = try await vault.latestEntries(for: Set(ids.map(\.rawValue))) {
            $0.operation == "sync" && $0.outcome != SyncReport.Outcome.failed.rawValue
        }
        let journalEntries = try await vault.rotationEntries(context: context)
        let openSummaries = Dictionary(try await openRotationSummaries(ids, context: context).map { ($0.id, $0.summary) }) { first, _ in first }
        let now = context.clock.now
        var report = StatusReport(generatedAt: now, entities: [])
        var unreachable: String?
        for id in ids {
            var entry = StatusReport.Entity(id: id.rawValue, secret: nil, token: nil, lastSync: nil, lastRotation: nil, warnings: [],
                                            openJournal: openSummaries[id])
            if let secret = try await vault.read(.entitySecret(id), label: .current, context: context) {
                let entityConfiguration = configuration.entities[id]
                // Never before the secret was first seen: a secret adopted inside its window is
                // due from the moment Keyward first held it, not from a date it never knew.
                let rotationDueAt = secret.expiresAt.flatMap { expiresAt in
                    entityConfiguration.map { entity in
                        max(secret.createdAt, expiresAt.addingTimeInterval(-RotationDecision.window(
                            expiresAt: expiresAt, createdAt: secret.createdAt, secretExpiryDays: entity.grantedValidityDays,
                            rotateBefore: entity.rotateBefore, createdByReset: secret.createdByReset)))
                    }
                }
                entry.secret = .init(version: secret.version, label: VersionLabel.current.rawValue, expiresAt: secret.expiresAt,
                                     expiresInSeconds: secret.expiresAt.map { Self.wholeSeconds($0.timeIntervalSince(now)) },
                                     fingerprint: vault.fingerprint(secret.value), rotationDueAt: rotationDueAt)
                if let rotationDueAt, rotationDueAt <= now, let expiresAt = secret.expiresAt, expiresAt > now, entry.openJournal == nil {
                    entry.warnings.append("rotation due since \(Timestamps.format(rotationDueAt)): run `keyward rotate \(id)` (the secret expires \(Timestamps.format(expiresAt)))")
                }
                entry.warnings += expiryWarnings(id, secret.expiresAt, now: now)
                if let expiresAt = secret.expiresAt, let window = failWithin, expiresAt.timeIntervalSince(now) <= window.timeInterval {
                    report.expiringWithin.append(id.rawValue)
                    report.failures.append("\(id): the secret expires \(Timestamps.format(expiresAt))")
                }
            } else {
                entry.warnings.append("not synced yet: the vault holds no secret (run `keyward sync \(id)`)")
                if failWithin != nil { report.failures.append("\(id): no secret in the vault") }
            }
            if let token = try await vault.read(.entityToken(id), label: .current, context: context) {
                entry.token = .init(expiresAt: token.expiresAt)
                // A valid token never counts (it renews itself); an expired one is a dead
                // credential in every sink that holds it.
                if let expiresAt = token.expiresAt, expiresAt <= now {
                    entry.warnings.append("the entity access token EXPIRED at \(Timestamps.format(expiresAt)): run `keyward sync \(id)` (or `keyward token \(id)`)")
                    if failWithin != nil { report.failures.append("\(id): the entity access token expired \(Timestamps.format(expiresAt))") }
                }
            }
            entry.lastSync = lastSyncs[id.rawValue]?.time
            if let open = entry.openJournal { entry.warnings.append(open) }
            // The journal knows every rotation that finished, including those finished by
            // recovery and those whose new secret failed its test.
            entry.lastRotation = journalEntries.last { $0.entity == id && $0.state == .done }?.updatedAt
            if let shared {
                if let unreachable {
                    // One server that does not answer is not asked again for each entity.
                    entry.shared = StatusReport.Shared(secretSource: configuration.entities[id]?.secretSource.rawValue ?? "service", behind: nil,
                                                       error: unreachable)
                } else {
                    entry.shared = await sharedStatus(id, shared: shared, local: try await vault.read(.entitySecret(id), label: .current, context: context),
                                                      now: now, context: context)
                    unreachable = entry.shared?.unreachable == true ? entry.shared?.error : nil
                }
                if entry.shared?.behind == true {
                    entry.warnings.append("this host's secret is behind the shared store's generation \(entry.shared?.publishedGeneration ?? 0): run `keyward sync \(id)`")
                }
            }
            report.entities.append(entry)
        }
        return report
    }

    /// The entity's lease and publication for `status`: one consistent read of each. A store
    /// that cannot be read is reported in the entry, not thrown: `status` shows what this host
    /// holds either way.
    private func sharedStatus(_ id: EntityID, shared: any SharedSecretStore, local: SecretRecord?, now: Date,
                              context: OperationContext) async -> StatusReport.Shared
    {
        var status = StatusReport.Shared(secretSource: configuration.entities[id]?.secretSource.rawValue ?? "service", behind: nil)
        do {
            if let lease = try await shared.leaseStatus(of: id, context: context), !lease.released, lease.expiresAt > now {
                status.leaseHolder = lease.holder
                status.leaseExpiresAt = lease.expiresAt
            }
            status.behind = false
            if let publication = try await shared.publication(of: id, context: context) {
                status.publishedGeneration = publication.generation
                status.publishedAt = publication.publishedAt
                status.publishedBy = publication.updatedBy
                status.publishedTxnId = publication.txnId
                status.behind = local?.value != publication.secret
                    && (publication.secretExpiresAt ?? .distantPast) >= (local?.expiresAt ?? .distantPast)
            }
        } catch {
            status.error = SyncReport.ErrorInfo(error).message
            status.behind = nil
            status.unreachable = (error as? any CategorizedError)?.category == .operationFailed
        }
        return status
    }

    /// Seconds as a whole number, clamped to Int64's range (a clock moved absurdly far must
    /// not crash `status`).
    static func wholeSeconds(_ interval: TimeInterval) -> Int64 {
        guard interval.isFinite else { return 0 }
        return Int64(max(min(interval, 9.2e18), -9.2e18))
    }

    // MARK: - audit

    /// The audit log of the last `since` (a `Duration` back from the context's clock; all of it
    /// for `nil`), oldest first.
    public func auditLog(since: Duration?, context: OperationContext) async throws -> [AuditEntry] {
        let vault = try requireVault()
        return try await vault.entries(since: since.map { context.clock.now.addingTimeInterval(-$0.timeInterval) })
    }
}

/// What `keyward status` reports; the `--output json` document of DESIGN.md ("Output for scripts").
public struct StatusReport: Sendable, Codable, Equatable {
    public var version = 1
    public var generatedAt: Date
    public var entities: [Entity]
    /// With `--fail-within`: the entities whose secret expires within the window.
    public var expiringWithin: [String] = []
    /// With `--fail-within`: every reason to exit 6, one sentence each naming the entity: a
    /// secret that expires within the window, an entity access token that has expired, an
    /// entity with no secret (DESIGN.md, "Commands", `status`).
    public var failures: [String] = []

    public struct Entity: Sendable, Codable, Equatable {
        public var id: String
        public var secret: Secret?
        public var token: Token?
        public var lastSync: Date?
        public var lastRotation: Date?
        public var warnings: [String]
        /// An unfinished rotation, if any: which journal entry, its state and since when.
        public var openJournal: String?
        /// What the shared store holds for the entity; `nil` without a `shared:` section (the
        /// key is then left out of the JSON document).
        public var shared: Shared? = nil
    }

    /// An entity's lease and publication in the shared store (DESIGN.md, "Beyond one machine").
    public struct Shared: Sendable, Codable, Equatable {
        /// `service` or `shared` (this host follows the publication).
        public var secretSource: String
        /// Who holds the rotation lease (`host (pid N, operation)`), `nil` when it is free.
        public var leaseHolder: String?
        /// When the held lease expires (UTC, by the store's clock).
        public var leaseExpiresAt: Date?
        /// The publication's generation, `nil` when nothing is published.
        public var publishedGeneration: UInt64?
        /// When it was published (UTC) and by whom.
        public var publishedAt: Date?
        public var publishedBy: String?
        /// The token service's txnId of the published secret.
        public var publishedTxnId: String?
        /// Whether this host's vault holds another secret than the publication's; `nil` when the
        /// store could not be read (unknown, never reported as current).
        public var behind: Bool?
        /// Why the store could not be read, when it could not (the rest is then `nil`).
        public var error: String?
        /// The store did not answer at all (not encoded: `error` says so).
        var unreachable = false

        private enum CodingKeys: String, CodingKey {
            case secretSource, leaseHolder, leaseExpiresAt, publishedGeneration, publishedAt, publishedBy, publishedTxnId, behind, error
        }
    }

    public struct Secret: Sendable, Codable, Equatable {
        public var version: Int
        public var label: String
        /// `nil` for a secret without expiry.
        public var expiresAt: Date?
        public var expiresInSeconds: Int64?
        public var fingerprint: String
        /// When `keyward rotate` (and `schedule run`) considers the secret due (UTC):
        /// `expiresAt` minus `rotateBefore`, capped at a third of its lifetime; `nil` for a
        /// secret without expiry.
        public var rotationDueAt: Date?
    }

    public struct Token: Sendable, Codable, Equatable {
        public var expiresAt: Date?

        public init(expiresAt: Date?) {
            self.expiresAt = expiresAt
        }
    }

    private enum CodingKeys: String, CodingKey { case version, generatedAt, entities }

}

// DESIGN.md's schema shows absent values as `null` (e.g. `"openJournal": null`, `expiresAt`
// null for a secret without expiry), so these encode every key.
extension StatusReport.Entity {
    private enum Keys: String, CodingKey { case id, secret, token, lastSync, lastRotation, warnings, openJournal, shared }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(id, forKey: .id)
        try container.encode(secret, forKey: .secret)
        try container.encode(token, forKey: .token)
        try container.encode(lastSync, forKey: .lastSync)
        try container.encode(lastRotation, forKey: .lastRotation)
        try container.encode(warnings, forKey: .warnings)
        try container.encode(openJournal, forKey: .openJournal)
        try container.encodeIfPresent(shared, forKey: .shared)
    }
}

extension StatusReport.Secret {
    private enum Keys: String, CodingKey { case version, label, expiresAt, expiresInSeconds, fingerprint, rotationDueAt }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(version, forKey: .version)
        try container.encode(label, forKey: .label)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(expiresInSeconds, forKey: .expiresInSeconds)
        try container.encode(fingerprint, forKey: .fingerprint)
        try container.encode(rotationDueAt, forKey: .rotationDueAt)
    }
}

extension StatusReport.Token {
    private enum Keys: String, CodingKey { case expiresAt }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(expiresAt, forKey: .expiresAt)
    }
}

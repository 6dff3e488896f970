import Foundation

/// An entity token handed out by the token endpoint, and whether getting it minted one.
public struct ServedToken: Sendable {
    /// The token and its expiry (`expiresAt`, UTC), as the vault holds it.
    public let record: SecretRecord
    /// `true` when this call minted the token (and wrote its audit row); `false` when the
    /// vault's still-fresh token was used.
    public let minted: Bool
}

extension Dispatcher {
    /// `id`'s entity token for the token endpoint (DESIGN.md, "Operability"): as
    /// `keyward token` gives it (the vault's while it stays valid for longer than the entity's
    /// `tokenRefreshBefore`, else minted and stored under the cross-process token lock
    /// `<vault>.locks/<entity>.token.lock`, so the endpoint, `keyward token` and `sync` in other
    /// processes make one mint), but with an audit row (operation `token`) only when this call
    /// minted or failed, not for every request served.
    ///
    /// - Parameter id: a configured entity.
    /// - Returns: the token and whether this call minted it.
    /// - Throws: ``KeywardError`` (usage) for an unknown entity or a provider that mints no
    ///   tokens; the provider's and the vault's errors.
    public func servedToken(for id: EntityID, context: OperationContext) async throws -> ServedToken {
        let vault = try requireVault()
        guard configuration.entities[id] != nil else { throw KeywardError.usage("entity '\(id.rawValue)' is not in the configuration") }
        await recoverOpenRotations(for: [id], context: context)
        do {
            let (record, minted) = try await validTokenMinting(for: id, vault: vault, context: context)
            if minted {
                await recordAudit(AuditEntry(time: context.clock.now, operation: "token", entity: id.rawValue, outcome: .ok,
                                             txnId: record.txnId), to: vault, context: context)
            }
            return ServedToken(record: record, minted: minted)
        } catch {
            await recordAudit(AuditEntry(time: context.clock.now, operation: "token", entity: id.rawValue, outcome: .failed,
                                         txnId: Self.txnId(of: error)), to: vault, context: context)
            throw error
        }
    }

    /// How long before its expiry `id`'s token is refreshed (the entity's `tokenRefreshBefore`),
    /// in seconds; `nil` for an entity that is not configured.
    public func tokenRefreshBeforeSeconds(_ id: EntityID) -> TimeInterval? {
        configuration.entities[id]?.tokenRefreshBefore.timeInterval
    }
}

/// Entity tokens on request, for many concurrent callers in one process (the token endpoint of
/// `schedule run --token-listen` and `exec --serve-tokens`, DESIGN.md "Operability").
///
/// - Single flight: concurrent requests for one entity that find no fresh token await one
///   ``Dispatcher/servedToken(for:context:)`` call, which itself takes the cross-process token
///   lock, so one mint serves every caller in every process.
/// - A short in-memory copy of the last token: requests are answered from memory while the
///   token stays valid for longer than the entity's `tokenRefreshBefore` (judged by the
///   context's clock at each request), so a burst does not read the vault each time, and a
///   token is never served past its refresh point.
/// - A token is only returned while it has not expired by the context's clock.
public actor EntityTokenServer {
    private let dispatcher: Dispatcher
    private let context: OperationContext
    /// The entities served; any other id is refused (``TokenServingError/notServed``).
    public nonisolated let entities: Set<EntityID>
    private var held: [EntityID: SecretRecord] = [:]
    private var inFlight: [EntityID: Task<ServedToken, any Error>] = [:]
    private let willServe: (@Sendable (EntityID, SecretRecord) -> Void)?

    /// - Parameters:
    ///   - entities: the entities this server hands tokens out for (configured ones).
    ///   - willServe: called with each token taken from the vault or minted, before any caller
    ///     gets it (not for answers from the in-memory copy); `exec --serve-tokens --mask` adds
    ///     it to the values it masks.
    public init(dispatcher: Dispatcher, context: OperationContext, entities: [EntityID],
                willServe: (@Sendable (EntityID, SecretRecord) -> Void)? = nil) {
        self.dispatcher = dispatcher
        self.context = context
        self.entities = Set(entities)
        self.willServe = willServe
    }

    /// A valid token for `id`: from memory while fresh, else from the vault or minted (one
    /// call in flight per entity).
    ///
    /// - Throws: ``TokenServingError/notServed`` for an entity not served;
    ///   ``TokenServingError/expired`` when the only token to be had has already expired;
    ///   the engine's errors (provider, vault) otherwise.
    public func token(for id: EntityID) async throws -> SecretRecord {
        guard entities.contains(id) else { throw TokenServingError.notServed(id.rawValue) }
        if let record = held[id], isFresh(record, id) { return record }
        let task: Task<ServedToken, any Error>
        if let running = inFlight[id] {
            task = running
        } else {
            let dispatcher = dispatcher, context = context
            task = Task { try await dispatcher.servedToken(for: id, context: context) }
            inFlight[id] = task
        }
        let served: ServedToken
        do {
            served = try await task.value
        } catch {
            if inFlight[id] == task { inFlight[id] = nil }
            throw error
        }
        if inFlight[id] == task { inFlight[id] = nil }
        willServe?(id, served.record)
        held[id] = served.record
        guard let expiresAt = served.record.expiresAt, expiresAt > context.clock.now else {
            throw TokenServingError.expired(id.rawValue)
        }
        return served.record
    }

    /// Whether `record` stays valid for longer than `id`'s `tokenRefreshBefore` now.
    private func isFresh(_ record: SecretRecord, _ id: EntityID) -> Bool {
        guard let expiresAt = record.expiresAt, let before = dispatcher.tokenRefreshBeforeSeconds(id) else { return false }
        return expiresAt.timeIntervalSince(context.clock.now) > before
    }
}

/// Why ``EntityTokenServer`` gave no token (never carries a credential).
public enum TokenServingError: Error, Sendable, CustomStringConvertible {
    /// The entity (its id) is not among those served.
    case notServed(String)
    /// The token the service gave for the entity (its id) had already expired.
    case expired(String)

    public var description: String {
        switch self {
        case .notServed(let id): "entity '\(id)' is not served here"
        case .expired(let id): "the token for '\(id)' has expired and no newer one could be had"
        }
    }
}

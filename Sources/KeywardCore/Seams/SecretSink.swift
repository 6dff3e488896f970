/// A destination for entity credentials: an env file, a Kubernetes Secret manifest, a KV store.
///
/// Sinks are built by the ``PluginRegistry`` from a `sinks.<name>` section of `keyward.yaml`.
public protocol SecretSink: Sendable {
    /// The sink's name in `keyward.yaml` (`sinks.<name>`).
    var name: String { get }

    /// Writes the credentials of the given entities. A write whose output equals what is
    /// already there must leave the destination untouched and return ``SinkWriteOutcome/unchanged``.
    func write(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome

    /// What ``write(_:context:)`` would do, without doing it (for `--dry-run`). The default
    /// answers ``SinkWriteOutcome/written``; sinks that can compare cheaply say `unchanged`.
    func plan(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome

    /// Where the sink writes, for reports (a file path, a URL), if anywhere.
    var destination: String? { get }
}

extension SecretSink {
    public func plan(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome { .written }
    public var destination: String? { nil }
}

/// The credentials of one entity, as a sink receives them.
public struct EntityMaterial: Sendable {
    public var id: EntityID
    /// The entity secret (the `current` version).
    public var secret: SecretRecord
    /// The entity access token, if one is held.
    public var token: SecretRecord?
    /// Whether the entity's provider mints entity access tokens. `false` for an external
    /// provider without the `token` capability (DESIGN.md, "Plugins"): the default key names
    /// then leave out `<ID>_ACCESS_TOKEN` and `<ID>_TOKEN_EXPIRES_AT` (``SinkKeys``).
    public var mintsTokens: Bool

    public init(id: EntityID, secret: SecretRecord, token: SecretRecord?, mintsTokens: Bool = true) {
        self.id = id
        self.secret = secret
        self.token = token
        self.mintsTokens = mintsTokens
    }
}

/// What a sink did.
public enum SinkWriteOutcome: String, Sendable, Codable {
    case written
    case unchanged
}

/// A sink (or store) whose destination can be checked before a run changes anything: the engine
/// calls ``checkReady(context:)`` once per run of `sync`, `rotate`, `schedule run` and
/// `config check`, before any entity is synced (DESIGN.md, "Beyond one machine": a missing or
/// KV v1 mount stops the run there).
public protocol ReadinessChecking: Sendable {
    /// - Throws: a ``CategorizedError`` naming what is missing (usage for a missing mount,
    ///   authentication for a refused token, operation failed for a server that is away).
    func checkReady(context: OperationContext) async throws
}

import Foundation
import KeywardCore
import Logging

/// The `openbao-kv` sink: writes the entities' pairs as one KV v2 entry of an OpenBao (or
/// HashiCorp Vault) server, with check-and-set (DESIGN.md, "Sinks" and "Beyond one machine":
/// "Sink `openbao-kv`").
///
/// ```yaml
/// sinks:
///   payments-kv:
///     type: openbao-kv
///     entities: [FIU-EXAMPLE-1]
///     mount: secret               # a KV v2 mount (a KV v1 mount is refused)
///     path: apps/payments/aa      # the entry under the mount
///     keys:                       # optional; the default names otherwise
///       AA_CLIENT_ID: "{entity.id}"
///       AA_CLIENT_SECRET: "{entity.secret}"
///     merge: merge                # merge (default) | replace
///     # Without `address` the `shared:` section's connection is used; with it, its own:
///     address: https://bao.internal:8200
///     auth: {token: env:BAO_TOKEN}
///     namespace: payments         # optional
///     caFile: /etc/ssl/bao-ca.pem # optional
///     timeout: 10s                # optional
/// ```
///
/// A write reads the entry (consistently), computes the new data and writes it only when it
/// differs, with check-and-set against the version read; a conflict (another writer in
/// between) reads again and retries, at most ``maximumRetries`` times. `merge` keeps the keys
/// this sink never wrote: the keys it writes are recorded in the entry's `custom_metadata`
/// (`keyward-keys`, sorted, comma-separated, beside `managed-by: keyward`; other metadata keys
/// are kept), so a key it stops writing is removed. `replace` makes the entry exactly the
/// sink's keys.
public struct OpenBaoKVSink: SecretSink, ReadinessChecking {
    /// What happens to the keys of the entry that this sink does not write.
    public enum MergeMode: String, Sendable, CaseIterable {
        /// Kept, unless this sink wrote them before (recorded in `keyward-keys`).
        case merge
        /// Removed: the entry holds exactly the sink's keys.
        case replace
    }

    /// The registry entry: type `openbao-kv`, no file; options `mount`, `path` (the KV path),
    /// `merge`, and the sink's own connection (`address`, `auth`, `namespace`, `caFile`,
    /// `timeout`). ``validate(_:)`` checks the paths, the key names and the connection.
    public static let descriptor = SinkTypeDescriptor(
        type: "openbao-kv", writesFile: false,
        options: [
            "mount": .string, "path": .string, "merge": .choice(MergeMode.allCases.map(\.rawValue)),
            "address": .string, "auth": .map, "namespace": .string, "caFile": .string, "timeout": .string,
        ],
        validate: validate)

    /// Retries after a check-and-set conflict before the write fails (DESIGN.md: "at most 3").
    public static let maximumRetries = 3

    /// `custom_metadata` key naming the writer (DESIGN.md: `managed-by: keyward`).
    public static let managedByKey = "managed-by"
    /// `custom_metadata` key recording the keys this sink wrote, sorted and comma-separated.
    public static let writtenKeysKey = "keyward-keys"
    /// The most bytes a `custom_metadata` value may hold (OpenBao's and Vault's KV v2 limit).
    static let metadataValueLimit = 512

    public let name: String
    /// The KV v2 mount, e.g. `secret`.
    public let mount: String
    /// The entry's path under the mount, e.g. `apps/payments/aa`.
    public let path: String
    public let mode: MergeMode
    private let keys: [(key: String, template: KeyTemplate)]?
    private let client: OpenBaoClient
    /// Whether ``mount`` was found to be a KV v2 mount in this process (by ``checkReady(context:)``
    /// or the first write): a KV v1 mount would take `<mount>/data/<path>` as a plain path.
    private let mountChecked = MountCheck()

    /// Called after each read of the entry and before the write that follows it: a test hook
    /// (through `@testable import`) to put another writer between the two.
    var afterRead: (@Sendable () async throws -> Void)?

    /// - Parameters:
    ///   - mount: a KV v2 mount; `path`: the entry under it (both validated by ``validate(_:)``
    ///     when built from a configuration).
    ///   - keys: output key to template, in order; `nil` for the default names.
    ///   - client: the server's client (its HTTP client lives for the process).
    public init(name: String, mount: String, path: String, keys: [(key: String, template: KeyTemplate)]? = nil,
                mode: MergeMode = .merge, client: OpenBaoClient) {
        self.name = name
        self.mount = mount
        self.path = path
        self.keys = keys
        self.mode = mode
        self.client = client
    }

    public var destination: String? {
        let server = client.settings.address.absoluteString
        let namespace = client.settings.namespace.map { " (namespace \($0))" } ?? ""
        return "\(server)\(namespace) \(mount)/\(path)"
    }

    /// The API path of the entry's data, as errors name it.
    var dataPath: String { "\(mount)/data/\(path)" }

    /// Checks, before a run changes anything, that ``mount`` is a KV v2 mount and that the
    /// token may read the entry (one read of it: a policy that denies the path is found here,
    /// so the run stops with exit 3 instead of failing this sink after the others were written).
    ///
    /// - Throws: ``OpenBaoError``: `.mountNotFound` or `.kvVersion1` (exit 2), `.forbidden`
    ///   (exit 3), `.sealed`/`.unreachable` (exit 1).
    public func checkReady(context: OperationContext) async throws {
        try await client.checkKVv2Mount(mount, context: context)
        mountChecked.markDone()
        _ = try await client.read(mount: mount, path: path, consistent: false, context: context)
    }

    /// Checks the mount once per process, whether or not the engine called ``checkReady(context:)``.
    private func ensureMount(context: OperationContext) async throws {
        guard !mountChecked.isDone else { return }
        try await client.checkKVv2Mount(mount, context: context)
        mountChecked.markDone()
    }

    /// Writes the pairs when they change the entry; in a dry run, only says what it would do.
    ///
    /// - Returns: ``SinkWriteOutcome/unchanged`` when the entry already holds the data (nothing
    ///   is written; stale `custom_metadata` is brought up to date without a new version).
    /// - Throws: ``KeywardError`` naming the key (a missing token, two keys alike);
    ///   ``OpenBaoError`` from the server (`.casConflict` naming the path after
    ///   ``maximumRetries`` retries); never a value.
    public func write(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        let rendered = try render(material)
        if context.dryRun { return try await outcome(of: rendered, context: context) }
        try await ensureMount(context: context)
        var conflicts = 0
        // The version to check against when the read finds no current version: 0 (no entry),
        // or, once a conflict shows the entry exists with its current version deleted, that version.
        var absentVersion: UInt64 = 0
        while true {
            let existing = try await client.read(mount: mount, path: path, consistent: true, context: context)
            try await afterRead?()
            let recorded = existing.map { Self.writtenKeys($0.customMetadata) } ?? []
            let data = newData(rendered, existing: existing?.data ?? [:], previouslyWritten: recorded)
            if let existing, data == existing.data {
                if !metadataIsCurrent(existing.customMetadata, rendered: rendered) {
                    try await recordKeys(rendered, context: context)
                }
                context.logger.debug("openbao-kv sink unchanged", metadata: ["sink": "\(name)", "path": "\(dataPath)"])
                return .unchanged
            }
            let cas = existing?.version ?? absentVersion
            do {
                let result = try await client.write(mount: mount, path: path, data: data, cas: cas, context: context)
                // custom_metadata belongs to the entry, not to a version: when the read showed it
                // current already, the new version leaves it so, and a third request is saved.
                if !(existing.map { metadataIsCurrent($0.customMetadata, rendered: rendered) } ?? false) {
                    try await recordKeys(rendered, context: context)
                }
                context.logger.debug("openbao-kv sink wrote", metadata: ["sink": "\(name)", "path": "\(dataPath)", "version": "\(result.version)"])
                return .written
            } catch let error as OpenBaoError where error.kind == .casConflict {
                conflicts += 1
                context.logger.debug("openbao-kv sink: check-and-set conflict, reading again",
                                     metadata: ["sink": "\(name)", "path": "\(dataPath)", "attempt": "\(conflicts)"])
                guard conflicts <= Self.maximumRetries else {
                    throw OpenBaoError(.casConflict, server: client.settings.address.absoluteString, path: dataPath, status: error.status,
                                       detail: "sink '\(name)': another writer changed the entry between each read and write "
                                           + "(\(conflicts) attempts, \(Self.maximumRetries) retries); nothing was written")
                }
                if existing == nil {
                    // An entry whose current version is deleted reads as none, yet has a version.
                    absentVersion = try await client.metadata(mount: mount, path: path, context: context)?.currentVersion ?? 0
                }
            }
        }
    }

    /// What ``write(_:context:)`` would return: one consistent read, nothing written.
    public func plan(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        try await outcome(of: render(material), context: context)
    }

    private func outcome(of rendered: [String: SecretValue], context: OperationContext) async throws -> SinkWriteOutcome {
        try await ensureMount(context: context)
        let existing = try await client.read(mount: mount, path: path, consistent: true, context: context)
        guard let existing else { return .written }
        let data = newData(rendered, existing: existing.data, previouslyWritten: Self.writtenKeys(existing.customMetadata))
        return data == existing.data ? .unchanged : .written
    }

    /// The entry's new data: the rendered keys; with `merge`, also the existing keys this sink
    /// neither writes now nor recorded as written before.
    func newData(_ rendered: [String: SecretValue], existing: [String: SecretValue], previouslyWritten: Set<String>) -> [String: SecretValue] {
        guard mode == .merge else { return rendered }
        var data = existing.filter { !previouslyWritten.contains($0.key) }
        data.merge(rendered) { _, new in new }
        return data
    }

    /// The keys a `keyward-keys` value records (empty when absent).
    static func writtenKeys(_ metadata: [String: String]) -> Set<String> {
        guard let recorded = metadata[writtenKeysKey], !recorded.isEmpty else { return [] }
        return Set(recorded.split(separator: ",", omittingEmptySubsequences: true).map(String.init))
    }

    /// The `keyward-keys` value for a set of keys: sorted, comma-separated.
    static func writtenKeysValue(_ keys: some Sequence<String>) -> String {
        keys.sorted().joined(separator: ",")
    }

    private func metadataIsCurrent(_ metadata: [String: String], rendered: [String: SecretValue]) -> Bool {
        metadata[Self.managedByKey] == "keyward" && metadata[Self.writtenKeysKey] == Self.writtenKeysValue(rendered.keys)
    }

    /// Merges `managed-by` and `keyward-keys` into the entry's `custom_metadata` (other keys kept).
    private func recordKeys(_ rendered: [String: SecretValue], context: OperationContext) async throws {
        try await client.mergeCustomMetadata(
            mount: mount, path: path,
            [Self.managedByKey: "keyward", Self.writtenKeysKey: Self.writtenKeysValue(rendered.keys)], context: context)
    }

    private func render(_ material: [EntityMaterial]) throws -> [String: SecretValue] {
        var data: [String: SecretValue] = [:]
        for pair in try SinkKeys.pairs(for: material, keys: keys) { data[pair.key] = pair.value }
        return data
    }
}

/// A flag set once, shared by the copies of a sink.
private final class MountCheck: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false

    var isDone: Bool { lock.withLock { done } }
    func markDone() { lock.withLock { done = true } }
}

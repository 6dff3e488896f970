import Crypto
import Foundation
import KeywardCore
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `shared:` section, validated (DESIGN.md, "Beyond one machine").
public struct SharedStoreSettings: Sendable, Equatable {
    /// The server and how to reach it.
    public var server: OpenBaoServerSettings
    /// The KV v2 mount (`secret`).
    public var mount: String
    /// Keyward's records live under `<mount>/data/<prefix>/` (`leases/<ID>`, `entities/<ID>`).
    public var prefix: String
    /// How long a lease lasts unless renewed (at least 5 s; renewed every `leaseTTL / 3`).
    public var leaseTTL: Duration

    public init(server: OpenBaoServerSettings, mount: String, prefix: String, leaseTTL: Duration) {
        self.server = server
        self.mount = mount
        self.prefix = prefix
        self.leaseTTL = leaseTTL
    }
}

extension SharedStoreSettings {
    static let pathRule = "segments of [A-Za-z0-9._@-] separated by '/', none empty, '.' or '..'"

    /// Whether `text` is `/`-separated path segments (``isPathSegment(_:)``).
    static func isPath(_ text: String) -> Bool {
        !text.isEmpty && text.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { isPathSegment(String($0)) }
    }

    /// Whether `text` is one path segment that cannot climb out or be reinterpreted: 1 to 128
    /// characters of `[A-Za-z0-9._@-]`, not `.` or `..`.
    static func isPathSegment(_ text: String) -> Bool {
        (1...128).contains(text.unicodeScalars.count) && text != "." && text != ".."
            && text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._@-".unicodeScalars.contains($0)) }
    }
}

/// ``SharedSecretStore`` on an OpenBao/Vault KV v2 mount: rotation leases at
/// `<prefix>/leases/<ID>` (check-and-set, the record's KV version as the fencing token, expiry
/// judged by the server's clock), publication records at `<prefix>/entities/<ID>`.
///
/// The lease record's fields (KV data, every value a string): `host`, `pid`, `holderId` (random,
/// per lease), `operation`, `since` (RFC 3339 UTC), `ttlSeconds`, `released` (`true`/`false`),
/// and the progress the holders recorded: `state`, `txnId`, `secretHash` (absent until one
/// records it; carried over to each new holder). The publication record's fields: `secret`,
/// `secretExpiresAt` (RFC 3339 UTC, absent when unknown), `generation`, `txnId`, `updatedBy`,
/// `fingerprint`.
public final class OpenBaoSharedStore: SharedSecretStore {
    public let settings: SharedStoreSettings
    let client: OpenBaoClient
    let local: any RotationCoordinator
    /// The least lease left after the write that advances to `sent` for a reset to be sent.
    let resetMargin: Duration
    let logger: Logger
    /// This host's name, as lease records and `updatedBy` name it.
    package let hostName: String
    /// This process's id, as lease records name it.
    package let processID: Int32
    /// How often a held lease is renewed in the background (`leaseTTL / 3`).
    package let renewalInterval: Duration
    /// Publication versions read with `managed-by: keyward` already in their metadata, so a
    /// publication replacing them need not merge it again.
    private let taggedVersions = LockedState<[EntityID: UInt64]>([:])
    /// The leases this process holds now, for ``releaseHeldLeases()`` (SIGTERM).
    let heldLeases = LockedState<[ObjectIdentifier: OpenBaoRotationLease]>([:])

    /// - Parameters:
    ///   - local: this host's coordinator (the vault's file lock), taken first and held with the lease.
    ///   - resetMargin: the least lease left, after advancing to `sent`, for a reset to be sent:
    ///     the longest provider timeout plus 5 s (DESIGN.md, "Fencing the reset").
    public convenience init(settings: SharedStoreSettings, client: OpenBaoClient, local: any RotationCoordinator, resetMargin: Duration,
                            logger: Logger)
    {
        self.init(settings: settings, client: client, local: local, resetMargin: resetMargin, logger: logger,
                  hostName: Self.currentHostName(), processID: getpid())
    }

    /// The store as a given host and process (tests play several hosts in one process).
    package init(settings: SharedStoreSettings, client: OpenBaoClient, local: any RotationCoordinator, resetMargin: Duration,
                 logger: Logger, hostName: String, processID: Int32, renewalInterval: Duration? = nil)
    {
        self.settings = settings
        self.client = client
        self.local = local
        self.resetMargin = resetMargin
        self.logger = logger
        self.hostName = hostName
        self.processID = processID
        self.renewalInterval = renewalInterval ?? settings.leaseTTL / 3
    }

    /// `openbao <address> <mount>/<prefix>`: no token.
    public var location: String { "openbao \(settings.server.address.absoluteString) \(settings.mount)/\(settings.prefix)" }

    /// Checks the mount is KV v2 (``OpenBaoClient/checkKVv2Mount(_:context:)``).
    public func checkReady(context: OperationContext) async throws {
        try await client.checkKVv2Mount(settings.mount, context: context)
    }

    // MARK: Lease

    /// Takes `entity`'s lease: first the local coordinator (held there: answered as is), then
    /// the lease record with check-and-set (DESIGN.md, "Lease"). A record that is released,
    /// expired by the server's clock (`created_time` + its `ttlSeconds` before the answer's
    /// `Date`), or held by a process of this host that no longer exists is taken over; any
    /// other is answered ``RotationGrant/held(by:)`` naming its holder (`host (pid N, sync,
    /// lease until 2026-12-07T03:30:00Z)`).
    ///
    /// - Throws: ``OpenBaoError`` when the server cannot answer (the local lease is released).
    public func acquire(_ entity: EntityID, context: OperationContext) async throws -> RotationGrant {
        let path = try leasePath(entity)
        let localLease: any RotationLease
        switch try await local.acquire(entity, context: context) {
        case .held(let holder): return .held(by: holder)
        case .granted(let lease): localLease = lease
        }
        do {
            let current = try await client.read(mount: settings.mount, path: path, consistent: true, context: context)
            var previous: LeaseRecord?
            if let current {
                let record = LeaseRecord(entry: current)
                guard isFree(record, entry: current) else {
                    await localLease.release()
                    return .held(by: record.holderDescription(expiresAt: Self.expiry(of: current, record: record, defaultTTL: settings.leaseTTL)))
                }
                previous = record
            }
            var record = LeaseRecord(host: hostName, pid: processID, holderID: Self.randomHolderID(), operation: context.operation ?? "rotation",
                                     since: Date(), ttlSeconds: Self.seconds(settings.leaseTTL), released: false,
                                     progress: previous?.progress)
            record.machine = Self.processSpace
            let written: KVWriteResult
            do {
                written = try await client.write(mount: settings.mount, path: path, data: record.data, cas: current?.version ?? 0, context: context)
            } catch let error as OpenBaoError where error.kind == .casConflict {
                await localLease.release()
                return .held(by: await currentHolder(path: path, context: context) ?? "another host")
            }
            let lease = OpenBaoRotationLease(store: self, entity: entity, path: path, record: record, version: written.version,
                                             inherited: previous?.progress, local: localLease, context: context)
            heldLeases.withLock { $0[ObjectIdentifier(lease)] = lease }
            lease.startRenewing(every: renewalInterval)
            context.logger.debug("took the shared rotation lease", metadata: ["entity": "\(entity)", "fencingToken": "\(written.version)"])
            return .granted(lease)
        } catch {
            await localLease.release()
            throw error
        }
    }

    /// Whether a lease record may be taken: released, expired by the server's clock, or held by
    /// a process of this host that is gone.
    private func isFree(_ record: LeaseRecord, entry: KVEntry) -> Bool {
        if record.released { return true }
        let now = entry.serverDate ?? Date()
        if Self.expiry(of: entry, record: record, defaultTTL: settings.leaseTTL) < now { return true }
        // At once only when the record's process id can be checked here: the same boot of the
        // same machine and the same pid namespace. A host name alone is not enough: two pods or
        // machines given one KEYWARD_HOSTNAME would each take the other's live lease.
        if record.host == hostName, let machine = record.machine, machine == Self.processSpace, let pid = record.pid, pid > 0,
            kill(pid, 0) != 0, errno == ESRCH
        {
            return true
        }
        return false
    }

    /// When the lease in `entry` expires: its `created_time` plus its holder's TTL.
    static func expiry(of entry: KVEntry, record: LeaseRecord, defaultTTL: Duration) -> Date {
        entry.createdTime.addingTimeInterval(TimeInterval(record.ttlSeconds ?? seconds(defaultTTL)))
    }

    /// The holder of the lease at `path` now, as `held(by:)` names it; `nil` when it cannot be read.
    func currentHolder(path: String, context: OperationContext) async -> String? {
        guard let entry = try? await client.read(mount: settings.mount, path: path, consistent: true, context: context) else { return nil }
        let record = LeaseRecord(entry: entry)
        return record.holderDescription(expiresAt: Self.expiry(of: entry, record: record, defaultTTL: settings.leaseTTL))
    }

    /// The lease as the store holds it now, for `status`.
    public func leaseStatus(of entity: EntityID, context: OperationContext) async throws -> SharedLeaseStatus? {
        guard let entry = try await client.read(mount: settings.mount, path: try leasePath(entity), consistent: true, context: context) else {
            return nil
        }
        let record = LeaseRecord(entry: entry)
        return SharedLeaseStatus(holder: "\(record.host ?? "unknown host") (pid \(record.pid.map(String.init) ?? "?"))",
                                 expiresAt: Self.expiry(of: entry, record: record, defaultTTL: settings.leaseTTL),
                                 released: record.released, progress: record.progress, fencingToken: entry.version)
    }

    // MARK: Publication

    /// The entity's publication record, read consistently, or `nil` when none was published.
    ///
    /// - Throws: ``OpenBaoError``; ``KeywardError`` (operation failed) for a record without a
    ///   `secret` or a `generation`.
    public func publication(of entity: EntityID, context: OperationContext) async throws -> SecretPublication? {
        let path = try publicationPath(entity)
        guard let entry = try await client.read(mount: settings.mount, path: path, consistent: true, context: context) else { return nil }
        guard let secret = entry.data["secret"], let generation = entry.data["generation"].flatMap({ UInt64($0.revealUTF8()) }) else {
            throw KeywardError.operationFailed("the publication record \(settings.mount)/\(path) (version \(entry.version)) has no secret or generation")
        }
        if entry.customMetadata["managed-by"] == "keyward" {
            taggedVersions.withLock { $0[entity] = entry.version }
        }
        func text(_ key: String) -> String? { entry.data[key].map { $0.revealUTF8() }.flatMap { $0.isEmpty ? nil : $0 } }
        return SecretPublication(secret: secret, secretExpiresAt: text("secretExpiresAt").flatMap(Timestamps.parse), generation: generation,
                                 txnId: text("txnId"), updatedBy: text("updatedBy") ?? "unknown", fingerprint: text("fingerprint"),
                                 publishedAt: entry.createdTime, version: entry.version)
    }

    /// Writes the publication with check-and-set against `replacing` (`0`: only when none
    /// exists), generation one more than `replacing`'s, then merges `managed-by: keyward` into
    /// the entry's `custom_metadata` (skipped when the replaced version was read with it; a
    /// failed merge is logged, since the record is published by then).
    ///
    /// - Throws: ``OpenBaoError`` `.casConflict` when another host published first: read again
    ///   and adopt.
    public func publish(_ entity: EntityID, secret: SecretRecord, fingerprint: String, txnId: String?, replacing: SecretPublication?,
                        context: OperationContext) async throws -> SecretPublication
    {
        let path = try publicationPath(entity)
        let generation = (replacing?.generation ?? 0) + 1
        let updatedBy = "\(hostName) (pid \(processID))"
        var data: [String: SecretValue] = [
            "secret": secret.value,
            "generation": SecretValue(utf8: String(generation)),
            "updatedBy": SecretValue(utf8: updatedBy),
            "fingerprint": SecretValue(utf8: fingerprint),
        ]
        if let expiresAt = secret.expiresAt { data["secretExpiresAt"] = SecretValue(utf8: Timestamps.formatMilliseconds(expiresAt)) }
        if let txnId { data["txnId"] = SecretValue(utf8: txnId) }
        let written = try await client.write(mount: settings.mount, path: path, data: data, cas: replacing?.version ?? 0, context: context)
        let tagged = taggedVersions.withLock { tags in
            defer { tags[entity] = nil }
            return replacing.map { tags[entity] == $0.version } ?? false
        }
        if tagged {
            taggedVersions.withLock { $0[entity] = written.version }
        } else {
            // The record is published whatever happens here: a tag that failed is logged, not thrown.
            do {
                try await client.mergeCustomMetadata(mount: settings.mount, path: path, ["managed-by": "keyward"], context: context)
                taggedVersions.withLock { $0[entity] = written.version }
            } catch {
                context.logger.warning("published, but could not tag the record managed-by: keyward",
                                       metadata: ["entity": "\(entity)", "error": "\(error)"])
            }
        }
        return SecretPublication(secret: secret.value, secretExpiresAt: secret.expiresAt, generation: generation, txnId: txnId,
                                 updatedBy: updatedBy, fingerprint: fingerprint, publishedAt: written.createdTime, version: written.version)
    }

    /// SHA-256 of the value's bytes, lowercase hex.
    public func digest(_ value: SecretValue) -> String {
        value.withRevealedBytes { bytes in SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }
    }

    // MARK: Paths

    /// `<prefix>/leases/<ID>`.
    func leasePath(_ entity: EntityID) throws -> String { settings.prefix + "/leases/" + (try segment(entity)) }

    /// `<prefix>/entities/<ID>`.
    func publicationPath(_ entity: EntityID) throws -> String { settings.prefix + "/entities/" + (try segment(entity)) }

    /// The entity id as one path segment; an ``EntityID`` always is one, checked anyway so no
    /// id can ever climb out of the prefix.
    private func segment(_ entity: EntityID) throws -> String {
        guard SharedStoreSettings.isPathSegment(entity.rawValue) else {
            throw OpenBaoError(.usage, server: settings.server.address.absoluteString, path: settings.prefix,
                               detail: "entity id '\(entity)' is not a valid path segment")
        }
        return entity.rawValue
    }

    // MARK: Helpers

    static func seconds(_ duration: Duration) -> Int64 { duration.components.seconds }

    /// 16 random bytes, hex: tells apart two leases of one process.
    static func randomHolderID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }

    /// This boot of this machine and this process's pid namespace: `<boot_id>/<pid namespace>`
    /// from /proc (`nil` where there is none: then a lease is never reclaimed before it expires).
    package static let processSpace: String? = {
        guard let boot = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), !boot.isEmpty,
            let namespace = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")
        else { return nil }
        return "\(boot)/\(namespace)"
    }()

    /// `$KEYWARD_HOSTNAME` when set (a pod whose host name changes at each restart, or several
    /// "hosts" on one machine in tests), else `gethostname(2)`, or `localhost` when it fails.
    static func currentHostName() -> String {
        if let name = ProcessInfo.processInfo.environment["KEYWARD_HOSTNAME"], !name.isEmpty { return name }
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}

/// A lease record's fields (see ``OpenBaoSharedStore``).
struct LeaseRecord: Sendable, Equatable {
    var host: String?
    var pid: Int32?
    /// Where `pid` means something: this boot of this machine and its process-id namespace
    /// (``OpenBaoSharedStore/processSpace``); a lease is reclaimed at once only from the same one.
    var machine: String?
    var holderID: String?
    var operation: String?
    var since: Date?
    var ttlSeconds: Int64?
    var released: Bool
    var progress: RotationProgress?

    init(host: String?, pid: Int32?, holderID: String?, operation: String?, since: Date?, ttlSeconds: Int64?, released: Bool,
         progress: RotationProgress?)
    {
        self.host = host
        self.pid = pid
        self.holderID = holderID
        self.operation = operation
        self.since = since
        self.ttlSeconds = ttlSeconds
        self.released = released
        self.progress = progress
    }

    init(entry: KVEntry) {
        func text(_ key: String) -> String? { entry.data[key].map { $0.revealUTF8() }.flatMap { $0.isEmpty ? nil : $0 } }
        host = text("host")
        pid = text("pid").flatMap { Int32($0) }
        machine = text("machine")
        holderID = text("holderId")
        operation = text("operation")
        since = text("since").flatMap(Timestamps.parse)
        // A record's own lifetime is believed up to the longest leaseTTL accepted (a stray record
        // claiming a century must not block every host).
        ttlSeconds = text("ttlSeconds").flatMap { Int64($0) }.flatMap { $0 > 0 ? min($0, SharedStoreSettings.maximumLeaseSeconds) : nil }
        released = text("released") == "true"
        progress = text("state").flatMap(RotationJournalState.init(rawValue:)).map {
            RotationProgress(state: $0, txnId: text("txnId"), secretHash: text("secretHash"))
        }
    }

    /// The KV data to write.
    var data: [String: SecretValue] {
        var fields: [String: String] = ["released": released ? "true" : "false"]
        fields["host"] = host
        fields["pid"] = pid.map(String.init)
        fields["machine"] = machine
        fields["holderId"] = holderID
        fields["operation"] = operation
        fields["since"] = since.map(Timestamps.format)
        fields["ttlSeconds"] = ttlSeconds.map(String.init)
        if let progress {
            fields["state"] = progress.state.rawValue
            fields["txnId"] = progress.txnId
            fields["secretHash"] = progress.secretHash
        }
        return fields.mapValues { SecretValue(utf8: $0) }
    }

    /// `host (pid N, operation, lease until 2026-12-07T03:30:00Z)`.
    func holderDescription(expiresAt: Date) -> String {
        let details = [pid.map { "pid \($0)" }, operation, "lease until \(Timestamps.format(expiresAt))"].compactMap { $0 }
        return "\(host ?? "another host") (\(details.joined(separator: ", ")))"
    }
}

/// A value behind an `NSLock`.
final class LockedState<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

import AsyncHTTPClient
import Foundation
import KeywardCore
import Logging

/// Where an OpenBao (or HashiCorp Vault) server is and how to authenticate to it (DESIGN.md,
/// "Beyond one machine": the `shared:` section, and a sink's own `address`/`auth`).
public struct OpenBaoServerSettings: Sendable, Equatable {
    /// The server's address, e.g. `https://bao.internal:8200`; `http://` only on loopback.
    public var address: URL
    /// How requests authenticate.
    public var auth: OpenBaoAuth
    /// Sent as `X-Vault-Namespace` when set.
    public var namespace: String?
    /// A PEM file of CA certificates to trust for `https://` (absolute path), or `nil` for the system's.
    public var caFile: String?
    /// The time one call may take, retries (307, standby, sealed, 412/429) included.
    public var timeout: Duration

    public init(address: URL, auth: OpenBaoAuth, namespace: String? = nil, caFile: String? = nil, timeout: Duration = .seconds(10)) {
        self.address = address
        self.auth = auth
        self.namespace = namespace
        self.caFile = caFile
        self.timeout = timeout
    }
}

/// How a client authenticates (DESIGN.md, "Beyond one machine": `auth:`).
public enum OpenBaoAuth: Sendable, Equatable {
    /// A token, sent as `X-Vault-Token`; renewed with `auth/token/renew-self` when renewable.
    case token(CredentialReference)
    /// AppRole login at `auth/<mount>/login`; the client token it returns is renewed, and the
    /// login repeated when it can no longer be renewed.
    case appRole(roleID: CredentialReference, secretID: CredentialReference, mount: String)
}

/// One version of a KV v2 entry.
public struct KVEntry: Sendable {
    /// The entry's data; every value is kept as ``SecretValue`` (never printed).
    public var data: [String: SecretValue]
    /// The KV version this data is (1, 2, …): the check-and-set value for the next write.
    public var version: UInt64
    /// When this version was written, by the server's clock (`created_time`).
    public var createdTime: Date
    /// The entry's `custom_metadata` (from the metadata endpoint or the data response).
    public var customMetadata: [String: String]
    /// The server's clock when it answered (the response's `Date` header), when it sent one.
    public var serverDate: Date?

    public init(data: [String: SecretValue], version: UInt64, createdTime: Date, customMetadata: [String: String], serverDate: Date?) {
        self.data = data
        self.version = version
        self.createdTime = createdTime
        self.customMetadata = customMetadata
        self.serverDate = serverDate
    }
}

/// What a KV v2 write returns.
public struct KVWriteResult: Sendable, Equatable {
    /// The version the write created.
    public var version: UInt64
    /// Its `created_time`, by the server's clock.
    public var createdTime: Date
    /// The server's clock when it answered (`Date` header), when sent.
    public var serverDate: Date?

    public init(version: UInt64, createdTime: Date, serverDate: Date?) {
        self.version = version
        self.createdTime = createdTime
        self.serverDate = serverDate
    }
}

/// A KV v2 client for OpenBao and HashiCorp Vault (DESIGN.md, "Beyond one machine").
///
/// Every call authenticates (``OpenBaoAuth``), sends `X-Vault-Namespace` when set, follows 307
/// redirects and retries a standby, a sealed node or leader election (503), and 412/429 with the
/// last `X-Vault-Index`, within ``OpenBaoServerSettings/timeout``. Reads with `consistent: true`
/// send `X-Vault-Inconsistent: forward-active-node`, so a standby never serves a stale lease.
/// Errors are ``OpenBaoError``s naming the server, the path and the status, never a value.
public final class OpenBaoClient: Sendable {
    public let settings: OpenBaoServerSettings

    /// - Parameters:
    ///   - credentials: resolves ``OpenBaoAuth``'s references (`env:`, `file:`, `vault:`).
    ///   - httpClient: the HTTP client (`HTTPClient.shared` unless a CA file is set, then one of
    ///     the client's own, shut down by ``shutdown()``).
    /// - Throws: ``OpenBaoError`` (usage) for `http://` off loopback or an unreadable CA file.
    public init(settings: OpenBaoServerSettings, credentials: CredentialResolver, logger: Logger) throws {
        self.settings = settings
        fatalError("wtA implements")
    }

    /// Checks that `mount` is a KV version 2 mount (`GET /v1/sys/internal/ui/mounts/<mount>`).
    ///
    /// - Throws: ``OpenBaoError`` `.mountNotFound` (404), `.kvVersion1`, `.forbidden`, …
    public func checkKVv2Mount(_ mount: String, context: OperationContext) async throws {
        fatalError("wtA implements")
    }

    /// The current version of `<mount>/data/<path>`, or `nil` when there is none (404, or its
    /// current version is deleted or destroyed).
    ///
    /// - Parameter consistent: sends `X-Vault-Inconsistent: forward-active-node` (a read that
    ///   must see the latest write: a lease, a publication).
    public func read(mount: String, path: String, consistent: Bool, context: OperationContext) async throws -> KVEntry? {
        fatalError("wtA implements")
    }

    /// Writes `data` as a new version of `<mount>/data/<path>`.
    ///
    /// - Parameter cas: check-and-set: `0` writes only when the entry does not exist, `n` only
    ///   when the current version is `n`; `nil` writes unconditionally.
    /// - Throws: ``OpenBaoError`` `.casConflict` when `cas` did not match.
    public func write(mount: String, path: String, data: [String: SecretValue], cas: UInt64?, context: OperationContext) async throws
        -> KVWriteResult
    {
        fatalError("wtA implements")
    }

    /// Merges `entries` into the entry's `custom_metadata` (`PATCH <mount>/metadata/<path>`,
    /// `application/merge-patch+json`): a `nil` value removes that key, other keys are kept.
    public func mergeCustomMetadata(mount: String, path: String, _ entries: [String: String?], context: OperationContext) async throws {
        fatalError("wtA implements")
    }

    /// The entry's `custom_metadata` and current version, or `nil` when the entry does not exist.
    public func metadata(mount: String, path: String, context: OperationContext) async throws -> (currentVersion: UInt64, customMetadata: [String: String])? {
        fatalError("wtA implements")
    }

    /// Stops the token renewal and any HTTP client this client made.
    public func shutdown() async {}
}

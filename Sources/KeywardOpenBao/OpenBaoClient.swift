import AsyncHTTPClient
import Foundation
import KeywardCore
import Logging
import NIOHTTP1

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
    let transport: OpenBaoTransport
    let authenticator: OpenBaoAuthenticator
    let logger: Logger

    /// - Parameters:
    ///   - credentials: resolves ``OpenBaoAuth``'s references (`env:`, `file:`, `vault:`), lazily
    ///     on the first request (a reference to the vault needs it open by then).
    ///   - httpClient: the HTTP client (a process-wide one with redirects disabled — 307s are
    ///     followed by this client so that the token and the `X-Vault-Index` go with them —
    ///     unless a CA file is set, then the process-wide one for that file).
    /// - Throws: ``OpenBaoError`` (usage) for `http://` off loopback, a scheme other than
    ///   `http`/`https`, or an unreadable CA file.
    public init(settings: OpenBaoServerSettings, credentials: CredentialResolver, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        self.transport = try OpenBaoTransport(settings: settings, logger: logger)
        self.authenticator = OpenBaoAuthenticator(auth: settings.auth, credentials: credentials)
    }

    /// Checks that `mount` is a KV version 2 mount (`GET /v1/sys/internal/ui/mounts/<mount>`).
    ///
    /// - Throws: ``OpenBaoError`` `.mountNotFound` (404), `.kvVersion1`, `.forbidden`, …
    public func checkKVv2Mount(_ mount: String, context: OperationContext) async throws {
        let mountPath = try transport.validatedPath([mount], what: "mount")
        let apiPath = "sys/internal/ui/mounts/\(mountPath)"
        let response = try await call(.GET, apiPath, shownPath: mountPath, consistent: false, context: context)
        switch response.status {
        case 200:
            let body = try transport.decode(MountAnswer.self, from: response, shownPath: mountPath)
            let type = body.data?.type ?? ""
            guard type == "kv" || type == "generic" else {
                throw transport.error(.usage, mountPath, status: 200, "the mount is of type '\(type)', not a KV version 2 mount")
            }
            guard body.data?.options?.version == "2" else {
                throw transport.error(.kvVersion1, mountPath, status: 200,
                                      "the mount is KV version 1; Keyward needs KV version 2 (check-and-set, metadata)")
            }
        case 403 where response.errorText.contains("preflight capability check"):
            // The answer for a mount that does not exist and for one the token may not touch at
            // all; a request routed to the mount tells them apart (404 "no handler for route").
            let probePath = "\(mountPath)/config"
            let probe = try await call(.GET, probePath, shownPath: probePath, consistent: false, context: context)
            if probe.status == 404, probe.errorText.lowercased().contains("no handler for route") {
                throw transport.error(.mountNotFound, mountPath, status: 404, "no such mount")
            }
            throw transport.failure(response, mountPath)
        case 400, 404:
            let text = response.errorText.lowercased()
            guard response.status == 404 || text.contains("no mount") || text.contains("no handler") else {
                throw transport.failure(response, mountPath)
            }
            throw transport.error(.mountNotFound, mountPath, status: response.status, "no such mount")
        default:
            throw transport.failure(response, mountPath)
        }
    }

    /// The current version of `<mount>/data/<path>`, or `nil` when there is none (404, or its
    /// current version is deleted or destroyed).
    ///
    /// Data values that are not JSON strings (written by another tool) are kept as their JSON text.
    ///
    /// - Parameter consistent: sends `X-Vault-Inconsistent: forward-active-node` (a read that
    ///   must see the latest write: a lease, a publication).
    /// - Throws: ``OpenBaoError``: `.forbidden` (403), `.mountNotFound` (no handler for the
    ///   mount), `.sealed`/`.unreachable` after the timeout, `.badResponse`.
    public func read(mount: String, path: String, consistent: Bool, context: OperationContext) async throws -> KVEntry? {
        let apiPath = try transport.validatedPath([mount, "data", path], what: "path")
        let response = try await call(.GET, apiPath, shownPath: apiPath, consistent: consistent, context: context)
        switch response.status {
        case 200:
            let body = try transport.decode(DataAnswer.self, from: response, shownPath: apiPath)
            guard let metadata = body.data?.metadata else {
                throw transport.error(.badResponse, apiPath, status: 200, "the answer has no metadata")
            }
            if metadata.destroyed == true || !(metadata.deletion_time ?? "").isEmpty { return nil }
            guard let data = body.data?.data else { return nil }
            guard let created = OpenBaoDates.rfc3339(metadata.created_time ?? "") else {
                throw transport.error(.badResponse, apiPath, status: 200, "the answer's created_time cannot be read")
            }
            return KVEntry(
                data: data.mapValues { $0.secretValue },
                version: metadata.version ?? 0,
                createdTime: created,
                customMetadata: (metadata.custom_metadata ?? [:]).compactMapValues { $0 },
                serverDate: response.serverDate
            )
        case 404:
            try transport.throwIfNoMount(response, apiPath)
            return nil
        default:
            throw transport.failure(response, apiPath)
        }
    }

    /// Writes `data` as a new version of `<mount>/data/<path>`.
    ///
    /// - Parameter cas: check-and-set: `0` writes only when the entry does not exist, `n` only
    ///   when the current version is `n`; `nil` writes unconditionally.
    /// - Throws: ``OpenBaoError`` `.casConflict` when `cas` did not match; `.usage` for a value
    ///   that is not valid UTF-8 (KV values are JSON strings); `.forbidden`, `.mountNotFound`,
    ///   `.sealed`, `.unreachable`, `.badResponse`.
    public func write(mount: String, path: String, data: [String: SecretValue], cas: UInt64?, context: OperationContext) async throws
        -> KVWriteResult
    {
        let apiPath = try transport.validatedPath([mount, "data", path], what: "path")
        var strings: [String: String] = [:]
        for (key, value) in data {
            guard value.isValidUTF8 else {
                throw transport.error(.usage, apiPath, status: nil, "the value of key '\(key)' is not valid UTF-8 (KV values are JSON strings)")
            }
            strings[key] = value.revealUTF8()
        }
        let body = try JSONEncoder().encode(WriteRequest(options: cas.map { .init(cas: $0) }, data: strings))
        let response = try await call(.POST, apiPath, shownPath: apiPath, body: body, consistent: false, context: context)
        switch response.status {
        case 200, 204:
            let answer = try transport.decode(WriteAnswer.self, from: response, shownPath: apiPath)
            guard let version = answer.data?.version, let created = OpenBaoDates.rfc3339(answer.data?.created_time ?? "") else {
                throw transport.error(.badResponse, apiPath, status: response.status, "the answer has no version or created_time")
            }
            return KVWriteResult(version: version, createdTime: created, serverDate: response.serverDate)
        case 400 where response.errorText.contains("check-and-set"):
            throw transport.error(.casConflict, apiPath, status: 400,
                                  "check-and-set \(cas.map(String.init) ?? "-") did not match the current version (another writer wrote it)")
        case 404:
            try transport.throwIfNoMount(response, apiPath)
            throw transport.failure(response, apiPath)
        default:
            throw transport.failure(response, apiPath)
        }
    }

    /// Merges `entries` into the entry's `custom_metadata` (`PATCH <mount>/metadata/<path>`,
    /// `application/merge-patch+json`): a `nil` value removes that key, other keys are kept.
    /// When the entry has no metadata yet, it is created (`POST`) with the non-`nil` entries.
    public func mergeCustomMetadata(mount: String, path: String, _ entries: [String: String?], context: OperationContext) async throws {
        let apiPath = try transport.validatedPath([mount, "metadata", path], what: "path")
        let patch = try JSONEncoder().encode(MetadataPatch(custom_metadata: entries.mapValues { NullableString(value: $0) }))
        let response = try await call(.PATCH, apiPath, shownPath: apiPath, body: patch, contentType: "application/merge-patch+json",
                                      consistent: false, context: context)
        switch response.status {
        case 200, 204:
            return
        case 404:
            try transport.throwIfNoMount(response, apiPath)
            let create = try JSONEncoder().encode(MetadataCreate(custom_metadata: entries.compactMapValues { $0 }))
            let created = try await call(.POST, apiPath, shownPath: apiPath, body: create, consistent: false, context: context)
            guard created.status == 200 || created.status == 204 else { throw transport.failure(created, apiPath) }
        default:
            throw transport.failure(response, apiPath)
        }
    }

    /// The entry's `custom_metadata` and current version, or `nil` when the entry does not exist.
    public func metadata(mount: String, path: String, context: OperationContext) async throws -> (currentVersion: UInt64, customMetadata: [String: String])? {
        let apiPath = try transport.validatedPath([mount, "metadata", path], what: "path")
        let response = try await call(.GET, apiPath, shownPath: apiPath, consistent: true, context: context)
        switch response.status {
        case 200:
            let answer = try transport.decode(MetadataAnswer.self, from: response, shownPath: apiPath)
            guard let data = answer.data else { throw transport.error(.badResponse, apiPath, status: 200, "the answer has no data") }
            return (data.current_version ?? 0, (data.custom_metadata ?? [:]).compactMapValues { $0 })
        case 404:
            try transport.throwIfNoMount(response, apiPath)
            return nil
        default:
            throw transport.failure(response, apiPath)
        }
    }


    /// One authenticated call within the settings' timeout (and the context's deadline), with
    /// one fresh AppRole login when the server answers 403 to a token obtained by login.
    func call(_ method: HTTPMethod, _ apiPath: String, shownPath: String, body: Data? = nil, contentType: String = "application/json",
              consistent: Bool, context: OperationContext) async throws -> OpenBaoResponse
    {
        let deadline = transport.deadline(context: context)
        var token = try await authenticator.token(transport: transport, deadline: deadline, context: context)
        var response = try await transport.send(method, apiPath, shownPath: shownPath, token: token, body: body, contentType: contentType,
                                                consistent: consistent, deadline: deadline)
        if response.status == 403, await authenticator.canLogInAgain(after: token) {
            logger.debug("openbao: 403, logging in again", metadata: ["path": "\(shownPath)"])
            token = try await authenticator.token(transport: transport, deadline: deadline, context: context, replacing: token)
            response = try await transport.send(method, apiPath, shownPath: shownPath, token: token, body: body, contentType: contentType,
                                                consistent: consistent, deadline: deadline)
        }
        return response
    }
}

// MARK: - Wire formats (only the fields used)

struct MountAnswer: Decodable {
    struct Data: Decodable {
        struct Options: Decodable { var version: String? }
        var type: String?
        var options: Options?
    }
    var data: Data?
}

struct KVMetadata: Decodable {
    var created_time: String?
    var custom_metadata: [String: String?]?
    var deletion_time: String?
    var destroyed: Bool?
    var version: UInt64?
}

struct DataAnswer: Decodable {
    struct Data: Decodable {
        var data: [String: JSONValue]?
        var metadata: KVMetadata?
    }
    var data: Data?
}

struct WriteRequest: Encodable {
    struct Options: Encodable { var cas: UInt64 }
    var options: Options?
    var data: [String: String]
}

struct WriteAnswer: Decodable {
    struct Data: Decodable {
        var created_time: String?
        var version: UInt64?
    }
    var data: Data?
}

struct MetadataAnswer: Decodable {
    struct Data: Decodable {
        var current_version: UInt64?
        var custom_metadata: [String: String?]?
    }
    var data: Data?
}

/// A string or JSON `null` (merge-patch: `null` removes the key).
struct NullableString: Encodable {
    var value: String?
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}

struct MetadataPatch: Encodable { var custom_metadata: [String: NullableString] }
struct MetadataCreate: Encodable { var custom_metadata: [String: String] }

/// Any JSON value: KV data written by other tools may hold numbers, booleans or objects.
enum JSONValue: Codable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let string = try? container.decode(String.self) { self = .string(string) }
        else if let bool = try? container.decode(Bool.self) { self = .bool(bool) }
        else if let number = try? container.decode(Double.self) { self = .number(number) }
        else if let array = try? container.decode([JSONValue].self) { self = .array(array) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let s): try container.encode(s)
        case .number(let n): if n == n.rounded(), abs(n) < 1e15 { try container.encode(Int64(n)) } else { try container.encode(n) }
        case .bool(let b): try container.encode(b)
        case .null: try container.encodeNil()
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }

    /// A string's UTF-8; anything else as its JSON text.
    var secretValue: SecretValue {
        if case .string(let string) = self { return SecretValue(utf8: string) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return SecretValue(bytes: (try? encoder.encode(self)) ?? Data())
    }
}

/// The two date forms the server sends.
enum OpenBaoDates {
    /// RFC 3339 with optional fractional seconds of any length (`2026-12-07T03:20:32.123456789Z`).
    static func rfc3339(_ text: String) -> Date? {
        var base = text
        var fraction = 0.0
        if let dot = text.firstIndex(of: ".") {
            let digitsEnd = text[text.index(after: dot)...].firstIndex(where: { !$0.isNumber }) ?? text.endIndex
            let digits = text[text.index(after: dot)..<digitsEnd]
            fraction = Double("0." + digits) ?? 0
            base = String(text[..<dot] + text[digitsEnd...])
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: base).map { $0.addingTimeInterval(fraction) }
    }

    /// RFC 1123 (`Mon, 07 Dec 2026 03:20:32 GMT`), the HTTP `Date` header.
    static func rfc1123(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}

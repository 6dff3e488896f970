import AsyncHTTPClient
import Foundation
import KeywardCore
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import Synchronization

/// One answer from the server: status, headers and body (the body is never shown: it may hold a
/// value or a token; only the `errors` of an error answer are).
struct OpenBaoResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data
    /// The server's `errors`, joined with "; ", the token scrubbed, at most 300 characters; empty
    /// for a successful answer or one without `errors`.
    var errorText: String

    /// The `Date` header (RFC 1123), when sent and readable.
    var serverDate: Date? { headers.first(name: "Date").flatMap(OpenBaoDates.rfc1123) }
}

/// A lock-protected value (the last `X-Vault-Index`).
final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
}

/// HTTP to one OpenBao server: headers, 307s, retries of 412/429/503 and failed connections
/// with backoff (100 ms doubling to 1 s) within a deadline, and error mapping.
final class OpenBaoTransport: Sendable {
    let settings: OpenBaoServerSettings
    /// The address as shown in errors, without a trailing `/`.
    let server: String
    private let httpClient: HTTPClient
    private let lastIndex = LockedValue<String?>(nil)
    /// The active node's address for consistent reads, until when it is trusted.
    private let active = LockedValue<(base: String, until: ContinuousClock.Instant)?>(nil)
    private let logger: Logger

    /// The largest answer read, in bytes (16 MiB; KV entries are limited to far less by default).
    static let maximumBodyBytes = 16 << 20

    /// The process-wide HTTP client for servers with the system's CA roots: redirects are not
    /// followed by AsyncHTTPClient (this transport follows 307s itself, re-sending the token and
    /// the `X-Vault-Index`), and a refused connection fails at once so that the retry loop here
    /// decides (a standby restarting, a leader election).
    static let sharedHTTPClient: HTTPClient = {
        HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration(tls: nil))
    }()

    /// The process-wide HTTP clients for servers trusted through a `caFile`, by its path.
    static let caFileClients = Mutex<[String: HTTPClient]>([:])

    private static func configuration(tls: TLSConfiguration?) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.connectionPool.retryConnectionEstablishment = false
        // A connection not made in 5 s is retried (within the call's timeout) rather than
        // spending the whole timeout on one attempt.
        configuration.timeout = .init(connect: .seconds(5))
        return configuration
    }

    init(settings: OpenBaoServerSettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        var shown = settings.address.absoluteString
        while shown.hasSuffix("/") { shown.removeLast() }
        self.server = shown
        try Self.checkAddress(settings.address, server: shown)
        if let caFile = settings.caFile {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(caFile)
            } catch {
                throw OpenBaoError(.usage, server: shown, path: "", detail: "caFile \(caFile): cannot be read as PEM certificates")
            }
            guard !certificates.isEmpty else {
                throw OpenBaoError(.usage, server: shown, path: "", detail: "caFile \(caFile): holds no certificate")
            }
            // One client per CA file for the whole process, like the shared one: a client an
            // OpenBaoClient made and dropped without an awaited shutdown traps in AsyncHTTPClient's
            // deinit ("Client not shut down before the deinit"), and the shared store's client
            // lives until the process exits.
            self.httpClient = Self.caFileClients.withLock { clients in
                if let existing = clients[caFile] { return existing }
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.trustRoots = .certificates(certificates)
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.configuration(tls: tls))
                clients[caFile] = client
                return client
            }
        } else {
            self.httpClient = Self.sharedHTTPClient
        }
    }

    /// `https://` anywhere; `http://` only to a loopback host (127.0.0.0/8, ::1, localhost)
    /// (DESIGN.md, "Beyond one machine": a token never crosses a network in clear).
    static func checkAddress(_ url: URL, server: String) throws {
        let scheme = url.scheme?.lowercased()
        guard let host = url.host, !host.isEmpty, scheme == "http" || scheme == "https" else {
            throw OpenBaoError(.usage, server: server, path: "", detail: "the address must be https://HOST[:PORT] (or http:// on loopback)")
        }
        if scheme == "http", !isLoopback(host) {
            throw OpenBaoError(.usage, server: server, path: "",
                               detail: "http:// is allowed only to a loopback host (127.0.0.0/8, ::1, localhost); use https://")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else { return false }
        return octets[0] == "127"
    }

    /// Each part of `parts` split at `/`, checked (no empty, `.` or `..` segment, no control
    /// character) and percent-encoded, joined with `/`.
    func validatedPath(_ parts: [String], what: String) throws -> String {
        var segments: [String] = []
        for part in parts {
            for segment in part.split(separator: "/", omittingEmptySubsequences: false) {
                guard !segment.isEmpty, segment != ".", segment != "..",
                    !segment.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
                else {
                    throw OpenBaoError(.usage, server: server, path: parts.joined(separator: "/").replacingOccurrences(of: "\n", with: "\\n"),
                                       detail: "the \(what) needs non-empty segments without '.', '..' or control characters")
                }
                var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
                allowed.insert(charactersIn: "-._~@:+,=")
                segments.append(String(segment).addingPercentEncoding(withAllowedCharacters: allowed) ?? String(segment))
            }
        }
        return segments.joined(separator: "/")
    }

    /// When a call must end: now plus the settings' timeout, or the context's deadline if sooner.
    func deadline(context: OperationContext) -> ContinuousClock.Instant {
        var deadline = ContinuousClock.now + settings.timeout
        if let limit = context.deadline {
            let left = limit.timeIntervalSince(context.clock.now)
            let byContext = ContinuousClock.now + .milliseconds(Int64(max(0, left) * 1000))
            if byContext < deadline { deadline = byContext }
        }
        return deadline
    }

    /// Sends one request and returns the first answer that is not to be retried.
    ///
    /// Follows 307/308 (`Location`, checked like the address); retries 412, 429, 502–504, a 500
    /// naming leader election or a standby, and failed connections, with backoff, until
    /// `deadline`; then throws `.sealed` when the last answer said the server is sealed, else
    /// `.unreachable`.
    func send(_ method: HTTPMethod, _ apiPath: String, shownPath: String, token: String?, body: Data?,
              contentType: String = "application/json", consistent: Bool, deadline: ContinuousClock.Instant) async throws -> OpenBaoResponse
    {
        var base = consistent ? await activeNode(deadline: deadline) : server
        var url = base + "/v1/" + apiPath
        var backoff = Duration.milliseconds(100)
        var lastProblem = (sealed: false, status: Int?.none, detail: "no answer")
        var redirects = 0
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                let kind: OpenBaoError.Kind = lastProblem.sealed ? .sealed : .unreachable
                throw OpenBaoError(kind, server: server, path: shownPath, status: lastProblem.status,
                                   detail: "no usable answer within \(settings.timeout) (last: \(lastProblem.detail))")
            }
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers.add(name: "X-Vault-Request", value: "true")
            if let token { request.headers.add(name: "X-Vault-Token", value: token) }
            if let namespace = settings.namespace { request.headers.add(name: "X-Vault-Namespace", value: namespace) }
            if consistent { request.headers.add(name: "X-Vault-Inconsistent", value: "forward-active-node") }
            if let index = lastIndex.get() { request.headers.add(name: "X-Vault-Index", value: index) }
            if let body {
                request.headers.add(name: "Content-Type", value: contentType)
                request.body = .bytes(ByteBuffer(data: body))
            }
            let answer: OpenBaoResponse
            do {
                let response = try await httpClient.execute(request, deadline: .now() + .nanoseconds(Self.nanoseconds(remaining)))
                let buffer = try await response.body.collect(upTo: Self.maximumBodyBytes)
                if let index = response.headers.first(name: "X-Vault-Index"), !index.isEmpty { lastIndex.set(index) }
                let data = Data(buffer: buffer)
                answer = OpenBaoResponse(status: Int(response.status.code), headers: response.headers, body: data,
                                         errorText: response.status.code >= 300 ? Self.errorText(data, token: token) : "")
            } catch {
                if Task.isCancelled { throw CancellationError() }
                if base != server {
                    // The active node's advertised address cannot be reached from here (or it
                    // just died): the configured address for the next 10 s, which forwards.
                    logger.debug("openbao: the active node's address failed; using the configured address", metadata: ["path": "\(shownPath)"])
                    active.set((server, ContinuousClock.now + .seconds(10)))
                    base = server
                    url = base + "/v1/" + apiPath
                    continue
                }
                if let problem = Self.permanentTransportProblem(error) {
                    throw OpenBaoError(.unreachable, server: server, path: shownPath, detail: problem)
                }
                lastProblem = (false, nil, Self.transportProblem(error))
                logger.debug("openbao: retrying after a failed connection", metadata: ["path": "\(shownPath)", "cause": "\(lastProblem.detail)"])
                url = base + "/v1/" + apiPath
                redirects = 0  // counted per attempt: a standby may point at a dead leader until it learns
                try await pause(&backoff, deadline: deadline)
                continue
            }
            switch answer.status {
            case 301, 302, 303, 307, 308:
                redirects += 1
                guard redirects <= 10 else {
                    throw OpenBaoError(.badResponse, server: server, path: shownPath, status: answer.status, detail: "more than 10 redirects")
                }
                guard let location = answer.headers.first(name: "Location"), !location.isEmpty,
                    let target = URL(string: location, relativeTo: URL(string: url))?.absoluteURL, target.host?.isEmpty == false
                else {
                    // Measured on a raft standby during leader election: a 307 with no Location
                    // (no active node known yet). Retried like a 503.
                    lastProblem = (false, answer.status, "HTTP \(answer.status) without a Location (no active node yet)")
                    if base != server { active.set(nil); base = server }
                    url = base + "/v1/" + apiPath
                    redirects = 0  // counted per attempt: a standby may point at a dead leader until it learns
                try await pause(&backoff, deadline: deadline)
                    continue
                }
                try Self.checkAddress(target, server: server)
                logger.debug("openbao: following a redirect to the active node", metadata: ["path": "\(shownPath)"])
                url = target.absoluteString
            case _ where [412, 429, 502, 503, 504].contains(answer.status) || (answer.status == 500 && Self.isElection(answer.errorText))
                || (answer.status == 400 && Self.isUpgrading(answer.errorText)):
                let sealed = answer.errorText.lowercased().contains("sealed")
                lastProblem = (sealed, answer.status, answer.errorText.isEmpty ? "HTTP \(answer.status)" : "HTTP \(answer.status): \(answer.errorText)")
                logger.debug("openbao: retrying", metadata: ["path": "\(shownPath)", "status": "\(answer.status)"])
                if base != server { active.set(nil); base = server }
                url = base + "/v1/" + apiPath
                redirects = 0  // counted per attempt: a standby may point at a dead leader until it learns
                try await pause(&backoff, deadline: deadline)
            default:
                return answer
            }
        }
    }

    /// The active node's address, for reads that must see the latest write.
    ///
    /// OpenBao's standbys answer reads from their own replica (`disable_standby_reads=false`,
    /// the default on raft): `X-Vault-Inconsistent: forward-active-node` forwards a read only
    /// when it carries an `X-Vault-Index` the standby has not reached, and a write made by
    /// another host gives this client no index. So a consistent read goes to the active node
    /// itself, learned from `GET /v1/sys/leader` at the configured address (kept 10 s; dropped
    /// when it fails, the call then continues at the configured address, which forwards). The
    /// leader's address is checked like a redirect's (`http://` on loopback only).
    func activeNode(deadline: ContinuousClock.Instant) async -> String {
        if let known = active.get(), known.until > ContinuousClock.now { return known.base }
        struct Leader: Decodable {
            var ha_enabled: Bool?
            var is_self: Bool?
            var leader_address: String?
        }
        var base = server
        var request = HTTPClientRequest(url: server + "/v1/sys/leader")
        request.headers.add(name: "X-Vault-Request", value: "true")
        let remaining = min(deadline - ContinuousClock.now, .seconds(2))
        if remaining > .zero,
            let response = try? await httpClient.execute(request, deadline: .now() + .nanoseconds(Self.nanoseconds(remaining))),
            response.status == .ok,
            let body = try? await response.body.collect(upTo: 64 * 1024),
            let leader = try? JSONDecoder().decode(Leader.self, from: Data(buffer: body)),
            leader.ha_enabled == true, leader.is_self != true,
            var address = leader.leader_address, let url = URL(string: address), (try? Self.checkAddress(url, server: server)) != nil
        {
            while address.hasSuffix("/") { address.removeLast() }
            base = address
        }
        active.set((base, ContinuousClock.now + .seconds(10)))
        return base
    }

    private func pause(_ backoff: inout Duration, deadline: ContinuousClock.Instant) async throws {
        let remaining = deadline - ContinuousClock.now
        try await Task.sleep(for: min(backoff, max(remaining, .zero)))
        backoff = min(backoff * 2, .seconds(1))
    }

    /// A KV v2 mount just enabled (or upgraded from v1) answers 400 "Waiting for the primary to
    /// upgrade from non-versioned to versioned data" for a moment, on every node: transient.
    private static func isUpgrading(_ text: String) -> Bool {
        text.lowercased().contains("upgrade from non-versioned to versioned data")
    }

    private static func isElection(_ text: String) -> Bool {
        let text = text.lowercased()
        return ["leader", "active node", "standby", "sealed", "forward", "election"].contains { text.contains($0) }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// The `errors` of an error answer, joined; the token scrubbed; at most 300 characters.
    static func errorText(_ body: Data, token: String?) -> String {
        struct Errors: Decodable { var errors: [String]? }
        guard let errors = (try? JSONDecoder().decode(Errors.self, from: body))?.errors else { return "" }
        var text = errors.joined(separator: "; ").replacingOccurrences(of: "\n", with: " ")
        if let token, token.count >= 4 { text = text.replacingOccurrences(of: token, with: "<token>") }
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }

    /// A transport failure not worth retrying (TLS: a certificate the CA file does not vouch for).
    private static func permanentTransportProblem(_ error: any Error) -> String? {
        if error is NIOSSLError || error is BoringSSLError { return "TLS failed: the server's certificate is not trusted or the handshake failed" }
        return nil
    }

    /// The cause of a failed exchange, from error kinds and errno only (descriptions may hold URLs).
    static func transportProblem(_ error: any Error) -> String {
        switch error {
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout: return "connecting timed out"
            case .deadlineExceeded, .readTimeout, .writeTimeout, .getConnectionFromPoolTimeout: return "no answer in time"
            case .remoteConnectionClosed: return "the connection closed before an answer"
            default: return "HTTP client: \(error.shortDescription)"
            }
        case let error as IOError:
            return socketCause(error)
        case let error as ChannelError:
            if case .connectTimeout = error { return "connecting timed out" }
            return "connection failed"
        default:
            // NIOPosix's NIOConnectionError (not a dependency here): every address refused or failed.
            return "\(type(of: error))" == "NIOConnectionError" ? "connection refused or failed" : "connection failed (\(type(of: error)))"
        }
    }

    private static func socketCause(_ error: any Error) -> String {
        guard let error = error as? IOError else { return "connection failed" }
        switch error.errnoCode {
        case ECONNREFUSED: return "connection refused"
        case ECONNRESET: return "connection reset"
        case ETIMEDOUT: return "connecting timed out"
        default: return String(cString: strerror(error.errnoCode))
        }
    }

    // MARK: Errors

    func error(_ kind: OpenBaoError.Kind, _ path: String, status: Int?, _ detail: String) -> OpenBaoError {
        OpenBaoError(kind, server: server, path: path, status: status, detail: detail)
    }

    /// An answer no caller handled: 401/403 → `.forbidden`, anything else `.badResponse`, with
    /// the server's `errors`.
    func failure(_ response: OpenBaoResponse, _ path: String) -> OpenBaoError {
        let said = response.errorText.isEmpty ? nil : response.errorText
        switch response.status {
        case 401, 403:
            return error(.forbidden, path, status: response.status, said ?? "permission denied (the token expired or its policy denies the path)")
        case 404:
            return error(.badResponse, path, status: 404, said ?? "not found")
        default:
            return error(.badResponse, path, status: response.status, said ?? "unexpected answer")
        }
    }

    /// A 404 that says no mount handles the path (as opposed to an absent entry).
    func throwIfNoMount(_ response: OpenBaoResponse, _ path: String) throws {
        if response.errorText.lowercased().contains("no handler for route") {
            let mount = path.split(separator: "/").first.map(String.init) ?? path
            throw error(.mountNotFound, path, status: 404, "no mount '\(mount)'")
        }
    }

    func decode<T: Decodable>(_ type: T.Type, from response: OpenBaoResponse, shownPath: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: response.body)
        } catch {
            throw self.error(.badResponse, shownPath, status: response.status, "the answer is not the JSON expected")
        }
    }
}

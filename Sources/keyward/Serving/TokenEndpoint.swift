import Foundation
import HTTPTypes
import Hummingbird
import KeywardCore
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The token endpoint of `schedule run --token-listen` and `exec --serve-tokens` (DESIGN.md,
/// "Operability"): `GET /v1/entities/<ID>/token` answers `{"token":T,"expiresAt":RFC3339}`.
///
/// The order of checks, each answered before the next is looked at:
/// 1. a path other than `/v1/entities/<ID>/token` → 404 (secrets are never served: there is
///    no other route; `/v1/entities/ID/secret` is such a path);
/// 2. a method other than GET → 405 with `Allow: GET`;
/// 3. `Authorization: Bearer <token>` missing or not the serve token (compared in constant
///    time) → 401 with `WWW-Authenticate: Bearer`;
/// 4. `X-Keyward-Request: true` missing → 412 (a browser or a server-side request forgery
///    cannot add it to a plain GET);
/// 5. an entity not served (or not a valid id) → 404, only now so that ids cannot be probed
///    without the bearer token;
/// 6. the engine fails: 503 when the vault is the cause (locked, integrity), 502 otherwise (the
///    token service refused, was unreachable, or gave an expired token), with the error's
///    message, which never holds a credential.
///
/// Every answer has `Cache-Control: no-store` and a JSON body; error bodies are
/// `{"error":MESSAGE}`.
struct TokenEndpoint: Sendable {
    let server: EntityTokenServer
    /// The bytes a caller must present as `Authorization: Bearer …`.
    let bearer: [UInt8]
    let logger: Logger

    static let requestHeader = HTTPField.Name("X-Keyward-Request")!

    func respond(to request: Request) async -> Response {
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "v1", parts[2] == "entities", !parts[3].isEmpty, parts[4] == "token" else {
            return Self.error(.notFound, "not found: the only path is /v1/entities/<ID>/token")
        }
        guard request.method == .get else {
            var response = Self.error(.methodNotAllowed, "only GET is allowed")
            response.headers[.allow] = "GET"
            return response
        }
        guard authorized(request.headers[.authorization]) else {
            var response = Self.error(.unauthorized, "a valid Authorization: Bearer token is required")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        guard request.headers[Self.requestHeader]?.lowercased() == "true" else {
            return Self.error(.preconditionFailed, "the header X-Keyward-Request: true is required")
        }
        let name = String(parts[3]).removingPercentEncoding ?? String(parts[3])
        guard let id = EntityID(name), server.entities.contains(id) else {
            return Self.error(.notFound, "entity '\(Self.printable(name))' is not served here")
        }
        do {
            let record = try await server.token(for: id)
            let body = TokenBody(token: record.value.revealUTF8(), expiresAt: record.expiresAt)
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return Self.json(.ok, try encoder.encode(body))
        } catch {
            let category = (error as? any CategorizedError)?.category
            let message = (error as? any CategorizedError)?.description ?? (error as? TokenServingError)?.description
                ?? "the token could not be had (\(type(of: error)))"
            logger.warning("token endpoint: \(id): \(message)")
            return Self.error(category == .vault ? .serviceUnavailable : .badGateway, message)
        }
    }

    /// Whether `header` is `Bearer <the serve token>`. The comparison takes the same time
    /// wherever the first difference is (it depends on the serve token's length only).
    func authorized(_ header: String?) -> Bool {
        // RFC 6750, section 2.1: `"Bearer" 1*SP b64token` (the scheme is case-insensitive, RFC 9110).
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        return Self.constantTimeEquals(Array(header.utf8.dropFirst(7).drop { $0 == UInt8(ascii: " ") }), bearer)
    }

    /// `presented == expected`, in time that depends on `expected.count` only.
    static func constantTimeEquals(_ presented: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference: UInt8 = presented.count == expected.count ? 0 : 1
        for index in expected.indices {
            difference |= (index < presented.count ? presented[index] : 0) ^ expected[index]
        }
        return difference == 0
    }

    /// At most 64 printable ASCII characters of a caller's id, for an error message.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.prefix(64).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" })
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let body = (try? encoder.encode(["error": message])) ?? Data("{}".utf8)
        return json(status, body)
    }

    static func json(_ status: HTTPResponse.Status, _ body: Data) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    struct TokenBody: Encodable {
        var token: String
        /// RFC 3339, UTC; `null` when the service gave none.
        var expiresAt: Date?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(token, forKey: .token)
            try container.encode(expiresAt, forKey: .expiresAt)
        }

        private enum CodingKeys: String, CodingKey { case token, expiresAt }
    }
}

/// Serves ``TokenEndpoint`` on a loopback TCP address or a unix socket, as a
/// swift-service-lifecycle service. ``ready()`` returns once it listens (having logged where on
/// stderr: `keyward: tokens served on http://127.0.0.1:PORT` or `… on unix:PATH`), or throws
/// why it could not.
final class TokenListener: Service, CustomStringConvertible, @unchecked Sendable {
    var description: String { "TokenListener" }

    let address: ListenAddress
    let endpoint: TokenEndpoint
    let logger: Logger
    /// Whether the listening line goes to stderr (`schedule run`: yes; `exec`: no, stderr is CMD's too).
    let announce: Bool
    private let lock = NSLock()
    private var url: String?
    private var failure: (any Error)?
    private var waiters: [CheckedContinuation<String, any Error>] = []

    init(address: ListenAddress, endpoint: TokenEndpoint, logger: Logger, announce: Bool = true) {
        self.address = address
        self.endpoint = endpoint
        self.logger = logger
        self.announce = announce
    }

    /// Waits until the listener listens.
    ///
    /// - Returns: its URL: `http://HOST:PORT` (the actual port when 0 was asked) or `unix:PATH`.
    /// - Throws: ``KeywardError`` (usage) when it could not listen.
    func ready() async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            lock.withLock {
                if let url { continuation.resume(returning: url) }
                else if let failure { continuation.resume(throwing: failure) }
                else { waiters.append(continuation) }
            }
        }
    }

    private func finish(_ result: Result<String, any Error>) {
        let pending = lock.withLock { () -> [CheckedContinuation<String, any Error>] in
            switch result {
            case .success(let listening): url = listening
            case .failure(let error): if url == nil { failure = error }
            }
            defer { waiters = [] }
            return waiters
        }
        for waiter in pending { waiter.resume(with: result) }
    }

    func run() async throws {
        let endpoint = endpoint
        let responder = CallbackResponder<BasicRequestContext> { request, _ in await endpoint.respond(to: request) }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)  // not Hummingbird's per-request lines
        var socketPath: String?
        if case .unix(let path) = address {
            socketPath = path
            do {
                try UnixSocketPath.prepare(path, option: "--token-listen")
            } catch {
                finish(.failure(error))
                throw error
            }
        }
        // A socket is created 0600 from the start: no moment when another user could connect.
        let previousMask: mode_t? = socketPath == nil ? nil : umask(0o177)
        do {
            let application = Application(
                responder: responder,
                configuration: .init(address: address.bindAddress, serverName: nil),
                onServerRunning: { [self] channel in
                    if let previousMask { umask(previousMask) }
                    do {
                        let url = try self.listeningURL(channel)
                        if self.announce { Output.writeError("keyward: tokens served on \(url)\n") }
                        self.finish(.success(url))
                    } catch {
                        self.finish(.failure(error))
                    }
                },
                logger: quiet)
            try await application.run()
            if let previousMask { umask(previousMask) }
            // Returned without listening: a graceful shutdown before the bind.
            finish(.failure(KeywardError.usage("--token-listen: stopped before listening")))
        } catch {
            if let previousMask { umask(previousMask) }
            let wrapped = (error as? KeywardError) ?? KeywardError.usage("--token-listen \(address): cannot listen: \(Self.reason(error))")
            finish(.failure(wrapped))
            throw wrapped
        }
    }

    /// Where the server listens; for a unix socket, checked to be a socket of ours with mode 0600.
    private func listeningURL(_ channel: any Channel) throws -> String {
        if case .unix(let path) = address {
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, info.st_uid == geteuid(),
                info.st_mode & 0o777 == 0o600
            else {
                throw KeywardError.usage("--token-listen unix:\(path): the socket is not mode 0600 and ours")
            }
        }
        return address.url(boundPort: channel.localAddress?.port)
    }

    private static func reason(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }
}

/// Runs `service` once `listener` listens: the token endpoint is up before the first cycle,
/// and a listener that cannot bind stops `schedule run` before any cycle.
struct AfterListening<Wrapped: Service>: Service, CustomStringConvertible {
    var description: String { "AfterListening(\(type(of: wrapped)))" }
    let listener: TokenListener
    let wrapped: Wrapped

    func run() async throws {
        _ = try await listener.ready()
        try await wrapped.run()
    }
}

/// The serve token of `--serve-token-file` (DESIGN.md, "Files and defaults"): read once at start.
enum ServeTokenFile {
    /// The shortest serve token accepted, in bytes: a bearer token guessable by brute force
    /// protects nothing.
    static let shortest = 16
    /// The longest serve token accepted, in bytes (a header line, not a document).
    static let longest = 4_096

    /// The file's token: its bytes without the line ending (`\n` or `\r\n`) that ends them.
    ///
    /// - Throws: ``KeywardError`` (usage, exit 2) when the file is missing, not a regular file,
    ///   readable by group or others or owned by another user (naming the `chmod` or `chown`
    ///   that fixes it, ``SecretFileRule``), unreadable, empty, or not one token that a caller
    ///   can send: RFC 6750's `b64token` characters (letters, digits, `-._~+/`, then `=`s),
    ///   16 to 4,096 of them.
    static func read(_ path: String) throws -> [UInt8] {
        if let problem = SecretFileRule.readProblem(path: path, what: "--serve-token-file") {
            throw KeywardError.usage(problem)
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw KeywardError.usage("--serve-token-file \(path) cannot be read") }
        let data: Data
        do {
            data = try handle.read(upToCount: longest + 3) ?? Data()  // nil at the end: an empty file
        } catch {
            throw KeywardError.usage("--serve-token-file \(path) cannot be read")
        }
        try? handle.close()
        var bytes = Array(data)
        if bytes.last == 0x0A { bytes.removeLast() }
        if bytes.last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty else { throw KeywardError.usage("--serve-token-file \(path) is empty") }
        guard bytes.count <= longest else {
            throw KeywardError.usage("--serve-token-file \(path) holds more than \(longest) bytes; a serve token is one line")
        }
        guard isBearerToken(bytes) else {
            throw KeywardError.usage("--serve-token-file \(path): the token must be one line of letters, digits and - . _ ~ + / (RFC 6750's b64token), as `od -An -N32 -tx1 /dev/urandom | tr -d ' \\n'` makes")
        }
        guard bytes.count >= shortest else {
            throw KeywardError.usage("--serve-token-file \(path): the token is \(bytes.count) characters long; use at least \(shortest) (32 random bytes in hex, say)")
        }
        return bytes
    }

    /// RFC 6750, section 2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    static func isBearerToken(_ bytes: [UInt8]) -> Bool {
        let body = bytes.prefix { $0 != UInt8(ascii: "=") }
        guard !body.isEmpty, bytes.dropFirst(body.count).allSatisfy({ $0 == UInt8(ascii: "=") }) else { return false }
        return body.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"): true
            default: false
            }
        }
    }
}

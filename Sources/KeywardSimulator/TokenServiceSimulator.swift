import Foundation
import Hummingbird
import JWTKit
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import UnixSignals

/// A test double of the IAM token service (`token-service-contract.md`), served over HTTP on
/// loopback: the four calls under `/iam/v1`, plus the admin calls under `/_sim` that
/// DESIGN.md's "The simulator" lists.
///
/// It keeps users, entities and their secrets with expiry, signs HS256 JWTs with a random key of
/// its own, runs a clock that tests can move, counts calls by endpoint, and plays injected
/// faults. All methods are safe to call from any task while it serves.
///
/// ```swift
/// let simulator = TokenServiceSimulator(seed: seed)
/// let baseURL = try await simulator.start()       // http://127.0.0.1:PORT/iam/v1
/// defer { Task { await simulator.stop() } }
/// ```
public final class TokenServiceSimulator: Sendable {
    let state: NIOLockedValueBox<SimulatorState>
    private let lifecycle = NIOLockedValueBox(Lifecycle())
    let keys = JWTKeyCollection()
    private let signingKey: [UInt8]
    let logger: Logger

    private struct Lifecycle {
        var serving = false
        var group: ServiceGroup?
        var task: Task<Void, Never>?
        var address: (host: String, port: Int)?
    }

    /// Creates a simulator holding `seed`'s users and entities. Seed secrets without `secret`
    /// get a random one; `expiresIn` counts from now on the simulator's clock.
    /// - Parameter logger: where request lines go (no-op by default); secrets never reach it.
    public init(
        seed: SimulatorSeed,
        logger: Logger = Logger(label: "keyward.simulator", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.state = NIOLockedValueBox(SimulatorState(seed: seed, now: Date()))
        self.logger = logger
        var generator = SystemRandomNumberGenerator()
        self.signingKey = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    // MARK: Serving

    /// Starts serving in the background and returns once the server listens.
    /// - Parameters:
    ///   - host: a loopback address to bind (`127.0.0.1`, `::1`, `localhost`).
    ///   - port: the TCP port; 0 picks a free one.
    /// - Returns: the base URL for a Keyward configuration, `http://127.0.0.1:PORT/iam/v1`.
    /// - Throws: ``SimulatorError`` when already serving or when the address cannot be bound.
    public func start(host: String = "127.0.0.1", port: Int = 0) async throws -> URL {
        try claim()
        await prepareKeys()
        let (events, continuation) = AsyncStream.makeStream(of: Result<(String, Int), any Error>.self)
        let application = makeApplication(host: host, port: port) { address in
            continuation.yield(.success(address))
        }
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let task = Task {
            do {
                try await group.run()
            } catch {
                continuation.yield(.failure(error))
            }
            continuation.finish()
        }
        lifecycle.withLockedValue {
            $0.group = group
            $0.task = task
        }
        for await event in events {
            switch event {
            case .success(let address):
                return listening(on: address)
            case .failure(let error):
                lifecycle.withLockedValue { $0 = Lifecycle() }
                throw SimulatorError.cannotListen(host: host, port: port, underlying: error)
            }
        }
        lifecycle.withLockedValue { $0 = Lifecycle() }
        throw SimulatorError.stoppedBeforeListening
    }

    /// Serves in the current task until it is cancelled, ``stop()`` is called, or the process
    /// receives SIGTERM or SIGINT (a graceful shutdown: in-flight requests finish).
    /// - Parameter onListening: called once with the base URL (`http://HOST:PORT/iam/v1`) when
    ///   the server listens.
    /// - Throws: ``SimulatorError`` when already serving; the server's error when it cannot bind.
    public func run(
        host: String = "127.0.0.1",
        port: Int = 0,
        onListening: @escaping @Sendable (URL) -> Void
    ) async throws {
        try claim()
        defer { lifecycle.withLockedValue { $0 = Lifecycle() } }
        await prepareKeys()
        let application = makeApplication(host: host, port: port) { [weak self] address in
            guard let self else { return }
            onListening(self.listening(on: address))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [application],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        lifecycle.withLockedValue { $0.group = group }
        do {
            try await group.run()
        } catch {
            if lifecycle.withLockedValue({ $0.address }) == nil {
                throw SimulatorError.cannotListen(host: host, port: port, underlying: error)
            }
            throw error
        }
    }

    /// Stops serving: closes the listener, lets in-flight requests finish, returns when done.
    /// Does nothing when not serving. State (secrets, clock, counters) is kept.
    public func stop() async {
        let (group, task) = lifecycle.withLockedValue { ($0.group, $0.task) }
        await group?.triggerGracefulShutdown()
        await task?.value
        if task != nil { lifecycle.withLockedValue { $0 = Lifecycle() } }
    }

    /// The TCP port the server listens on; `nil` when not serving.
    public var port: Int? { lifecycle.withLockedValue { $0.address?.port } }

    /// The base URL, `http://127.0.0.1:PORT/iam/v1`; `nil` when not serving.
    public var baseURL: URL? {
        lifecycle.withLockedValue { $0.address }.map { Self.baseURL(host: $0.host, port: $0.port) }
    }

    /// The server's root, `http://127.0.0.1:PORT` (where `/_sim` lives); `nil` when not serving.
    public var rootURL: URL? {
        lifecycle.withLockedValue { $0.address }.map { Self.rootURL(host: $0.host, port: $0.port) }
    }

    private func claim() throws {
        try lifecycle.withLockedValue {
            guard !$0.serving else { throw SimulatorError.alreadyRunning }
            $0.serving = true
        }
    }

    private func listening(on address: (String, Int)) -> URL {
        lifecycle.withLockedValue { $0.address = address }
        logger.info("token service simulator listening", metadata: ["baseURL": "\(Self.baseURL(host: address.0, port: address.1))"])
        return Self.baseURL(host: address.0, port: address.1)
    }

    private func prepareKeys() async {
        await keys.add(hmac: HMACKey(from: signingKey), digestAlgorithm: .sha256)
    }

    static func rootURL(host: String, port: Int) -> URL {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return URL(string: "http://\(hostPart):\(port)")!
    }

    static func baseURL(host: String, port: Int) -> URL {
        rootURL(host: host, port: port).appendingPathComponent("iam").appendingPathComponent("v1")
    }

    private func makeApplication(
        host: String,
        port: Int,
        onListening: @escaping @Sendable ((String, Int)) -> Void
    ) -> some ApplicationProtocol {
        let router = Router()
        addTokenServiceRoutes(to: router)
        addAdminRoutes(to: router)
        return Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [FaultInjectionHandler()])),
            configuration: .init(address: .hostname(host, port: port), serverName: "keyward-simulator"),
            onServerRunning: { channel in
                let local = channel.localAddress
                onListening((local?.ipAddress ?? host, local?.port ?? port))
            },
            logger: logger
        )
    }

    // MARK: Clock

    /// The simulator's clock: the system time plus the offset ``advanceClock(bySeconds:)`` moved.
    /// Every expiry (JWT `exp`, secret expiry, grace period) is judged by it.
    public var now: Date { state.withLockedValue { $0.now() } }

    /// Moves the simulator's clock by `seconds` (normally forward).
    public func advanceClock(bySeconds seconds: TimeInterval) {
        state.withLockedValue { $0.clockOffset += seconds }
    }

    /// How far the simulator's clock runs ahead of the system clock, in seconds.
    public var clockOffset: TimeInterval { state.withLockedValue { $0.clockOffset } }

    // MARK: Counters

    /// Calls per endpoint since start or the last ``resetCounters()``: every request that
    /// reached the endpoint, whatever its outcome (400, 401 and faulted calls included).
    /// Every endpoint is present.
    public func counters() -> [SimulatorEndpoint: Int] {
        state.withLockedValue { $0.counters }
    }

    /// Sets every counter back to zero.
    public func resetCounters() {
        state.withLockedValue { state in
            for endpoint in SimulatorEndpoint.allCases { state.counters[endpoint] = 0 }
        }
    }

    // MARK: Faults and configuration

    /// Makes the next `count` calls of `endpoint` (any endpoint when `nil`) fail as `fault` says.
    /// Faults are queued: the oldest one that matches a call is used first.
    public func inject(_ fault: SimulatorFault, endpoint: SimulatorEndpoint? = nil, count: Int = 1) {
        guard count > 0 else { return }
        state.withLockedValue {
            $0.faults.append(.init(fault: fault, endpoint: endpoint, remaining: count))
        }
    }

    /// Makes every user token minted so far invalid: later calls made with one are refused
    /// with 401 "Invalid or expired access token", as a restarted service would.
    /// - Returns: how many live user tokens were revoked.
    @discardableResult
    public func revokeUserTokens() -> Int {
        state.withLockedValue { state in
            let count = state.liveUserTokenIDs.count
            state.revokedUserTokenIDs.formUnion(state.liveUserTokenIDs)
            state.liveUserTokenIDs.removeAll()
            return count
        }
    }

    /// Forgets every fault not yet played.
    public func clearFaults() {
        state.withLockedValue { $0.faults.removeAll() }
    }

    /// The unit of `expiresOn` in secret answers from now on (milliseconds by default).
    public func setExpiresOnUnit(_ unit: ExpiresOnUnit) {
        state.withLockedValue { $0.expiresOnUnit = unit }
    }

    // MARK: Users, entities and secrets

    /// The secret the simulator currently accepts for `entityId`; `nil` for an unknown entity.
    public func currentSecret(for entityId: String) -> String? {
        state.withLockedValue { $0.entities[entityId]?.secret }
    }

    /// When the current secret of `entityId` expires on the simulator's clock; `nil` for an
    /// unknown entity or a secret that never expires.
    public func secretExpiry(for entityId: String) -> Date? {
        state.withLockedValue { $0.entities[entityId]?.expiresAt }
    }

    /// Replaces the secret of `entityId` (creating the entity if needed), valid for
    /// `expiresIn` seconds from now on the simulator's clock, or forever when `nil`.
    public func setSecret(_ secret: String, for entityId: String, expiresIn: TimeInterval?) {
        state.withLockedValue { state in
            let now = state.now()
            state.entities[entityId] = .init(secret: secret, expiresAt: expiresIn.map { now.addingTimeInterval($0) })
        }
    }

    /// Changes when the current secret of `entityId` expires, keeping its bytes: `expiresIn`
    /// seconds from now on the simulator's clock, or never when `nil` (a legacy secret). The
    /// service's records can change this way without a reset (an operator extends a secret).
    /// - Returns: `false` for an unknown entity (nothing changed).
    @discardableResult
    public func setSecretExpiry(for entityId: String, expiresIn: TimeInterval?) -> Bool {
        state.withLockedValue { state in
            guard state.entities[entityId] != nil else { return false }
            let now = state.now()
            state.entities[entityId]?.expiresAt = expiresIn.map { now.addingTimeInterval($0) }
            return true
        }
    }

    /// Adds (or replaces) a user allowed to read and reset the secrets of `entities`.
    public func addUser(username: String, password: String, entities: [String]) {
        state.withLockedValue { $0.users[username] = .init(password: password, entities: Set(entities)) }
    }

    /// Adds (or replaces) an entity; `secret` is generated when `nil`; `expiresIn` is in seconds
    /// from now on the simulator's clock, `nil` for a secret that never expires.
    /// - Returns: the entity's secret.
    @discardableResult
    public func addEntity(id: String, secret: String? = nil, expiresIn: TimeInterval? = nil) -> String {
        let secret = secret ?? WireFormat.randomSecret()
        setSecret(secret, for: id, expiresIn: expiresIn)
        return secret
    }
}

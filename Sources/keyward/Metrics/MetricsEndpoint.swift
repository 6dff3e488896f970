import Foundation
import Hummingbird
import KeywardCore
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

/// `schedule run --metrics-listen ADDR` (DESIGN.md, "Operability"): `GET /metrics` (the engine's
/// counters, the cycle histogram and the gauges of ``StatusGauges``, refreshed after every
/// cycle) and `GET /healthz` (``ScheduleHealth``, evaluated at request time); any other path is
/// 404. A swift-service-lifecycle service in schedule run's ServiceGroup: the listener opens
/// after the first cycle, and a graceful shutdown (SIGTERM) closes it.
///
/// Its `description` is its name only (ServiceLifecycle logs services at debug level).
final class MetricsEndpoint: Service, CustomStringConvertible, Sendable {
    var description: String { "MetricsEndpoint" }

    let address: ListenAddress
    let counters: PrometheusCollectorRegistry
    let dispatcher: Dispatcher
    let entities: [String]
    let context: OperationContext
    /// `--max-sleep`, in seconds (the health rule's "one cycle").
    let maxSleep: TimeInterval
    /// `--retry-delay`, in seconds (the health rule's backoff).
    let retryDelay: TimeInterval
    let quiet: Bool

    private struct Latest {
        var status: ScheduleStatus?
        /// The last cycle's `keyward status` report, the gauges' source.
        var report: StatusReport?
        /// Entity id to the latest expiry of a token the token endpoint (`--token-listen`) took
        /// from the vault or minted since: newer than a cycle's view until the next cycle.
        var servedTokenExpiry: [String: Date] = [:]
        /// When ``report`` was read (monotonic).
        var reportReadAt: ContinuousClock.Instant?
    }

    /// How old the report behind a scrape or a probe may be: older, the vault (and the shared
    /// store) is read again first, so what other processes did (a `keyward sync` that learnt a
    /// shorter expiry, a `rotate --force`) shows without waiting for this loop's next cycle. At
    /// most one read per second, however often the endpoint is asked.
    static let reportLifetime: Duration = .seconds(1)
    private let latest = Mutex(Latest())
    private let firstCycle: AsyncStream<Void>
    private let firstCycleDone: AsyncStream<Void>.Continuation

    init(address: ListenAddress, counters: PrometheusCollectorRegistry, dispatcher: Dispatcher, entities: [String],
         context: OperationContext, maxSleep: TimeInterval, retryDelay: TimeInterval, quiet: Bool) {
        self.address = address
        self.counters = counters
        self.dispatcher = dispatcher
        self.entities = entities
        self.context = context
        self.maxSleep = maxSleep
        self.retryDelay = retryDelay
        self.quiet = quiet
        (firstCycle, firstCycleDone) = AsyncStream.makeStream(of: Void.self)
    }

    /// Called with the scheduler's status after every cycle: refreshes the gauges from
    /// `keyward status`'s report (one read of the vault and the shared store), keeps the status
    /// for `/healthz`, and opens the listener after the first.
    func cycleFinished(_ status: ScheduleStatus) async {
        var report: StatusReport?
        do {
            report = try await dispatcher.status(entities: entities, context: context)
        } catch {
            context.logger.error("metrics: cannot read the status for the gauges: \((error as? any CategorizedError)?.description ?? "\(type(of: error))")")
        }
        latest.withLock {
            $0.status = status
            if let report {
                $0.report = report
                $0.reportReadAt = ContinuousClock.now
            }
        }
        // The listener waits for one element; later cycles add nothing to the stream.
        firstCycleDone.yield()
        firstCycleDone.finish()
    }

    func run() async throws {
        // Wait for the first cycle; a shutdown before it ends the wait.
        let cycles = firstCycle
        let opened = await cancelWhenGracefulShutdown {
            for await _ in cycles { return true }
            return false
        }
        guard opened, !Task.isShuttingDownGracefully else { return }

        // A unix socket: a stale one is replaced, a live one or another file is never taken over.
        if case .unix(let path) = address { try UnixSocketPath.prepare(path, option: "--metrics-listen") }
        let router = Router()
        router.get("metrics") { _, _ in
            await self.refreshReport()
            return Response(status: .ok, headers: [.contentType: PrometheusExposition.contentType],
                            body: .init(byteBuffer: ByteBuffer(bytes: self.exposition())))
        }
        router.get("healthz") { _, _ in
            await self.refreshReport()
            let (status, body) = self.health()
            return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        var logger = Logger(label: "keyward.metrics")
        logger.logLevel = .error
        let address = self.address
        let quiet = self.quiet
        let application = Application(
            router: router,
            configuration: .init(address: address.bindAddress, serverName: nil),
            onServerRunning: { channel in
                // Port 0 asks for a free port: say which (tests and operators read it here).
                if !quiet {
                    Output.writeDiagnostic("keyward: metrics listening on \(address.url(boundPort: channel.localAddress?.port))\n")
                }
            },
            logger: logger)
        do {
            try await application.run()
        } catch let error as IOError {
            // "Address already in use", not NIO's "bind(descriptor:ptr:bytes:): …".
            throw KeywardError.usage("--metrics-listen \(address): cannot listen there: \(String(cString: strerror(error.errnoCode)))")
        } catch {
            throw KeywardError.usage("--metrics-listen \(address): cannot listen there: \(error)")
        }
    }

    /// Called by the token endpoint with each token it took from the vault or minted, so
    /// `keyward_token_expiry_timestamp_seconds` and `/healthz`'s "a token has expired" follow it
    /// at once rather than at the next cycle. Expiries only move forward.
    func tokenServed(entity: String, expiresAt: Date?) {
        guard let expiresAt else { return }
        latest.withLock { $0.servedTokenExpiry[entity] = max($0.servedTokenExpiry[entity] ?? .distantPast, expiresAt) }
    }

    /// The counters' and the gauges' exposition, each emitted by its swift-prometheus registry
    /// (the gauges' registry is made from the last report at each scrape, so an entity whose
    /// value became unknown leaves no stale sample).
    func exposition() -> [UInt8] {
        var bytes = counters.emitToBuffer()
        let (report, served) = latest.withLock { ($0.report, $0.servedTokenExpiry) }
        if var report {
            for index in report.entities.indices {
                guard let expiresAt = served[report.entities[index].id], expiresAt > (report.entities[index].token?.expiresAt ?? .distantPast) else { continue }
                report.entities[index].token = StatusReport.Token(expiresAt: expiresAt)
            }
            bytes += PrometheusExposition.gauges(report).emitToBuffer()
        }
        return bytes
    }

    /// Reads `keyward status`'s report again when the one held is older than
    /// ``reportLifetime``; a report that cannot be read leaves the last one.
    func refreshReport() async {
        let stale = latest.withLock { held in held.reportReadAt.map { ContinuousClock.now - $0 > Self.reportLifetime } ?? true }
        guard stale, let report = try? await dispatcher.status(entities: entities, context: context) else { return }
        latest.withLock {
            $0.report = report
            $0.reportReadAt = ContinuousClock.now
        }
    }

    /// `/healthz`: 200 `{"status":"ok"}`, or 503 `{"status":"unhealthy","reasons":[…]}`. The
    /// scheduler's last status, with what the vault holds now (the report): the current secret's
    /// expiry, a later token, and, when another job rotated the secret, its new due time.
    func health() -> (HTTPResponse.Status, [UInt8]) {
        guard var status = latest.withLock({ $0.status }) else { return (.serviceUnavailable, Self.body(["no cycle has finished yet"])) }
        let (served, report) = latest.withLock { ($0.servedTokenExpiry, $0.report) }
        for index in status.entities.indices {
            let id = status.entities[index].id
            if let now = report?.entities.first(where: { $0.id == id }) {
                if let secret = now.secret {
                    if secret.version != status.entities[index].secretVersion {
                        status.entities[index].secretVersion = secret.version
                        status.entities[index].rotationDueAt = secret.rotationDueAt
                    }
                    status.entities[index].secretExpiresAt = secret.expiresAt
                }
                if let expiresAt = now.token?.expiresAt, expiresAt > (status.entities[index].tokenExpiresAt ?? .distantPast) {
                    status.entities[index].tokenExpiresAt = expiresAt
                }
            }
            if let expiresAt = served[id], expiresAt > (status.entities[index].tokenExpiresAt ?? .distantPast) {
                status.entities[index].tokenExpiresAt = expiresAt
            }
        }
        let verdict = ScheduleHealth.evaluate(status, maxSleep: maxSleep, retryDelay: retryDelay, now: context.clock.now)
        return verdict.healthy ? (.ok, Self.body(nil)) : (.serviceUnavailable, Self.body(verdict.reasons))
    }

    private struct HealthDocument: Encodable {
        var status: String
        var reasons: [String]?
    }

    private static func body(_ reasons: [String]?) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let document = HealthDocument(status: reasons == nil ? "ok" : "unhealthy", reasons: reasons)
        return Array((try? encoder.encode(document)) ?? Data(#"{"status":"unhealthy"}"#.utf8)) + [UInt8(ascii: "\n")]
    }
}

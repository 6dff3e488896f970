import ArgumentParser
import Foundation
import KeywardCore
import KeywardKit
import KeywardExporters
import Logging
import ServiceLifecycle
import UnixSignals

/// `keyward schedule run [ENTITY…] [--status-file PATH]` and
/// `keyward schedule print --cron|--systemd|--kubernetes`.
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Rotate on a schedule: run the rotation loop, or print a crontab line, a systemd timer or a Kubernetes CronJob.",
        subcommands: [Run.self, Print.self]
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run the rotation and token refresh loop until SIGTERM or SIGINT.",
            discussion: """
                Each cycle finishes interrupted rotations, rotates the secrets that fell due \
                (rotateBefore), mints entity tokens that are due (tokenRefreshBefore), writes \
                the sinks, then sleeps until the next entity is due (at most --max-sleep). Each \
                entity's due time is delayed by its own share of --jitter (at most a tenth of \
                its window). A failing entity is retried after --retry-delay, doubling up to 15 min. \
                After each cycle the status (last cycle, next wake-up, per-entity outcome and \
                schedule; never a secret) is written atomically to --status-file for health \
                checks. Diagnostics and one line per cycle go to stderr. SIGTERM or SIGINT ends \
                the loop after the cycle in progress (never in the middle of a rotation) and \
                exits 0. Exit 2 for a usage or configuration error, 4 when the vault is locked \
                or fails its integrity check.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Entities to schedule (default: all configured).")
        var entities: [String] = []

        @Option(name: .long, help: ArgumentHelp("Write the JSON status here after each cycle.", valueName: "path"))
        var statusFile: String?

        @Option(name: .long, help: ArgumentHelp("The largest delay added to an entity's due time (e.g. 5m, 0s).", valueName: "duration"))
        var jitter = "5m"

        @Option(name: .long, help: ArgumentHelp("The longest sleep between cycles (e.g. 1h).", valueName: "duration"))
        var maxSleep = "1h"

        @Option(name: .long, help: ArgumentHelp("The first delay before retrying a failed entity; doubled after each failure, up to 15m.", valueName: "duration"))
        var retryDelay = "30s"

        // MARK: metrics and health (issue 17, item 1)
        @Option(name: .long, help: ArgumentHelp("Serve GET /metrics (Prometheus text format) and GET /healthz here after the first cycle: HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH (port 0: a free one, logged on stderr).", valueName: "addr"))
        var metricsListen: String?

        /// `--metrics-listen` parsed (``ListenAddress``); `nil` without it.
        func metricsAddress() throws -> ListenAddress? {
            guard let metricsListen else { return nil }
            do {
                return try ListenAddress(parsing: metricsListen)
            } catch {
                throw ValidationError("--metrics-listen: \(error)")
            }
        }

        // The token endpoint (issue 17, item 2; Serving/TokenServing.swift).
        @Option(name: .long, help: ArgumentHelp("Serve GET /v1/entities/<ID>/token here: a loopback HOST:PORT (port 0: any free one) or unix:PATH (a 0600 socket).", valueName: "addr"))
        var tokenListen: String?

        @Option(name: .long, help: ArgumentHelp("With --token-listen: the file holding the bearer token callers must present (private: mode 0600).", valueName: "path"))
        var serveTokenFile: String?

        func validate() throws {
            let metrics = try metricsAddress()
            try TokenServing.validate(listen: tokenListen, tokenFile: serveTokenFile)
            if let metrics, let tokens = try? ListenAddress.tokenListen(tokenListen ?? ""), metrics.overlaps(tokens) {
                throw ValidationError("--metrics-listen \(metrics) and --token-listen \(tokens) are the same address: give each its own")
            }
            guard Self.jitterSeconds(jitter) != nil else {
                throw ValidationError("--jitter: '\(jitter)' is not a duration such as 30s, 5m or 0s")
            }
            guard let sleep = DurationParser.seconds(maxSleep), sleep > 0 else {
                throw ValidationError("--max-sleep: '\(maxSleep)' is not a positive duration such as 10m or 1h")
            }
            guard let retry = DurationParser.seconds(retryDelay), retry > 0 else {
                throw ValidationError("--retry-delay: '\(retryDelay)' is not a positive duration such as 30s")
            }
            // The retries double up to 15 minutes: a first delay beyond that would park a
            // failing entity (and let its token run out) far longer than the README promises.
            guard retry <= Self.longestRetryDelaySeconds else {
                throw ValidationError("--retry-delay: '\(retryDelay)' is longer than \(DurationParser.format(seconds: Self.longestRetryDelaySeconds)), the longest wait between retries")
            }
            if let statusFile {
                guard !statusFile.isEmpty else { throw ValidationError("--status-file: the path is empty") }
                let directory = URL(fileURLWithPath: statusFile).deletingLastPathComponent().path
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw ValidationError("--status-file: the directory \(directory) does not exist")
                }
            }
        }

        /// The longest wait between retries of a failing entity, in seconds (15 minutes).
        static let longestRetryDelaySeconds: Int64 = 900

        /// A duration (`30s`, `5m`), or zero written `0` or `0s`/`0m`/`0h`/`0d` (no jitter).
        static func jitterSeconds(_ text: String) -> Int64? {
            if let seconds = DurationParser.seconds(text) { return seconds }
            let digits = text.last.map { "smhd".contains($0) } == true ? text.dropLast() : Substring(text)
            return !digits.isEmpty && digits.allSatisfy({ $0 == "0" }) ? 0 : nil
        }

        func run() async throws {
            // Metrics: bootstrapped before the configuration loads (its plugins' describe calls count).
            let metricsAddress = try metricsAddress()
            if let metricsAddress, let problem = BindProbe.problem(metricsAddress) {
                throw KeywardError.usage("--metrics-listen \(metricsAddress): cannot listen there: \(problem)")
            }
            let counters = metricsAddress.map { _ in PrometheusExposition.bootstrapEngineMetrics() }
            // A service logs its cycles: info by default, errors only with --quiet.
            let session = try EngineSession.open(global, defaultLogLevel: .info) { _ = try $0.selectEntities(entities) }
            if counters != nil { PrometheusExposition.preregister(session.dispatcher.configuration) }
            let retry = Duration.seconds(DurationParser.seconds(retryDelay) ?? 30)
            let options = ScheduleOptions(entities: entities, maxJitter: .seconds(Self.jitterSeconds(jitter) ?? 300),
                                          maxSleep: .seconds(DurationParser.seconds(maxSleep) ?? 3_600),
                                          retryBase: retry, maxRetry: .seconds(Self.longestRetryDelaySeconds))
            let scheduler = try RotationScheduler(dispatcher: session.dispatcher, options: options)
            let statusWriter = statusFile.map {
                StatusFileWriter(path: $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0)
            }
            // Fail now, not after the first cycle, when the status cannot be written.
            if let statusWriter {
                try statusWriter.probe()
                let now = session.context.clock.now
                do {
                    try statusWriter.write(ScheduleStatus(state: .starting, pid: getpid(), startedAt: now, updatedAt: now, cycles: 0,
                                                          lastCycle: nil, nextWakeAt: nil, entities: [], sinks: []))
                } catch {
                    let reason = (error as? any CategorizedError)?.description ?? "\(type(of: error))"
                    throw KeywardError.usage("--status-file: cannot write \(statusWriter.path): \(reason)")
                }
            }
            var metrics: MetricsEndpoint?
            if let metricsAddress, let counters {
                metrics = MetricsEndpoint(address: metricsAddress, counters: counters, dispatcher: session.dispatcher, entities: entities,
                                          context: session.context, maxSleep: options.maxSleep.timeInterval,
                                          retryDelay: options.retryBase.timeInterval, quiet: global.quiet)
            }
            let service = ScheduleService(scheduler: scheduler, context: session.context, statusFile: statusWriter, metrics: metrics)
            // The token endpoint listens before the first cycle (a bind failure stops the run first).
            // /metrics and /healthz follow the tokens it mints between cycles.
            var tokenServed: (@Sendable (EntityID, SecretRecord) -> Void)?
            if let metrics {
                tokenServed = { id, record in metrics.tokenServed(entity: id.rawValue, expiresAt: record.expiresAt) }
            }
            let tokenListener = try TokenServing.listener(listen: tokenListen, tokenFile: serveTokenFile, dispatcher: session.dispatcher,
                                                          context: session.context, entities: try session.dispatcher.selectEntities(entities),
                                                          willServe: tokenServed)
            let scheduled: any Service = tokenListener.map { AfterListening(listener: $0, wrapped: service) } ?? service
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
                .init(service: scheduled, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
            ]
            if let metrics {
                services.append(.init(service: metrics, successTerminationBehavior: .gracefullyShutdownGroup,
                                      failureTerminationBehavior: .gracefullyShutdownGroup))
            }
            if let tokenListener {
                services.append(.init(service: tokenListener, successTerminationBehavior: .gracefullyShutdownGroup,
                                      failureTerminationBehavior: .gracefullyShutdownGroup))
            }
            let group = ServiceGroup(configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: session.context.logger))
            try await group.run()
            withExtendedLifetime(session) {}
        }
    }

    struct Print: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "print",
            abstract: "Print a schedule that runs `keyward rotate` then `keyward sync` hourly with this configuration.",
            discussion: """
                --cron: one crontab line (results to /dev/null, so cron mails only errors). \
                --systemd: a oneshot service and an hourly timer. --kubernetes: a batch/v1 \
                CronJob (concurrencyPolicy: Forbid) that mounts keyward.yaml and vault.key \
                read-only from a Secret (--secret-name) at /etc/keyward and keeps the vault on \
                the keyward-vault PersistentVolumeClaim; relative sink paths in that keyward.yaml \
                resolve under the read-only /etc/keyward, so give sinks absolute paths on a \
                writable volume. Sync runs even when rotate failed, and the job fails when \
                either did. The cron and systemd jobs pass --vault when --vault or \
                $KEYWARD_VAULT is given (or the configuration names no vault) and set \
                KEYWARD_KEY_FILE when it is set; without it they cannot unlock the vault, which \
                a warning says. Hourly, because an entity token (24 h) is only refreshed by a run \
                within its tokenRefreshBefore of expiry: a warning names entities whose \
                tokenRefreshBefore is under 90m. Nothing secret is printed: the key file appears \
                as its path. --output json wraps the text: {"version":1,"format":…,"text":…}. \
                Exit 2 for a usage or configuration error.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "A crontab line.") var cron = false
        @Flag(name: .long, help: "A systemd service and timer.") var systemd = false
        @Flag(name: .long, help: "A Kubernetes CronJob.") var kubernetes = false

        @Option(name: .long, help: "--kubernetes: the image holding keyward.") var image = "keyward:latest"
        @Option(name: .long, help: "--kubernetes: the Secret holding keyward.yaml and vault.key (a DNS-1123 subdomain).") var secretName = "keyward"
        @Option(name: .long, help: "--kubernetes: the namespace (a DNS-1123 label).") var namespace: String?

        func validate() throws {
            guard [cron, systemd, kubernetes].filter({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --cron, --systemd, --kubernetes")
            }
            guard KubernetesNames.isDNS1123Subdomain(secretName) else {
                throw ValidationError("--secret-name: \(String(reflecting: secretName)) is not \(KubernetesNames.subdomainRule)")
            }
            if let namespace, !KubernetesNames.isDNS1123Label(namespace) {
                throw ValidationError("--namespace: \(String(reflecting: namespace)) is not \(KubernetesNames.labelRule)")
            }
            guard !image.isEmpty else { throw ValidationError("--image: the image is empty") }
        }

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            // The configuration must load: a schedule for a broken file would fail every run.
            let path = ConfigurationLoader.locate(explicit: global.config, environment: environment)
            let loaded = try ConfigurationLoader(registry: BuiltInPlugins.registry()).load(path: path)
            if !global.quiet, let warning = ScheduleTemplates.tokenRefreshWarning(Array(loaded.entities.values)) {
                Output.warn(warning)
            }
            if kubernetes {
                try emit(ScheduleTemplates.kubernetes(image: image, namespace: namespace, secretName: secretName), format: "kubernetes")
                return
            }
            let absolute = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.path }
            // The vault this command would open, pinned unless the configuration names it (a
            // job started by cron or systemd has another environment, so another default).
            let vaultGiven = [global.vault, environment["KEYWARD_VAULT"]].contains { !($0 ?? "").isEmpty }
            let vault = vaultGiven || loaded.vault.path == nil
                ? absolute(VaultLocation.resolve(flag: global.vault, configured: loaded.vault.path, environment: environment)) : nil
            let job = ScheduleTemplates.Job(
                keyward: Bundle.main.executableURL?.resolvingSymlinksInPath().path ?? CommandLine.arguments[0],
                config: absolute(loaded.file ?? path), vault: vault,
                keyFile: environment["KEYWARD_KEY_FILE"].flatMap { $0.isEmpty ? nil : absolute($0) })
            if job.keyFile == nil && !global.quiet { Output.warn(ScheduleTemplates.unlockWarning) }
            try emit(cron ? try ScheduleTemplates.cron(job) : ScheduleTemplates.systemd(job), format: cron ? "cron" : "systemd")
        }

        /// The schedule as text, or with `--output json` one document wrapping the same text:
        /// `{"version":1,"format":"cron|systemd|kubernetes","text":…}`.
        private func emit(_ text: String, format: String) throws {
            let whole = text.hasSuffix("\n") ? text : text + "\n"
            switch global.output {
            case .json: try Output.printJSON(ScheduleDocument(version: 1, format: format, text: whole))
            case .text: Output.print(whole)
            }
        }

        struct ScheduleDocument: Encodable {
            var version: Int
            var format: String
            var text: String
        }
    }
}

/// The rotation loop as a swift-service-lifecycle service: SIGTERM/SIGINT start a graceful
/// shutdown, which ends the sleep at once and the loop after the cycle in progress.
///
/// Its `description` is its name only: ServiceLifecycle logs every service it runs (debug
/// level, `--verbose`), and the default description would print the dispatcher's whole process
/// environment, a passphrase included.
struct ScheduleService: Service, CustomStringConvertible {
    var description: String { "ScheduleService" }

    let scheduler: RotationScheduler
    let context: OperationContext
    let statusFile: StatusFileWriter?
    /// `--metrics-listen`: told of every cycle's status.
    var metrics: MetricsEndpoint? = nil

    func run() async throws {
        let logger = context.logger
        try await scheduler.run(
            context: context,
            isStopping: { Task.isShuttingDownGracefully },
            sleep: { seconds in
                // Returns at once when a graceful shutdown starts (the sleep is cancelled).
                try? await cancelWhenGracefulShutdown {
                    try await Task.sleep(for: .milliseconds(Int64(min(seconds, 86_400) * 1_000)))
                }
            },
            report: { status in
                await metrics?.cycleFinished(status)
                guard let statusFile else { return }
                do {
                    try statusFile.write(status)
                } catch {
                    logger.error("cannot write the status file: \((error as? any CategorizedError)?.description ?? "\(type(of: error))")")
                }
            })
    }
}

/// Writes `schedule run`'s status atomically (a health check never reads half a document),
/// mode 0644: it holds no secret.
struct StatusFileWriter: Sendable {
    let path: String

    func write(_ status: ScheduleStatus) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        var bytes = Array(try encoder.encode(status))
        bytes.append(UInt8(ascii: "\n"))
        try AtomicFileWriter().write(bytes, to: path, mode: 0o644)
    }

    /// Checks that the path can be written (its directory exists, it is no link or directory),
    /// leaving an existing file untouched.
    func probe() throws {
        var info = stat()
        if lstat(path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFLNK: throw KeywardError.usage("--status-file: \(path) is a symbolic link; refusing to write through it")
            case S_IFDIR: throw KeywardError.usage("--status-file: \(path) is a directory")
            case S_IFREG: break
            default: throw KeywardError.usage("--status-file: \(path) is not a regular file")
            }
        }
        guard access(URL(fileURLWithPath: path).deletingLastPathComponent().path, W_OK) == 0 else {
            throw KeywardError.usage("--status-file: cannot write in the directory of \(path)")
        }
    }
}

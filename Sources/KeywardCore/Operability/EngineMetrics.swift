import CoreMetrics

/// The engine's counters and the cycle histogram of DESIGN.md ("Operability"), recorded through
/// swift-metrics: a no-op unless a metrics backend is bootstrapped (`keyward schedule run
/// --metrics-listen` bootstraps swift-prometheus; every other command records nothing anywhere).
///
/// The names are the exposition's names exactly: swift-prometheus 2.x adds no suffix to a
/// counter's name (so the `_total` is part of it here) and exposes a swift-metrics `Timer` as a
/// histogram named by its label, with `_bucket`/`_sum`/`_count` series in seconds.
///
/// Label values are closed sets of words (never a secret, never an error message), so the
/// number of series stays bounded: outcomes are the words of the `--output json` documents
/// (DESIGN.md, "Output for scripts").
public enum EngineMetrics {
    /// `keyward_rotations_total{outcome}`: one per entity a rotation (`keyward rotate`, or a
    /// `schedule run` cycle) reported, by its outcome (`ok`, `unchanged`, `failed`, `skipped`).
    public static let rotations = "keyward_rotations_total"
    /// `keyward_syncs_total{outcome}`: one per entity a sync reported, by its outcome.
    public static let syncs = "keyward_syncs_total"
    /// `keyward_sink_writes_total{sink,outcome}`: one per sink write (not dry runs), by the
    /// sink's configured name and `written`, `unchanged` or `failed`.
    public static let sinkWrites = "keyward_sink_writes_total"
    /// `keyward_token_service_requests_total{endpoint,code}`: one per HTTP exchange with the
    /// token service (each retry counts), by endpoint (`userToken`, `secretRead`,
    /// `secretReset`, `entityToken`: the simulator's counter names) and `code`: the HTTP status
    /// (`200`, `429`, …), or ``timeoutCode`` / ``transportCode`` when no status arrived.
    public static let tokenServiceRequests = "keyward_token_service_requests_total"
    /// `keyward_plugin_calls_total{plugin,outcome}`: one per protocol-1 call of an external
    /// plugin (`describe` included), by the executable's file name and ``PluginOutcome``.
    public static let pluginCalls = "keyward_plugin_calls_total"
    /// `keyward_cycle_duration_seconds`: a histogram with one observation per `schedule run`
    /// cycle, its wall time in seconds (monotonic clock).
    public static let cycleDuration = "keyward_cycle_duration_seconds"

    /// The outcome words of an entity (SyncReport.Outcome's raw values).
    public static let entityOutcomes = ["ok", "unchanged", "failed", "skipped"]
    /// The outcome words of a sink write counted (a dry run's `skipped` is never counted).
    public static let sinkOutcomes = ["written", "unchanged", "failed"]
    /// `code` when a request got no HTTP status because its deadline passed.
    public static let timeoutCode = "timeout"
    /// `code` when a request got no HTTP status for any other reason (refused, dropped, DNS, TLS).
    public static let transportCode = "transport"

    /// How one external plugin call ended (`keyward_plugin_calls_total`'s `outcome`).
    public enum PluginOutcome: String, Sendable, CaseIterable {
        /// A protocol-1 answer without an error object.
        case ok
        /// The plugin answered a protocol-1 error object (`invalid`, `auth`, `notFound`,
        /// `unavailable`, `rateLimited`): it ran and refused or failed on its own terms.
        case error
        /// Stopped at its timeout.
        case timeout
        /// Anything else protocol 1 does not allow: could not start, non-zero exit without an
        /// error object, no JSON, two objects, another protocol, stdout over 16 MiB.
        case violation
    }

    /// Counts a rotation's per-entity outcomes (not for a dry run, which changes nothing).
    public static func countRotations(_ report: SyncReport) {
        guard !report.dryRun else { return }
        for entity in report.entities { increment(rotations, [("outcome", entity.outcome.rawValue)]) }
    }

    /// Counts a sync's per-entity outcomes (not for a dry run).
    public static func countSyncs(_ report: SyncReport) {
        guard !report.dryRun else { return }
        for entity in report.entities { increment(syncs, [("outcome", entity.outcome.rawValue)]) }
    }

    /// Counts one sink write; `skipped` (a dry run, or nothing to write) is not a write.
    public static func countSinkWrite(sink: String, outcome: SyncReport.SinkResult) {
        guard outcome != .skipped else { return }
        increment(sinkWrites, [("sink", sink), ("outcome", outcome.rawValue)])
    }

    /// Counts one token-service exchange; `code` is the HTTP status as text or a word above.
    public static func countTokenServiceRequest(endpoint: String, code: String) {
        increment(tokenServiceRequests, [("endpoint", endpoint), ("code", code)])
    }

    /// Counts one external plugin call.
    public static func countPluginCall(plugin: String, outcome: PluginOutcome) {
        increment(pluginCalls, [("plugin", plugin), ("outcome", outcome.rawValue)])
    }

    /// Records one `schedule run` cycle's duration.
    public static func recordCycle(_ duration: Duration) {
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        Timer(label: cycleDuration).recordNanoseconds(nanoseconds)
    }

    /// Creates the counters of the label values known up front at 0, so that an alert on
    /// `increase(…[1h]) > 0` works from the first failure (a series that never appeared cannot
    /// increase). Call once after bootstrapping a backend.
    ///
    /// - Parameters:
    ///   - sinks: the configured sink names.
    ///   - tokenServiceEndpoints: the endpoints the configured providers call (none without a
    ///     `token-service` provider); each is registered with code `200`.
    ///   - plugins: the file names of the configured external plugins' executables.
    public static func preregister(sinks: [String], tokenServiceEndpoints: [String], plugins: [String]) {
        for outcome in entityOutcomes {
            touch(rotations, [("outcome", outcome)])
            touch(syncs, [("outcome", outcome)])
        }
        for sink in sinks {
            for outcome in sinkOutcomes { touch(sinkWrites, [("sink", sink), ("outcome", outcome)]) }
        }
        for endpoint in tokenServiceEndpoints { touch(tokenServiceRequests, [("endpoint", endpoint), ("code", "200")]) }
        for plugin in plugins {
            for outcome in PluginOutcome.allCases { touch(pluginCalls, [("plugin", plugin), ("outcome", outcome.rawValue)]) }
        }
    }

    private static func increment(_ name: String, _ dimensions: [(String, String)]) {
        Counter(label: name, dimensions: dimensions).increment()
    }

    private static func touch(_ name: String, _ dimensions: [(String, String)]) {
        Counter(label: name, dimensions: dimensions).increment(by: 0)
    }
}

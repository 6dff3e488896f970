import CoreMetrics
import Foundation
import KeywardCore
import Prometheus

/// The Prometheus text exposition (format 0.0.4) of Keyward's metrics, produced by
/// swift-prometheus's registry (never written by hand).
enum PrometheusExposition {
    /// The `Content-Type` of `/metrics`: the text format, version 0.0.4.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// `keyward_cycle_duration_seconds`'s bucket bounds, in seconds: a cycle takes from a few
    /// milliseconds (nothing due) to minutes (many entities, slow service, retries).
    static let cycleBuckets: [Duration] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300].map {
        .milliseconds(Int64($0 * 1_000))
    }

    /// Bootstraps swift-metrics with swift-prometheus (once per process: `schedule run
    /// --metrics-listen`, before the configuration is loaded, so the plugins' `describe` calls
    /// count too).
    ///
    /// - Returns: the registry that holds the engine's counters and the cycle histogram.
    static func bootstrapEngineMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[EngineMetrics.cycleDuration] = cycleBuckets
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// Creates the counters of the label values `configuration` makes known at 0
    /// (``EngineMetrics/preregister(sinks:tokenServiceEndpoints:plugins:)``).
    static func preregister(_ configuration: KeywardConfiguration) {
        let providers = configuration.providers.values
        let tokenService = providers.contains { $0.type == "token-service" }
        let plugins = Set(providers.compactMap { $0.external?.command.first } + configuration.sinks.values.compactMap { $0.external?.command.first })
        EngineMetrics.preregister(sinks: configuration.sinks.keys.sorted(),
                                  tokenServiceEndpoints: tokenService ? ["userToken", "secretRead", "secretReset", "entityToken"] : [],
                                  plugins: plugins.map { ($0 as NSString).lastPathComponent }.sorted())
    }

    /// The gauges of ``StatusGauges`` for `report`, in a registry of their own (so an entity
    /// whose value became unknown leaves no stale sample behind).
    static func gauges(_ report: StatusReport) -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        for sample in StatusGauges.samples(report) {
            // The whole name as `metricName` (the unit is already in it), no separate unit.
            let descriptor = MetricNameDescriptor(metricName: sample.name, unitName: "", helpText: help[sample.name] ?? "")
            registry.makeGauge(descriptor: descriptor, labels: [("entity", sample.entity)]).set(to: sample.value)
        }
        return registry
    }

    /// `keyward status --output prometheus`: the gauges of `report` in the text format.
    static func gaugeExposition(_ report: StatusReport) -> [UInt8] {
        gauges(report).emitToBuffer()
    }

    /// The `# HELP` text of each gauge.
    static let help: [String: String] = [
        StatusGauges.secretExpiry: "When the vault's current secret expires (Unix seconds, UTC).",
        StatusGauges.tokenExpiry: "When the held entity access token expires (Unix seconds, UTC).",
        StatusGauges.rotationDue: "When the current secret falls due for rotation, without jitter (Unix seconds, UTC).",
        StatusGauges.lastRotationSuccess: "When the entity's last rotation finished (Unix seconds, UTC).",
        StatusGauges.sharedLeaseHeld: "1 while a job holds the entity's rotation lease in the shared store, else 0.",
        StatusGauges.sharedPublicationLag: "Seconds since the shared store published a newer secret this host does not hold yet; 0 when current.",
    ]
}

import ArgumentParser
import Foundation
import KeywardCore

/// `keyward status [ENTITY…] [--fail-within DURATION]`.
struct StatusCommand: AsyncParsableCommand, OutputFormatOffering {
    static let outputFormats: [RequestedOutput] = [.text, .json, .prometheus]

    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each entity's secret version and expiry, token expiry, last sync and warnings.",
        discussion: "--output prometheus prints the per-entity gauges (expiries, rotation due time, last rotation, shared lease and publication lag) in the Prometheus text format, for node_exporter's textfile collector. --fail-within 15d exits 6 when a secret expires within 15 days, an entity access token has expired, or an entity has no secret (a valid token never counts: tokens renew themselves)."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Entities (default: all configured).")
    var entities: [String] = []

    @Option(name: .long, help: ArgumentHelp("Exit 6 when a secret expires within this duration (90s, 15m, 12h, 15d), a token has expired or an entity has no secret.", valueName: "duration"))
    var failWithin: String?

    func validate() throws {
        if let failWithin, DurationParser.seconds(failWithin) == nil {
            throw ValidationError("--fail-within: invalid duration '\(failWithin)': expected \(DurationParser.formDescription)")
        }
    }

    func run() async throws {
        let session = try EngineSession.open(global, dryRun: true) { _ = try $0.selectEntities(entities) }
        let report = try await session.dispatcher.status(entities: entities, failWithin: failWithin.flatMap(DurationParser.seconds).map { .seconds($0) },
                                                         context: session.context)
        switch global.requestedOutput {
        case .json: try Output.printJSON(report)
        case .text: Output.print(Self.render(report))
        // For node_exporter's textfile collector (DESIGN.md, "Operability"): the gauges of
        // StatusGauges, emitted by swift-prometheus.
        case .prometheus: Output.write(PrometheusExposition.gaugeExposition(report))
        case .sarif: break  // refused by OutputFormatRule before the command runs
        }
        if !report.failures.isEmpty {
            throw CommandExit(code: ExitCodes.expiringSoon,
                              message: "--fail-within \(failWithin ?? ""): " + report.failures.joined(separator: "; "))
        }
    }

    static func render(_ report: StatusReport) -> String {
        var lines: [String] = []
        for entity in report.entities {
            var line = "\(entity.id):"
            if let secret = entity.secret {
                line += " secret v\(secret.version) \(secret.fingerprint), "
                if let expiresAt = secret.expiresAt {
                    line += "expires \(Timestamps.format(expiresAt)) (\(Self.relative(secret.expiresInSeconds ?? 0)))"
                    if let due = secret.rotationDueAt {
                        line += due <= report.generatedAt ? ", rotation due now" : ", rotation due \(Timestamps.format(due))"
                    }
                } else {
                    line += "no expiry"
                }
            } else {
                line += " no secret"
            }
            if let expiresAt = entity.token?.expiresAt {
                line += "; token expires \(Timestamps.format(expiresAt))"
            } else {
                line += "; no token"
            }
            line += "; last sync " + (entity.lastSync.map(Timestamps.format) ?? "never")
            if let rotation = entity.lastRotation { line += "; last rotation \(Timestamps.format(rotation))" }
            lines.append(line)
            if let shared = entity.shared { lines.append("  shared: " + Self.render(shared)) }
            for warning in entity.warnings { lines.append("  warning: \(warning)") }
        }
        return lines.isEmpty ? "no entities configured" : lines.joined(separator: "\n")
    }

    /// One line on the shared store: the lease and the publication (DESIGN.md, "Beyond one machine").
    static func render(_ shared: StatusReport.Shared) -> String {
        if let error = shared.error { return "cannot be read (\(error))" }
        var parts: [String] = []
        if shared.secretSource == "shared" { parts.append("follows the publication") }
        if let holder = shared.leaseHolder {
            parts.append("lease held by \(holder)" + (shared.leaseExpiresAt.map { " until \(Timestamps.format($0))" } ?? ""))
        } else {
            parts.append("lease free")
        }
        if let generation = shared.publishedGeneration {
            var published = "published generation \(generation)"
            if let at = shared.publishedAt { published += " at \(Timestamps.format(at))" }
            if let by = shared.publishedBy { published += " by \(by)" }
            if let txnId = shared.publishedTxnId { published += " [txnId \(txnId)]" }
            parts.append(published + (shared.behind == true ? ", this host is BEHIND" : ", this host is current"))
        } else {
            parts.append("nothing published")
        }
        return parts.joined(separator: "; ")
    }

    /// "in 90 days", "3 hours ago": each count rounded to the nearest unit (89 days and 23
    /// hours is "90 days", not "89").
    static func relative(_ seconds: Int64) -> String {
        let magnitude = abs(seconds)
        func rounded(_ unit: Int64) -> Int64 { (magnitude + unit / 2) / unit }
        let text = magnitude >= 2 * 86_400 - 43_200 ? "\(rounded(86_400)) days" : magnitude >= 3_600 ? "\(rounded(3_600)) hours" : "\(rounded(60)) minutes"
        return seconds >= 0 ? "in \(text)" : "\(text) ago"
    }
}

import ArgumentParser
import Foundation
import KeywardCore

/// `keyward sync [ENTITY…] [--sink NAME…] [--dry-run] [--concurrency N]`.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Bring each entity's secret into the vault, mint tokens that are due, write the sinks.",
        discussion: """
            Exit 0 when everything worked, 5 when some entities or sinks failed and others \
            succeeded (each named on stderr and in --output json), 1 or 3 when all failed. \
            --dry-run reads (user token, secret read) but mints, resets and writes nothing, and \
            prints the plan with fingerprints.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Entities to sync (default: all configured).")
    var entities: [String] = []

    @Option(name: .customLong("sink"), help: ArgumentHelp("Write only this sink (repeatable).", valueName: "name"))
    var sinks: [String] = []

    @Flag(name: .long, help: "Show the plan; mint, reset and write nothing.")
    var dryRun = false

    @Option(name: .long, help: "Entities handled at once.")
    var concurrency = 8

    func validate() throws {
        guard (1...256).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 256") }
    }

    func run() async throws {
        let session = try EngineSession.open(global, dryRun: dryRun) { _ = try $0.selection(for: SyncRequest(entities: entities, sinks: sinks)) }
        let progress = ProgressLine(quiet: global.quiet)
        let report = try await session.dispatcher.sync(
            SyncRequest(entities: entities, sinks: sinks, concurrency: concurrency,
                        progress: { progress.update($0, $1, label: "syncing") }),
            context: session.context)
        switch global.output {
        case .json: try Output.printJSON(report)
        case .text: Output.print(Self.render(report))
        }
        // Each entity's warnings were logged on stderr as they happened.
        if let category = report.failureCategory {
            let failures = report.entities.filter { $0.outcome == .failed }.map { "entity \($0.id): \($0.error?.message ?? "failed")" }
                + report.sinks.filter { $0.outcome == .failed }.map { "sink \($0.name): \($0.error?.message ?? "failed")" }
            throw CommandExit(code: ExitCodes.code(for: category), message: failures.joined(separator: "\nkeyward: "))
        }
    }

    /// A change named in ``SyncReport/EntityOutcome/changes``, in words.
    static func describe(change: SyncReport.Change, dryRun: Bool) -> String {
        switch change {
        case .secret: dryRun ? "store a new secret version" : "new secret version"
        case .token: dryRun ? "mint a token" : "token minted"
        case .expiry: dryRun ? "record the service's new expiry" : "expiry updated from the service"
        case .recovered: dryRun ? "finish an interrupted rotation" : "recovered an interrupted rotation"
        case .abortedUnsent:
            dryRun ? "close the interrupted rotation as aborted: its reset was never sent" : "closed the interrupted rotation as aborted: its reset was never sent"
        case .abortedUnapplied: "closed the interrupted rotation as aborted: the service never applied its reset"
        case .readBack: "recovered through secret/read after the reset's answer was lost"
        }
    }

    static func render(_ report: SyncReport) -> String {
        var lines: [String] = []
        if let plan = report.plan {
            lines.append("plan (dry run: nothing minted, reset or written):")
            for action in plan {
                var line = "  \(action.action) \(action.target)"
                if let old = action.oldFingerprint, let new = action.newFingerprint, old != new { line += " \(old) → \(new)" }
                else if let new = action.newFingerprint { line += " \(new)" }
                if let detail = action.detail { line += " (\(detail))" }
                lines.append(line)
            }
        }
        for entity in report.entities {
            var line = "\(entity.id): \(entity.outcome)"
            if !entity.changes.isEmpty {
                line += " (" + (report.dryRun ? "would: " : "") + entity.changes.map { Self.describe(change: $0, dryRun: report.dryRun) }.joined(separator: ", ") + ")"
            }
            if let version = entity.secretVersion { line += "; secret v\(version)" }
            if let fingerprint = entity.secretFingerprint { line += " \(fingerprint)" }
            if let expiresAt = entity.secretExpiresAt { line += ", expires \(Timestamps.format(expiresAt))" }
            // A failure's reason goes to stderr (the command's exit message), not into the results.
            if let error = entity.error, entity.outcome != .failed { line += ": \(error.message)" }
            lines.append(line)
        }
        for sink in report.sinks {
            let reason = sink.outcome == .failed ? nil : sink.error.map { ": \($0.message)" }
            lines.append("sink \(sink.name): \(sink.outcome)" + (sink.path.map { " \($0)" } ?? "") + (reason ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}

import ArgumentParser
import Foundation
import KeywardCore
import KeywardExternal
import KeywardTokenService

/// `keyward rotate [ENTITY…] [--force] [--all] [--dry-run]`.
struct RotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Reset the secrets that are due, test them, make them current and write the sinks.",
        discussion: """
            A secret is due when it expires within its entity's rotateBefore (at most a third of \
            its lifetime); --force resets every named entity, and refuses without names unless \
            --all is given (--force --all resets every configured entity). Each entity is rotated under a lock \
            beside the vault; one that another job is rotating is reported as skipped. Exit 0 \
            when everything worked, 1 when a reset or a test failed, 3 when the service refused, \
            5 when some entities failed and others succeeded. --dry-run prints what is due and \
            why, and resets and writes nothing.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Entities to rotate (default: all configured).")
    var entities: [String] = []

    @Flag(name: .long, help: "Reset the named entities even when they are not due.")
    var force = false

    @Flag(name: .long, help: "Show what is due and why; reset and write nothing.")
    var dryRun = false

    @Flag(name: .long, help: "Every configured entity (with --force: reset them all).")
    var all = false

    /// A bare `--force` would reset every entity's secret: that must be asked for by name
    /// (DESIGN.md, "Commands": `--force --all` for every entity).
    func validate() throws {
        if all && !entities.isEmpty { throw ValidationError("--all and entity names cannot be used together") }
        if force && entities.isEmpty && !all {
            throw ValidationError("--force resets the named entities: name them, or add --all to reset every configured entity")
        }
    }

    func run() async throws {
        let session = try EngineSession.open(global, dryRun: dryRun) { _ = try $0.selectEntities(entities) }
        // SIGTERM or SIGINT during a rotation on a shared store gives the leases back at once
        // (their progress kept for the next holder) instead of leaving them to expire.
        let release = session.dispatcher.shared.map { LeaseReleaseOnSignal(store: $0) }
        defer { release?.cancel() }
        let report = try await session.dispatcher.rotate(entities: entities, force: force, context: session.context)
        switch global.output {
        case .json: try Output.printJSON(report)
        case .text: Output.print(SyncCommand.render(report))
        }
        // Each entity's warnings were logged on stderr as they happened.
        if let category = Self.failureCategory(report) {
            let failures = report.entities.filter { $0.outcome == .failed }.map { "entity \($0.id): \($0.error?.message ?? "failed")" }
                + report.sinks.filter { $0.outcome == .failed }.map { "sink \($0.name): \($0.error?.message ?? "failed")" }
            throw CommandExit(code: ExitCodes.code(for: category), message: failures.joined(separator: "\nkeyward: "))
        }
    }

    /// As sync's, except that sinks written with a secret whose test failed do not make the
    /// run partial: when every entity failed, the entities' failure decides (DESIGN.md,
    /// "Rotation", item 5: a failed test exits 1).
    static func failureCategory(_ report: SyncReport) -> FailureCategory? {
        guard let category = report.failureCategory else { return nil }
        guard category == .partial, !report.entities.isEmpty, report.entities.allSatisfy({ $0.outcome == .failed }) else { return category }
        let codes = Set(report.entities.compactMap(\.error?.code))
        if codes.count == 1, let only = codes.first, let single = FailureCategory(rawValue: only) { return single }
        return .operationFailed
    }
}

/// On SIGTERM or SIGINT: releases the shared store's leases this process holds, then exits
/// 128 + the signal (DESIGN.md, "Beyond one machine": leases are released at the end and on
/// SIGTERM). Installed only while a rotation on a shared store runs.
final class LeaseReleaseOnSignal {
    private let sources: [any DispatchSourceSignal]

    init(store: any SharedSecretStore) {
        RunningPlugins.handleSignalsElsewhere(true)
        sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                // External plugins run in process groups of their own: stopped first.
                RunningPlugins.stopAll()
                Task {
                    await store.releaseHeldLeases()
                    exit(128 + number)
                }
            }
            source.resume()
            return source
        }
    }

    /// Uninstalls the handlers: the signals' default action again.
    func cancel() {
        for source in sources { source.cancel() }
        signal(SIGTERM, SIG_DFL)
        signal(SIGINT, SIG_DFL)
        RunningPlugins.handleSignalsElsewhere(false)
    }
}

import ArgumentParser
import Foundation
import KeywardCore

/// `keyward audit [--since DURATION]`.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Print the audit log: time, operation, entity, outcome, txnId (never a value)."
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("Only entries from this long ago (90s, 15m, 12h, 15d).", valueName: "duration"))
    var since: String?

    func validate() throws {
        if let since, DurationParser.seconds(since) == nil {
            throw ValidationError("--since: invalid duration '\(since)': expected \(DurationParser.formDescription)")
        }
    }

    func run() async throws {
        let session = try EngineSession.open(global, dryRun: true)
        let entries = try await session.dispatcher.auditLog(sinceSeconds: since.flatMap(DurationParser.seconds), context: session.context)
        switch global.output {
        case .json:
            struct Document: Encodable { var version = 1; var entries: [AuditEntry] }
            try Output.printJSON(Document(entries: entries))
        case .text:
            let lines = entries.map {
                [Timestamps.format($0.time), $0.operation, $0.entity ?? "-", $0.outcome, $0.txnId ?? "-"].joined(separator: "\t")
            }
            Output.print(lines.isEmpty ? "no audit entries" : lines.joined(separator: "\n"))
        }
    }
}

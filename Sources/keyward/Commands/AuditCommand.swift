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
        let entries = try await session.dispatcher.auditLog(since: since.flatMap(DurationParser.seconds).map { .seconds($0) }, context: session.context)
        switch global.output {
        case .json:
            // Each row as stored, plus `entities`: the row's entity field split into its ids (a
            // row for an export or exec of several entities names them all in that field).
            struct Row: Encodable {
                var time: Date
                var operation: String
                var entity: String?
                var entities: [String]
                var outcome: String
                var txnId: String?
            }
            struct Document: Encodable { var version = 1; var entries: [Row] }
            try Output.printJSON(Document(entries: entries.map {
                Row(time: $0.time, operation: $0.operation, entity: $0.entity, entities: $0.entities, outcome: $0.outcome, txnId: $0.txnId)
            }))
        case .text:
            let lines = entries.map {
                [Timestamps.format($0.time), $0.operation, $0.entity ?? "-", $0.outcome, $0.txnId ?? "-"].joined(separator: "\t")
            }
            Output.print(lines.isEmpty ? "no audit entries" : lines.joined(separator: "\n"))
        }
    }
}

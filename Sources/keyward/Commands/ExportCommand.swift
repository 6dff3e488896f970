import ArgumentParser
import Foundation
import KeywardCore
import KeywardExporters

/// `keyward export ENTITY… --format dotenv|json [--out PATH] [--pretty]`.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the entities' credentials (default key names) to stdout or a file.",
        discussion: """
            Reads the vault only: nothing is minted and no service is called (run `keyward sync` \
            first). --out writes atomically with mode 0600 and refuses symbolic links; stdout \
            otherwise. Keys: <ID>_ENTITY_ID, <ID>_SECRET, <ID>_ACCESS_TOKEN, \
            <ID>_SECRET_EXPIRES_AT, <ID>_TOKEN_EXPIRES_AT.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Entities to export.")
    var entities: [String]

    @Option(name: .long, help: "dotenv or json.")
    var format: ExportFormat

    @Option(name: .long, help: ArgumentHelp("Write to this file instead of stdout.", valueName: "path"))
    var out: String?

    @Flag(name: .long, help: "Indent JSON.")
    var pretty = false

    func validate() throws {
        if entities.isEmpty { throw ValidationError("name at least one entity") }
    }

    func run() async throws {
        let session = try EngineSession.open(global, dryRun: true)
        let material = try await session.dispatcher.exportMaterial(entities, operation: "export", context: session.context)
        let bytes = try format.render(pairs: try SinkKeys.pairs(for: material, keys: nil), pretty: pretty)
        if let out {
            let path = out.hasPrefix("/") ? out : FileManager.default.currentDirectoryPath + "/" + out
            let outcome = try AtomicFileWriter().write(bytes, to: path, mode: 0o600)
            if !global.quiet { FileHandle.standardError.write(Data("keyward: \(outcome.rawValue) \(path)\n".utf8)) }
        } else {
            FileHandle.standardOutput.write(Data(bytes))
        }
    }
}

extension ExportFormat: ExpressibleByArgument {}

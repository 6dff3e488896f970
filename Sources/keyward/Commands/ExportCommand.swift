import ArgumentParser
import Foundation
import KeywardCore
import KeywardExporters

/// `keyward export ENTITY… --format dotenv|shell|kubernetes-secret|json [--out PATH] [--pretty] [--name N] [--namespace NS]`.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the entities' credentials (default key names) to stdout or a file.",
        discussion: """
            Exports what the vault holds (run `keyward sync` first), never a dead credential: \
            an entity token that is missing or due is minted first, and a rotation left open is \
            finished first (as `keyward token` does); when that cannot be done, nothing is \
            written and the command exits 1 naming the entity. kubernetes-secret writes a v1 Secret (type Opaque, base64 data) named by \
            --name (default: the first entity id lower-cased, '_' to '-') in --namespace. --out writes atomically with mode 0600 and refuses symbolic links; stdout \
            otherwise. Keys: <ID>_ENTITY_ID, <ID>_SECRET, <ID>_ACCESS_TOKEN, \
            <ID>_SECRET_EXPIRES_AT, <ID>_TOKEN_EXPIRES_AT.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Entities to export.")
    var entities: [String] = []

    @Flag(name: .long, help: "Export every configured entity.")
    var all = false

    @Option(name: .long, help: "dotenv, shell, kubernetes-secret or json.")
    var format: ExportFormat

    @Option(name: .long, help: ArgumentHelp("Write to this file instead of stdout.", valueName: "path"))
    var out: String?

    @Flag(name: .long, help: "Indent JSON.")
    var pretty = false

    @Option(name: .long, help: ArgumentHelp("kubernetes-secret: the Secret's name (default: the first entity id, lower-cased, '_' to '-').", valueName: "name"))
    var name: String?

    @Option(name: .long, help: ArgumentHelp("kubernetes-secret: the Secret's namespace.", valueName: "namespace"))
    var namespace: String?

    @Flag(name: .long, help: "kubernetes-secret: one Secret per entity (named after it), as a multi-document YAML.")
    var perEntity = false

    func validate() throws {
        if entities.isEmpty && !all { throw ValidationError("name at least one entity, or --all") }
        if !entities.isEmpty && all { throw ValidationError("name entities or give --all, not both") }
        if format != .kubernetesSecret && (name != nil || namespace != nil || perEntity) {
            throw ValidationError("--name, --namespace and --per-entity apply to --format kubernetes-secret only")
        }
        if perEntity && name != nil { throw ValidationError("--per-entity names each Secret after its entity; leave out --name") }
    }

    func run() async throws {
        // Not a dry run: a token that is due is minted, and an open rotation finished, first.
        let session = try EngineSession.open(global) { _ = try $0.selectEntities(all ? [] : entities) }
        let names = all ? session.dispatcher.configuration.entities.keys.sorted().map(\.rawValue) : entities
        let material = try await session.dispatcher.exportMaterial(names, operation: "export", context: session.context)
        let bytes: [UInt8]
        if format == .kubernetesSecret && perEntity {
            bytes = try KubernetesSecretFormat.render(try material.map { entity in
                let options = KubernetesSecretOptions(name: KubernetesSecretOptions.defaultName(for: entity.id), namespace: namespace)
                try options.validate()
                return (options, try SinkKeys.pairs(for: [entity], keys: nil))
            })
        } else {
            var kubernetes: KubernetesSecretOptions?
            if format == .kubernetesSecret {
                let options = KubernetesSecretOptions(name: name ?? KubernetesSecretOptions.defaultName(for: material[0].id), namespace: namespace)
                try options.validate()
                kubernetes = options
            }
            bytes = try format.render(pairs: try SinkKeys.pairs(for: material, keys: nil), pretty: pretty, kubernetes: kubernetes)
        }
        if let out {
            let path = out.hasPrefix("/") ? out : FileManager.default.currentDirectoryPath + "/" + out
            let outcome = try AtomicFileWriter().write(bytes, to: path, mode: 0o600)
            if !global.quiet { Output.writeError("keyward: \(outcome.rawValue) \(path)\n") }
        } else {
            Output.write(bytes)
        }
    }
}

extension ExportFormat: ExpressibleByArgument {}

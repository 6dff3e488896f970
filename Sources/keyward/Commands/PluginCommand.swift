import ArgumentParser
import Foundation
import KeywardCore
import KeywardExternal
import KeywardKit

/// `keyward plugin list` / `describe NAME` (DESIGN.md, "Plugins"); `test` joins them.
struct PluginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin",
        abstract: "See the plugin types this build provides and the external plugins it can use.",
        subcommands: subcommands
    )

    /// The `plugin` subcommands, in the order help lists them.
    static let subcommands: [any ParsableCommand.Type] = [List.self, Describe.self, PluginTestCommand.self]

    /// The kind names as the output shows them.
    static func kindName(_ kind: PluginKind) -> String { kind.rawValue }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the built-in plugin types, the external plugins the configuration uses and the keyward-sink-*/keyward-provider-* executables on PATH.",
            discussion: """
                The configuration's plugins are listed when a configuration is named (--config, KEYWARD_CONFIG) or \
                ./keyward.yaml exists; loading it checks and describes them (exit 2 when one is unusable). The vault is \
                never opened. On PATH, the first executable of a name wins, as in a shell.
                """
        )

        @OptionGroup var global: GlobalOptions

        struct Document: Encodable, Equatable {
            struct BuiltIn: Encodable, Equatable {
                var sinks: [String]
                var providers: [String]
                var sharedStores: [String]
            }
            struct Configured: Encodable, Equatable {
                var kind: String
                /// The entry's name under `sinks:` or `providers:`.
                var name: String
                var type: String
                /// The argv every call uses, `[0]` resolved.
                var command: [String]
            }
            struct OnPath: Encodable, Equatable {
                var kind: String
                var type: String
                var path: String
            }
            var version = 1
            var builtIn: BuiltIn
            /// `nil` when no configuration was found.
            var configuration: String?
            var configured: [Configured]
            var onPath: [OnPath]
            /// The directories of PATH searched.
            var searched: [String]
        }

        func run() async throws {
            _ = global.makeContext()
            let environment = ProcessInfo.processInfo.environment
            let registry = BuiltInPlugins.registry()
            var document = Document(
                builtIn: .init(sinks: registry.sinkTypes, providers: registry.providerTypes, sharedStores: registry.sharedStoreTypes),
                configuration: nil, configured: [],
                onPath: ExternalPlugins.onPath(environment: environment).map { .init(kind: kindName($0.kind), type: $0.type, path: $0.path) },
                searched: ExternalPlugins.searchPath(environment: environment))
            let path = ConfigurationLoader.locate(explicit: global.config, environment: environment)
            let named = global.config != nil || !(environment["KEYWARD_CONFIG"] ?? "").isEmpty
            if named || FileManager.default.fileExists(atPath: path) {
                let configuration = try ConfigurationLoader(registry: registry, environment: environment).load(path: path)
                document.configuration = path
                document.configured = configuration.providers.values.sorted { $0.name < $1.name }.compactMap { provider in
                    provider.external.map { .init(kind: "provider", name: provider.name, type: provider.type, command: $0.command) }
                } + configuration.sinks.values.sorted { $0.name < $1.name }.compactMap { sink in
                    sink.external.map { .init(kind: "sink", name: sink.name, type: sink.type, command: $0.command) }
                }
            }
            switch global.output {
            case .json: try Output.printJSON(document)
            case .text: Output.print(Self.text(document))
            }
        }

        static func text(_ document: Document) -> String {
            var lines = [
                "built-in sinks: " + document.builtIn.sinks.joined(separator: ", "),
                "built-in providers: " + document.builtIn.providers.joined(separator: ", "),
                "built-in shared stores: " + document.builtIn.sharedStores.joined(separator: ", "),
            ]
            if let file = document.configuration {
                if document.configured.isEmpty { lines.append("configured (\(file)): no external plugins") }
                lines += document.configured.map { "configured \($0.kind) \($0.name): \($0.type) \($0.command.joined(separator: " "))" }
            }
            if document.onPath.isEmpty {
                lines.append("on PATH: none (searched: \(document.searched.isEmpty ? "PATH is empty" : document.searched.joined(separator: ", ")))")
            }
            lines += document.onPath.map { "on PATH: \($0.kind) \($0.type) \($0.path)" }
            return lines.joined(separator: "\n")
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "describe",
            abstract: "Show the options of a plugin type: a built-in one's, or an external plugin's describe answer.",
            discussion: """
                NAME is a built-in type (dotenv, token-service, …) or the NAME of a keyward-sink-NAME or \
                keyward-provider-NAME on PATH, which is checked (who may write it) and asked to describe itself. \
                Exits 2 when no plugin has that name.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The plugin type, e.g. dotenv or the NAME of keyward-sink-NAME.")
        var name: String

        @Option(name: .long, help: "Look only for this kind: sink or provider (when a name is both).")
        var kind: KindOption?

        enum KindOption: String, ExpressibleByArgument {
            case sink, provider
        }

        struct Document: Encodable, Equatable {
            struct Option: Encodable, Equatable {
                var name: String
                /// `string`, `integer`, `boolean`, `duration`, `list`, `secret`, `choice`, `map`.
                var type: String
                /// Known for an external plugin's options and a file sink's `path`; `nil` when a
                /// built-in type's own rules decide it.
                var required: Bool?
                /// For a `choice`: the values allowed.
                var choices: [String]?

                init(name: String, type: String, required: Bool? = nil, choices: [String]? = nil) {
                    self.name = name
                    self.type = type
                    self.required = required
                    self.choices = choices
                }
            }
            var version = 1
            var kind: String
            var type: String
            var builtIn: Bool
            /// An external plugin's executable, resolved.
            var path: String?
            /// An external plugin's own name, protocols and capabilities.
            var name: String?
            var protocols: [Int]?
            var capabilities: [String]?
            /// `nil`: a built-in type that accepts any key (unchecked).
            var options: [Option]?
        }

        func run() async throws {
            _ = global.makeContext()
            let environment = ProcessInfo.processInfo.environment
            let registry = BuiltInPlugins.registry()
            let kinds: [PluginKind] = kind.map { [$0 == .sink ? .sink : .provider] } ?? PluginKind.allCases
            var documents: [Document] = []
            for kind in kinds { if let builtIn = Self.builtIn(name, kind: kind, registry: registry) { documents.append(builtIn) } }
            if kind == nil, registry.sharedStoreDescriptor(type: name) != nil {
                documents.append(Document(kind: "shared", type: name, builtIn: true, options: nil))
            }
            if documents.isEmpty {
                var searched: [String] = []
                for kind in kinds {
                    do {
                        let resolved = try ExternalPlugins().resolve(kind: kind, type: name, command: nil, directory: FileManager.default.currentDirectoryPath,
                                                                     environment: environment, timeout: ExternalPluginReference.defaultTimeout)
                        documents.append(Self.external(resolved.description, type: name, path: resolved.command[0]))
                        break
                    } catch {
                        switch error {
                        case .notFound(_, let directories): searched = directories
                        case .unusable(let message): throw KeywardError.usage(message)
                        }
                    }
                }
                if documents.isEmpty {
                    let executables = kinds.map { "keyward-\($0.rawValue)-\(name)" }.joined(separator: " or ")
                    var message = "no plugin '\(name)': not a built-in type, and no \(executables) on PATH (searched: "
                        + (searched.isEmpty ? "PATH is empty" : searched.joined(separator: ", ")) + ")"
                    let builtIns = kinds.flatMap { $0 == .sink ? registry.sinkTypes : registry.providerTypes }
                        + (kind == nil ? registry.sharedStoreTypes : [])
                    if let near = TypoSuggestion.closest(to: name, among: builtIns) { message += "; did you mean '\(near)'?" }
                    throw KeywardError.usage(message)
                }
            }
            switch global.output {
            case .json:
                if documents.count == 1 { try Output.printJSON(documents[0]) } else { try Output.printJSON(documents) }
            case .text:
                Output.print(documents.map(Self.text).joined(separator: "\n\n"))
            }
        }

        static func builtIn(_ name: String, kind: PluginKind, registry: PluginRegistry) -> Document? {
            switch kind {
            case .sink:
                guard let descriptor = registry.sinkDescriptor(type: name) else { return nil }
                var options = descriptor.writesFile ? [Document.Option(name: "path", type: "string", required: true)] : []
                options += descriptor.options.sorted { $0.key < $1.key }.map { key, kind in
                    switch kind {
                    case .string: .init(name: key, type: "string")
                    case .choice(let choices): .init(name: key, type: "choice", choices: choices)
                    case .boolean: .init(name: key, type: "boolean")
                    case .integer: .init(name: key, type: "integer")
                    case .stringMap, .map: .init(name: key, type: "map")
                    }
                }
                return Document(kind: "sink", type: name, builtIn: true, options: options)
            case .provider:
                guard let descriptor = registry.providerDescriptor(type: name) else { return nil }
                return Document(kind: "provider", type: name, builtIn: true,
                                options: descriptor.options.map { $0.map { .init(name: $0.name, type: ExternalPluginDescription.Option.typeName(of: $0.kind)) } })
            }
        }

        static func external(_ description: ExternalPluginDescription, type: String, path: String) -> Document {
            Document(kind: description.kind.rawValue, type: type, builtIn: false, path: path, name: description.name,
                     protocols: description.protocols, capabilities: description.capabilities,
                     options: description.options.sorted { $0.key < $1.key }.map { .init(name: $0.key, type: ExternalPluginDescription.Option.typeName(of: $0.value.kind), required: $0.value.required) })
        }

        static func text(_ document: Document) -> String {
            var lines: [String]
            if document.builtIn {
                lines = ["\(document.kind) \(document.type): built in"]
            } else {
                lines = ["\(document.kind) \(document.type): \(document.path ?? "-")"]
                lines.append("name: \(document.name ?? "-")")
                lines.append("protocols: " + (document.protocols ?? []).map(String.init).joined(separator: ", "))
                lines.append("capabilities: " + (document.capabilities ?? []).joined(separator: ", "))
            }
            guard let options = document.options else {
                lines.append("options: not declared (the type checks its section itself)")
                return lines.joined(separator: "\n")
            }
            lines.append(options.isEmpty ? "options: none" : "options:")
            lines += options.map { option in
                "  \(option.name): " + (option.choices.map { "one of " + $0.joined(separator: ", ") } ?? option.type) + (option.required == true ? ", required" : "")
            }
            return lines.joined(separator: "\n")
        }
    }
}

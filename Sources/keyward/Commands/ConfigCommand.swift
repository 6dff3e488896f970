import ArgumentParser
import KeywardCore

/// `keyward config check`: load and validate keyward.yaml.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with the configuration file.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate keyward.yaml and summarise it (no network, no vault).",
            discussion: "Exits 0 when the configuration is valid, 2 with every problem named by key and line otherwise."
        )

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            _ = global.makeContext()
            let dispatcher = try Dispatcher.load(configPath: global.config, registry: BuiltInPlugins.registry())
            let summary = try dispatcher.checkConfiguration()
            for warning in summary.warnings where !global.quiet { Output.warn(warning) }
            switch global.output {
            case .json:
                try Output.printJSON(summary)
            case .text:
                var lines = ["configuration OK: \(summary.file ?? "-")"]
                lines += summary.providers.map { "provider \($0.name): \($0.type) \($0.baseURL) as \($0.username), password from \($0.password)" }
                lines += summary.entities.map {
                    "entity \($0.id): provider \($0.provider), rotateBefore \($0.rotateBefore), tokenRefreshBefore \($0.tokenRefreshBefore)"
                        + ($0.secretExpiryDays.map { ", secretExpiryDays \($0)" } ?? "")
                }
                lines += summary.sinks.map { "sink \($0.name): \($0.type)" + ($0.path.map { " → \($0)" } ?? "") + " for \($0.entities.joined(separator: ", "))" }
                Output.print(lines.joined(separator: "\n"))
            }
        }
    }
}

import ArgumentParser

/// `keyward config check`: load and validate keyward.yaml.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the configuration file."
    )
}

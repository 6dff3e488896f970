import ArgumentParser

/// `keyward simulator`: run the token service simulator on loopback.
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "Run the token service simulator (a test double) on loopback."
    )
}

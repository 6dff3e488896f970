import ArgumentParser

/// `keyward vault …`: manage the encrypted vault (issue 2/5 fills this in).
struct VaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "Manage the encrypted vault.",
        subcommands: []
    )
}

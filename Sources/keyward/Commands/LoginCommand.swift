import ArgumentParser
import Foundation
import KeywardCore

/// `keyward login PROVIDER`: keep the admin user's password in the vault.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Check the admin user's password with the token service and keep it in the vault.",
        discussion: """
            The password is read from stdin (one trailing newline dropped), or typed at a no-echo \
            prompt when stdin is a terminal; never from the command line. It is checked by asking \
            the token service for a user token first: a wrong password exits 3 and stores nothing. \
            It is stored where the provider's `password:` reference points (by default \
            vault:providers/<PROVIDER>/password).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The provider's name in keyward.yaml.")
    var provider: String

    func run() async throws {
        let session = try EngineSession.open(global) { try $0.selectProvider(provider) }
        let password: SecretValue
        if isatty(STDIN_FILENO) == 1, let typed = try Terminal.readSecret(prompt: "Password for \(provider): ") {
            password = typed
        } else {
            password = SecretValue(bytes: VaultSession.droppingOneNewline(Array(FileHandle.standardInput.readDataToEndOfFile())))
        }
        try await session.dispatcher.login(provider: provider, password: password, context: session.context)
        switch global.output {
        case .json: try Output.printJSON(LoginResult(version: 1, provider: provider, passwordStored: true))
        case .text: if !global.quiet { Output.print("logged in to \(provider); password stored in the vault") }
        }
    }

    struct LoginResult: Encodable {
        var version: Int
        var provider: String
        var passwordStored: Bool
    }
}

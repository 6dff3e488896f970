import ArgumentParser
import Foundation
import KeywardCore

/// `keyward token ENTITY`: print a valid entity access token and nothing else.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a valid entity access token on stdout (minting one when missing or due).",
        discussion: "Prints only the token and a newline, for `Authorization: Bearer $(keyward token ID)`."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The entity id.")
    var entity: String

    func run() async throws {
        let session = try EngineSession.open(global) { _ = try $0.selectEntities([entity]) }
        let token = try await session.dispatcher.token(for: entity, context: session.context)
        var bytes = token.value.revealBytes()
        bytes.append(0x0A)
        Output.write(bytes)
    }
}

import ArgumentParser
import Foundation
import KeywardCore

/// `keyward token ENTITY`: print a valid entity access token and nothing else.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a valid entity access token on stdout (minting one when missing or due).",
        discussion: """
            Prints only the token and a newline, for `Authorization: Bearer $(keyward token ID)`; \
            with --output json, {"version":1,"token":…,"expiresAt":…}.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The entity id.")
    var entity: String

    func run() async throws {
        let session = try EngineSession.open(global) { _ = try $0.selectEntities([entity]) }
        let token = try await session.dispatcher.token(for: entity, context: session.context)
        switch global.output {
        case .json:
            // DESIGN.md, "Commands": `{"token","expiresAt"}` (with the `version` every document has).
            try Output.printJSON(TokenResult(version: 1, token: token.value.revealUTF8(), expiresAt: token.expiresAt))
        case .text:
            var bytes = token.value.revealBytes()
            bytes.append(0x0A)
            Output.write(bytes)
        }
    }

    struct TokenResult: Encodable {
        var version: Int
        var token: String
        /// RFC 3339, UTC; `null` when the service gave none.
        var expiresAt: Date?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(version, forKey: .version)
            try container.encode(token, forKey: .token)
            try container.encode(expiresAt, forKey: .expiresAt)
        }

        private enum CodingKeys: String, CodingKey { case version, token, expiresAt }
    }
}

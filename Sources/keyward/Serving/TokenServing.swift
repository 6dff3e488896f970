import ArgumentParser
import Foundation
import KeywardCore
import Logging

/// `schedule run --token-listen ADDR --serve-token-file PATH` (DESIGN.md, "Operability"): the
/// options' rules and the listener they make.
enum TokenServing {
    /// Both options or neither, and an address the endpoint may listen on.
    ///
    /// - Throws: `ValidationError` (exit 2) otherwise, before anything runs.
    static func validate(listen: String?, tokenFile: String?) throws {
        switch (listen, tokenFile) {
        case (nil, nil): return
        case (.some, nil): throw ValidationError("--token-listen needs --serve-token-file (the bearer token callers must present)")
        case (nil, .some): throw ValidationError("--serve-token-file is only used with --token-listen")
        case (.some(let listen), .some(let file)):
            guard !file.isEmpty else { throw ValidationError("--serve-token-file: the path is empty") }
            do {
                _ = try TokenListenAddress.parse(listen)
            } catch let error as KeywardError {
                throw ValidationError(error.description)
            }
        }
    }

    /// The listener for `entities`, or `nil` without `--token-listen`. Reads the serve token
    /// file once, now.
    ///
    /// - Throws: ``KeywardError`` (usage, exit 2) for an address that is not loopback or
    ///   `unix:PATH`, or a serve token file that is missing, empty or not private.
    static func listener(listen: String?, tokenFile: String?, dispatcher: Dispatcher, context: OperationContext,
                         entities: [EntityID]) throws -> TokenListener? {
        guard let listen, let tokenFile else { return nil }
        let address = try TokenListenAddress.parse(listen)
        let bearer = try ServeTokenFile.read(tokenFile)
        let server = EntityTokenServer(dispatcher: dispatcher, context: context, entities: entities)
        return TokenListener(address: address, endpoint: TokenEndpoint(server: server, bearer: bearer, logger: context.logger),
                             logger: context.logger)
    }
}

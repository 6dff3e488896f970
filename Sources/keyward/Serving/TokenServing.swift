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
                _ = try ListenAddress.tokenListen(listen)
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
    /// - Parameter willServe: told of each token taken from the vault or minted (`--metrics-listen`
    ///   follows token expiries with it between cycles).
    static func listener(listen: String?, tokenFile: String?, dispatcher: Dispatcher, context: OperationContext,
                         entities: [EntityID], willServe: (@Sendable (EntityID, SecretRecord) -> Void)? = nil) throws -> TokenListener? {
        guard let listen, let tokenFile else { return nil }
        let address = try ListenAddress.tokenListen(listen)
        let bearer = try ServeTokenFile.read(tokenFile)
        let server = EntityTokenServer(dispatcher: dispatcher, context: context, entities: entities, willServe: willServe)
        return TokenListener(address: address, endpoint: TokenEndpoint(server: server, bearer: bearer, logger: context.logger),
                             logger: context.logger)
    }
}

/// `keyward exec --serve-tokens` (DESIGN.md, "Operability"): the token endpoint for the named
/// entities on a loopback port chosen for this run, for CMD's lifetime.
enum ExecTokenServing {
    /// Bytes of randomness in `KEYWARD_TOKEN_AUTH` (from the system's CSPRNG, `getrandom(2)` via
    /// `SystemRandomNumberGenerator`), written as 64 hexadecimal digits.
    static let authBytes = 32

    /// A fresh `KEYWARD_TOKEN_AUTH` value: 32 random bytes in hexadecimal.
    static func makeAuth() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<authBytes).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }

    /// Starts the endpoint on `127.0.0.1:0` and returns once it listens.
    ///
    /// - Returns: `url` for `KEYWARD_TOKEN_URL` (`http://127.0.0.1:PORT/v1/entities`, to which
    ///   CMD appends `/<ID>/token`), `auth` for `KEYWARD_TOKEN_AUTH`, the listener and its task.
    /// - Throws: ``KeywardError`` (usage) when no loopback port can be bound.
    /// - Parameter masked: with `--mask`, where each token served is added before CMD gets it.
    static func start(session: EngineSession, entities: [EntityID], masked: MaskedExec.MaskUpdates? = nil) async throws
        -> (url: String, auth: String, listener: TokenListener, task: Task<Void, any Error>)
    {
        let auth = makeAuth()
        var willServe: (@Sendable (EntityID, SecretRecord) -> Void)?
        if let masked {
            willServe = { id, record in masked.add(name: "entities/\(id.rawValue)/token", value: record.value) }
        }
        let server = EntityTokenServer(dispatcher: session.dispatcher, context: session.context, entities: entities, willServe: willServe)
        let listener = TokenListener(address: .tcp(host: "127.0.0.1", port: 0),
                                     endpoint: TokenEndpoint(server: server, bearer: Array(auth.utf8), logger: session.context.logger),
                                     logger: session.context.logger, announce: false)
        let task = Task { try await listener.run() }
        let url = try await listener.ready()
        return (url + "/v1/entities", auth, listener, task)
    }
}

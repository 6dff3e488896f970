import Foundation
import KeywardCore
import Logging

/// A provider of protocol 1 (DESIGN.md, "Plugins"): `fetch` reads the entity's secret, `reset`
/// issues a new one, `token` mints an access token. Conformance is static, so
/// ``ExternalPlugins/makeProvider(_:reference:environment:)`` picks one of four types by the
/// capabilities the plugin claims: ``ExternalProvider`` (fetch), ``ExternalRotatingProvider``
/// (+reset), ``ExternalTokenProvider`` (+token), ``ExternalRotatingTokenProvider`` (both).
///
/// Records are built as the token service's are (source: the provider's name; created now), so
/// the engine and the rotation journal treat both alike. A reset is never retried here: a
/// reset that times out has an unknown outcome, and the journal recovers it with `fetch`.
struct ExternalProviderCalls: Sendable {
    var name: String
    var plugin: ExternalPlugin
    var options: PluginOptions

    init(configuration: ProviderConfiguration, reference: ExternalPluginReference, environment: PluginEnvironment) {
        name = configuration.name
        plugin = ExternalPlugin(command: reference.command, directory: configuration.directory, timeout: reference.timeout,
                                environmentNames: reference.environmentNames, processEnvironment: environment.processEnvironment)
        options = PluginOptions(options: configuration.options, credentials: environment.credentials, plugin: plugin.path)
    }

    private static func violation(_ plugin: String, _ message: String) -> ExternalPluginError {
        ExternalPluginError(plugin: plugin, code: .protocolViolation, message: message)
    }

    private func call(_ operation: String, entity: EntityID, extra: [String: JSONValue] = [:], secrets: [[UInt8]] = [],
                      context: OperationContext) async throws -> [String: JSONValue]
    {
        let (optionsValue, optionSecrets) = try await options.resolve(context: context)
        var request: [String: JSONValue] = ["operation": .string(operation), "entity": .string(entity.rawValue), "options": optionsValue]
        request.merge(extra) { _, new in new }
        return try await plugin.call(request, secrets: optionSecrets + secrets, answerCarriesSecret: true, logger: context.logger)
    }

    /// `expiresAt`: RFC 3339, or `null` / absent when `optional`.
    private static func expiry(_ answer: [String: JSONValue], operation: String, optional: Bool, plugin: String) throws -> Date? {
        switch answer["expiresAt"] {
        case nil, .null?:
            if optional { return nil }
            throw violation(plugin, "answered \(operation) without \"expiresAt\"")
        case .string(let text)?:
            guard let date = Timestamps.parse(text) else { throw violation(plugin, "answered \(operation) with an \"expiresAt\" that is not an RFC 3339 date-time") }
            return date
        default:
            throw violation(plugin, "answered \(operation) with an \"expiresAt\" that is not an RFC 3339 date-time")
        }
    }

    private func secret(_ answer: [String: JSONValue], operation: String, context: OperationContext) throws -> ProvidedSecret {
        try Self.secret(answer, operation: operation, plugin: plugin.path, source: name, now: context.clock.now)
    }

    /// `{"secret":V,"expiresAt":RFC3339|null}` (a `fetch` or `reset` answer) as a record
    /// created `now` by `source`.
    /// - Throws: ``ExternalPluginError`` (protocol violation) naming `plugin`.
    static func secret(_ answer: [String: JSONValue], operation: String, plugin: String, source: String, now: Date) throws -> ProvidedSecret {
        guard let value = answer["secret"]?.stringValue, !value.isEmpty else { throw violation(plugin, "answered \(operation) without a \"secret\" string") }
        // No sink, environment or file format Keyward writes can carry a NUL: stored, it would
        // fail every delivery from then on.
        guard !value.utf8.contains(0) else { throw violation(plugin, "answered \(operation) with a \"secret\" holding a NUL character, which no sink can deliver") }
        let expiresAt = try expiry(answer, operation: operation, optional: true, plugin: plugin)
        return ProvidedSecret(record: SecretRecord(value: SecretValue(bytes: Array(value.utf8)), createdAt: now, expiresAt: expiresAt, source: source))
    }

    func fetch(_ entity: EntityID, context: OperationContext) async throws -> ProvidedSecret {
        try secret(try await call("fetch", entity: entity, context: context), operation: "fetch", context: context)
    }

    func reset(_ entity: EntityID, validityDays: Int?, context: OperationContext) async throws -> ProvidedSecret {
        let extra: [String: JSONValue] = validityDays.map { ["secretExpiryDays": .integer($0)] } ?? [:]
        return try secret(try await call("reset", entity: entity, extra: extra, context: context), operation: "reset", context: context)
    }

    func token(_ entity: EntityID, secret: SecretValue, context: OperationContext) async throws -> ProvidedSecret {
        let bytes = secret.revealBytes()
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw KeywardError.operationFailed("provider \(name): \(entity): the entity secret is not valid UTF-8, which protocol 1 (JSON strings) cannot carry")
        }
        let answer = try await call("token", entity: entity, extra: ["secret": .string(text)], secrets: [bytes], context: context)
        return try Self.token(answer, plugin: plugin.path, source: name, now: context.clock.now)
    }

    /// `{"token":T,"expiresAt":RFC3339}` (a `token` answer) as a record created `now` by
    /// `source`; a token already expired at `now` is refused.
    /// - Throws: ``ExternalPluginError`` (protocol violation) naming `plugin`.
    static func token(_ answer: [String: JSONValue], plugin: String, source: String, now: Date) throws -> ProvidedSecret {
        guard let value = answer["token"]?.stringValue, !value.isEmpty else { throw violation(plugin, "answered token without a \"token\" string") }
        guard !value.utf8.contains(0) else { throw violation(plugin, "answered token with a \"token\" holding a NUL character, which no sink can deliver") }
        let expiresAt = try expiry(answer, operation: "token", optional: false, plugin: plugin)
        // An access token that is dead on arrival would be stored and handed out as fresh
        // (DESIGN.md: Keyward never delivers a dead credential).
        if let expiresAt, expiresAt <= now {
            throw violation(plugin, "answered token with an \"expiresAt\" that has passed (\(Timestamps.format(expiresAt))): the access token is already expired")
        }
        return ProvidedSecret(record: SecretRecord(value: SecretValue(bytes: Array(value.utf8)), createdAt: now, expiresAt: expiresAt, source: source))
    }
}

/// An external provider claiming `fetch` only.
public struct ExternalProvider: SecretProvider {
    let calls: ExternalProviderCalls
    public var name: String { calls.name }
    /// The plugin, as every call runs it.
    public var plugin: ExternalPlugin { calls.plugin }

    /// `fetch`. - Throws: ``ExternalPluginError``; the resolver's error for a `secret` option.
    public func readSecret(for entity: EntityID, context: OperationContext) async throws -> ProvidedSecret {
        try await calls.fetch(entity, context: context)
    }
}

/// An external provider claiming `fetch` and `reset`.
public struct ExternalRotatingProvider: SecretRotator {
    let calls: ExternalProviderCalls
    public var name: String { calls.name }
    public var plugin: ExternalPlugin { calls.plugin }

    public func readSecret(for entity: EntityID, context: OperationContext) async throws -> ProvidedSecret {
        try await calls.fetch(entity, context: context)
    }

    /// `reset` (with `secretExpiryDays` when `validityDays` is given); sent once, never retried.
    public func resetSecret(for entity: EntityID, validityDays: Int?, context: OperationContext) async throws -> ProvidedSecret {
        try await calls.reset(entity, validityDays: validityDays, context: context)
    }
}

/// An external provider claiming `fetch` and `token`.
public struct ExternalTokenProvider: AccessTokenIssuer {
    let calls: ExternalProviderCalls
    public var name: String { calls.name }
    public var plugin: ExternalPlugin { calls.plugin }

    public func readSecret(for entity: EntityID, context: OperationContext) async throws -> ProvidedSecret {
        try await calls.fetch(entity, context: context)
    }

    /// `token` (the request carries `secret`).
    public func issueAccessToken(for entity: EntityID, secret: SecretValue, context: OperationContext) async throws -> ProvidedSecret {
        try await calls.token(entity, secret: secret, context: context)
    }
}

/// An external provider claiming `fetch`, `reset` and `token`.
public struct ExternalRotatingTokenProvider: SecretRotator, AccessTokenIssuer {
    let calls: ExternalProviderCalls
    public var name: String { calls.name }
    public var plugin: ExternalPlugin { calls.plugin }

    public func readSecret(for entity: EntityID, context: OperationContext) async throws -> ProvidedSecret {
        try await calls.fetch(entity, context: context)
    }

    public func resetSecret(for entity: EntityID, validityDays: Int?, context: OperationContext) async throws -> ProvidedSecret {
        try await calls.reset(entity, validityDays: validityDays, context: context)
    }

    public func issueAccessToken(for entity: EntityID, secret: SecretValue, context: OperationContext) async throws -> ProvidedSecret {
        try await calls.token(entity, secret: secret, context: context)
    }
}

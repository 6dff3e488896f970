import Foundation
import KeywardCore
import Logging

/// A sink of protocol 1 (DESIGN.md, "Plugins"): each write sends the entities' key/value pairs
/// (the same pairs, from the same ``SinkKeys`` code, as the built-in sinks write) to the
/// plugin's `write`; with the `read` capability a dry run compares by value.
///
/// Built by ``ExternalPlugins/makeSink(_:reference:environment:)``.
public struct ExternalSink: SecretSink {
    public let name: String
    /// The plugin, as every call runs it.
    public let plugin: ExternalPlugin
    /// The plugin's `describe` answer.
    public let pluginDescription: ExternalPluginDescription
    private let keys: [(key: String, template: KeyTemplate)]?
    private let options: PluginOptions

    /// - Parameters:
    ///   - configuration: the `sinks.<name>` entry (its `keys`, its own `options`, its directory).
    ///   - reference: the resolved command, timeout, `env` names and `describe` answer.
    ///   - environment: `processEnvironment` (the plugin's environment is taken from it) and
    ///     `credentials` (for `secret` options).
    public init(configuration: SinkConfiguration, reference: ExternalPluginReference, environment: PluginEnvironment) {
        self.init(name: configuration.name,
                  plugin: ExternalPlugin(command: reference.command, directory: configuration.directory, timeout: reference.timeout,
                                         environmentNames: reference.environmentNames, processEnvironment: environment.processEnvironment),
                  description: reference.description, keys: configuration.keys, options: configuration.options,
                  credentials: environment.credentials)
    }

    /// A sink without a configuration file (the conformance suite, `keyward plugin test`).
    ///
    /// - Parameters:
    ///   - keys: output key to template, in order; `nil` for the default names.
    ///   - options: the plugin's own options as the loader parses them (a `secret` option as
    ///     ``ConfigurationValue/credential(_:)``, resolved through `credentials` at each call).
    public init(name: String, plugin: ExternalPlugin, description: ExternalPluginDescription,
                keys: [(key: String, template: KeyTemplate)]? = nil, options: [String: ConfigurationValue] = [:],
                credentials: CredentialResolver = CredentialResolver(store: nil)) {
        self.name = name
        self.plugin = plugin
        self.pluginDescription = description
        self.keys = keys
        self.options = PluginOptions(options: options, credentials: credentials, plugin: plugin.path)
    }

    /// The plugin's path.
    public var destination: String? { plugin.command.first }

    /// One entry of a `write` or `read` request.
    struct Entry {
        var key: String
        var value: [UInt8]
        var entity: EntityID
        var field: String
    }

    /// Sends the pairs to the plugin's `write` (`dryRun` false). In a dry run, ``plan(_:context:)``
    /// instead: a dry run never calls `write`.
    ///
    /// - Throws: ``KeywardError`` naming the key when a template needs a token not held or a
    ///   value is not UTF-8 (never the value); ``ExternalPluginError`` for a failed call.
    public func write(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        if context.dryRun { return try await plan(material, context: context) }
        let entries = try self.entries(material)
        let (optionsValue, optionSecrets) = try await options.resolve(context: context)
        var secrets = optionSecrets
        var list: [JSONValue] = []
        list.reserveCapacity(entries.count)
        for entry in entries {
            guard let text = String(validating: entry.value, as: UTF8.self) else {
                throw KeywardError.operationFailed("sink \(name): refusing to send the value of \(entry.key): it is not valid UTF-8, which protocol 1 (JSON strings) cannot carry")
            }
            if Self.secretFields.contains(entry.field) { secrets.append(entry.value) }
            list.append(.object(["key": .string(entry.key), "value": .string(text), "entity": .string(entry.entity.rawValue), "field": .string(entry.field)]))
        }
        let answer = try await plugin.call(
            ["operation": .string("write"), "sink": .object(["name": .string(name), "options": optionsValue]),
             "dryRun": .bool(false), "entries": .array(list)],
            secrets: secrets, logger: context.logger)
        switch answer["outcome"]?.stringValue {
        case "written": return .written
        case "unchanged": return .unchanged
        default: throw ExternalPluginError(plugin: plugin.path, code: .protocolViolation, message: "answered write without an \"outcome\" \"written\" or \"unchanged\"")
        }
    }

    /// What ``write(_:context:)`` would do: with the `read` capability, `unchanged` when every
    /// key reads back its value (`written` when one differs, is missing, or the plugin answers
    /// `notFound`); without it, `written`.
    public func plan(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        guard pluginDescription.has("read") else { return .written }
        let entries = try self.entries(material)
        let held: [String: [UInt8]]
        do {
            held = try await read(entries, context: context)
        } catch let error as ExternalPluginError where error.code == .notFound {
            return .written
        }
        return entries.allSatisfy { held[$0.key] == $0.value } ? .unchanged : .written
    }

    /// Reads back what the plugin holds for the keys `material` gives (its `read` capability):
    /// key → value bytes, only the keys it answered.
    ///
    /// - Throws: ``ExternalPluginError`` (its `notFound` when it holds nothing; a protocol
    ///   violation when it does not claim `read` or answers another shape).
    public func read(_ material: [EntityMaterial], context: OperationContext) async throws -> [String: [UInt8]] {
        try await read(try entries(material), context: context)
    }

    private func read(_ entries: [Entry], context: OperationContext) async throws -> [String: [UInt8]] {
        guard pluginDescription.has("read") else {
            throw ExternalPluginError(plugin: plugin.path, code: .protocolViolation, message: "does not claim the \"read\" capability")
        }
        let (optionsValue, optionSecrets) = try await options.resolve(context: context)
        let list: [JSONValue] = entries.map {
            .object(["key": .string($0.key), "entity": .string($0.entity.rawValue), "field": .string($0.field)])
        }
        let known = optionSecrets + entries.filter { Self.secretFields.contains($0.field) }.map(\.value)
        let answer = try await plugin.call(
            ["operation": .string("read"), "sink": .object(["name": .string(name), "options": optionsValue]),
             "dryRun": .bool(false), "entries": .array(list)],
            secrets: known, logger: context.logger)
        guard let answered = answer["entries"]?.arrayValue else {
            throw ExternalPluginError(plugin: plugin.path, code: .protocolViolation, message: "answered read without an \"entries\" list")
        }
        var result: [String: [UInt8]] = [:]
        for item in answered {
            guard let object = item.objectValue, let key = object["key"]?.stringValue, let value = object["value"]?.stringValue else {
                throw ExternalPluginError(plugin: plugin.path, code: .protocolViolation, message: "answered read with an entry that has no string \"key\" and \"value\"")
            }
            result[key] = Array(value.utf8)
        }
        return result
    }

    /// Fields whose values are secret (redacted from the plugin's stderr).
    static let secretFields: Set<String> = ["secret", "token"]

    /// The entries of `material`: keys and values from ``SinkKeys/pairs(for:keys:)`` (as the
    /// built-in sinks), `entity` and `field` from the template that made each.
    func entries(_ material: [EntityMaterial]) throws -> [Entry] {
        let pairs = try SinkKeys.pairs(for: material, keys: keys)
        var entries: [Entry] = []
        entries.reserveCapacity(pairs.count)
        var index = 0
        // SinkKeys.pairs walks entity by entity, template by template: the same walk here.
        for entity in material {
            for (_, template) in keys ?? SinkKeys.defaultTemplates(for: entity.id) {
                let pair = pairs[index]
                entries.append(Entry(key: pair.key, value: pair.value.revealBytes(), entity: entity.id, field: Self.field(of: template)))
                index += 1
            }
        }
        return entries
    }

    /// The `field` of a template: `secret` when it holds the secret, else `token` when it holds
    /// the token, else its first placeholder (`id`, `secretExpiresAt`, `tokenExpiresAt`); `id`
    /// for a template of literal text only.
    static func field(of template: KeyTemplate) -> String {
        let placeholders = template.parts.compactMap { part -> KeyTemplate.Placeholder? in
            if case .placeholder(let placeholder) = part { placeholder } else { nil }
        }
        let chosen = placeholders.contains(.secret) ? .secret
            : placeholders.contains(.token) ? .token
            : placeholders.first ?? .id
        return String(chosen.rawValue.dropFirst("entity.".count))
    }
}

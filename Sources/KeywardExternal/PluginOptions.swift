import Foundation
import KeywardCore

/// A configuration entry's own options as protocol 1 sends them in `options` (DESIGN.md,
/// "Plugins"): strings, integers and booleans as themselves, a list as an array, a duration as
/// its whole number of seconds, and a `secret` option's credential reference resolved and sent
/// as its value (a string), which is then also a secret to redact.
struct PluginOptions: Sendable {
    var options: [String: ConfigurationValue]
    var credentials: CredentialResolver
    /// The plugin's path, for failures.
    var plugin: String

    /// The `options` object, and the resolved secret values it holds.
    ///
    /// - Throws: the resolver's error for a reference that cannot be resolved;
    ///   ``ExternalPluginError`` (invalid) for a resolved value that is not UTF-8.
    func resolve(context: OperationContext) async throws -> (options: JSONValue, secrets: [[UInt8]]) {
        var result: [String: JSONValue] = [:]
        var secrets: [[UInt8]] = []
        for (name, value) in options {
            result[name] = try await encode(value, name: name, secrets: &secrets, context: context)
        }
        return (.object(result), secrets)
    }

    private func encode(_ value: ConfigurationValue, name: String, secrets: inout [[UInt8]], context: OperationContext) async throws -> JSONValue {
        switch value {
        case .string(let text): return .string(text)
        case .integer(let number): return .integer(number)
        case .boolean(let flag): return .bool(flag)
        case .duration(let duration): return .integer(Int(duration.components.seconds))
        case .list(let items):
            var array: [JSONValue] = []
            for item in items { array.append(try await encode(item, name: name, secrets: &secrets, context: context)) }
            return .array(array)
        case .map(let map):
            var object: [String: JSONValue] = [:]
            for (key, item) in map { object[key] = try await encode(item, name: name, secrets: &secrets, context: context) }
            return .object(object)
        case .credential(let reference):
            let bytes = try await credentials.resolve(reference, context: context).revealBytes()
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ExternalPluginError(plugin: plugin, code: .invalid,
                                          message: "option \(name): the resolved value is not valid UTF-8, which protocol 1 (JSON strings) cannot carry")
            }
            secrets.append(bytes)
            return .string(text)
        }
    }
}

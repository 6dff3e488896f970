import Foundation
import KeywardCore

/// A ``SecretSink`` that keeps what it was given, registered as type `recording`: for tests of
/// configuration and the engine.
public final class RecordingSink: SecretSink, @unchecked Sendable {
    public let name: String
    private let lock = NSLock()
    private var writes: [[EntityMaterial]] = []

    public init(name: String) {
        self.name = name
    }

    public func write(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        lock.withLock {
            let changed = writes.last.map { last in
                zip(last, material).contains { $0.secret.value != $1.secret.value || $0.token?.value != $1.token?.value } || last.count != material.count
            } ?? true
            writes.append(material)
            return changed ? .written : .unchanged
        }
    }

    /// Every batch written, oldest first.
    public var recorded: [[EntityMaterial]] { lock.withLock { writes } }

    /// The descriptor under which tests register this sink: a file sink with a `flavour`
    /// choice, a `pretty` flag and `labels`, to exercise option validation.
    public static let descriptor = SinkTypeDescriptor(
        type: "recording", writesFile: true,
        options: ["flavour": .choice(["plain", "fancy"]), "pretty": .boolean, "labels": .stringMap])

    /// Registers `recording` in `registry`.
    public static func register(in registry: inout PluginRegistry) {
        registry.registerSink(descriptor) { configuration, _ in RecordingSink(name: configuration.name) }
    }
}

/// A provider with fixed answers, registered as type `static`.
public struct StaticProvider: SecretProvider {
    public let name: String
    public let secrets: [EntityID: SecretValue]

    public init(name: String, secrets: [EntityID: SecretValue]) {
        self.name = name
        self.secrets = secrets
    }

    public func readSecret(for entity: EntityID, context: OperationContext) async throws -> ProvidedSecret {
        guard let value = secrets[entity] else { throw KeywardError.operationFailed("no secret for \(entity)") }
        return ProvidedSecret(record: SecretRecord(value: value, createdAt: context.clock.now, source: name))
    }
}

import Foundation
import KeywardCore

extension OpenBaoSharedStore {
    /// The value of `key` in the KV entry `<mount>/<path>` (an `openbao:` credential reference:
    /// DESIGN.md, "Beyond one machine"), read through this store's connection.
    ///
    /// - Throws: ``KeywardError`` (usage) naming the reference when the entry or the key is
    ///   missing; ``OpenBaoError`` when the server refuses or cannot answer. Never a value.
    public func credential(mount: String, path: String, key: String, context: OperationContext) async throws -> SecretValue {
        let reference = "\(OpenBaoPlugins.sharedStoreType):\(mount)/\(path)#\(key)"
        guard let entry = try await client.read(mount: mount, path: path, consistent: false, context: context) else {
            throw KeywardError.usage("\(reference): \(settings.server.address.absoluteString) has no entry \(mount)/\(path)")
        }
        guard let value = entry.data[key] else {
            throw KeywardError.usage("\(reference): the entry \(mount)/\(path) has no key '\(key)' (it has \(entry.data.keys.sorted().joined(separator: ", ")))")
        }
        return value
    }

    /// Releases every lease this process holds, progress kept (on SIGTERM); the writes run
    /// together, each bounded by the server timeout.
    public func releaseHeldLeases() async {
        let leases = heldLeases.withLock { Array($0.values) }
        await withTaskGroup(of: Void.self) { group in
            for lease in leases { group.addTask { await lease.release() } }
        }
    }
}

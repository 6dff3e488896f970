import Foundation

/// Turns entity credentials into the key/value pairs a sink writes, per DESIGN.md
/// ("Configuration"): the sink's `keys` templates, or the default names `<ID>_ENTITY_ID`,
/// `<ID>_SECRET`, `<ID>_ACCESS_TOKEN`, `<ID>_SECRET_EXPIRES_AT`, `<ID>_TOKEN_EXPIRES_AT`.
public enum SinkKeys {
    /// One output key and its value.
    public struct Pair: Sendable, Equatable {
        public var key: String
        public var value: SecretValue
        public init(key: String, value: SecretValue) {
            self.key = key
            self.value = value
        }
    }

    /// The default templates for one entity, in output order.
    ///
    /// - Parameter tokens: `false` for an entity whose provider mints no entity access token
    ///   (an external provider without the `token` capability, DESIGN.md "Plugins"): the two
    ///   token keys are left out rather than written empty or failing every delivery.
    public static func defaultTemplates(for id: EntityID, tokens: Bool = true) -> [(key: String, template: KeyTemplate)] {
        let prefix = id.environmentPrefix
        guard tokens else {
            return [
                ("\(prefix)_ENTITY_ID", KeyTemplate(.id)),
                ("\(prefix)_SECRET", KeyTemplate(.secret)),
                ("\(prefix)_SECRET_EXPIRES_AT", KeyTemplate(.secretExpiresAt)),
            ]
        }
        return [
            ("\(prefix)_ENTITY_ID", KeyTemplate(.id)),
            ("\(prefix)_SECRET", KeyTemplate(.secret)),
            ("\(prefix)_ACCESS_TOKEN", KeyTemplate(.token)),
            ("\(prefix)_SECRET_EXPIRES_AT", KeyTemplate(.secretExpiresAt)),
            ("\(prefix)_TOKEN_EXPIRES_AT", KeyTemplate(.tokenExpiresAt)),
        ]
    }

    /// The pairs for `material`, entity by entity in the given order.
    ///
    /// - Parameter keys: the sink's `keys` (for a sink of one entity), or `nil` for the defaults.
    /// - Throws: ``KeywardError`` (operation failed) when a template needs an access token that
    ///   is not held, naming the entity and key; (usage) when two keys collide.
    public static func pairs(for material: [EntityMaterial], keys: [(key: String, template: KeyTemplate)]?) throws -> [Pair] {
        var result: [Pair] = []
        var seen: Set<String> = []
        let perEntity = keys?.count ?? 5
        result.reserveCapacity(material.count * perEntity)
        seen.reserveCapacity(material.count * perEntity)
        for entity in material {
            for (key, template) in keys ?? defaultTemplates(for: entity.id, tokens: entity.mintsTokens || entity.token != nil) {
                guard seen.insert(key).inserted else {
                    throw KeywardError.usage("key \(key) is produced twice (entities \(material.map(\.id.rawValue).joined(separator: ", ")))")
                }
                result.append(Pair(key: key, value: try render(template, entity: entity, key: key)))
            }
        }
        return result
    }

    /// Renders one template. Expiry placeholders give RFC 3339 UTC, or an empty string for a
    /// secret without expiry.
    public static func render(_ template: KeyTemplate, entity: EntityMaterial, key: String) throws -> SecretValue {
        var bytes: [UInt8] = []
        for part in template.parts {
            switch part {
            case .literal(let text):
                bytes.append(contentsOf: text.utf8)
            case .placeholder(.id):
                bytes.append(contentsOf: entity.id.rawValue.utf8)
            case .placeholder(.secret):
                bytes += entity.secret.value.revealBytes()
            case .placeholder(.token):
                guard let token = entity.token else {
                    throw KeywardError.operationFailed("\(entity.id): no entity access token is held for \(key); run `keyward sync` or `keyward token`")
                }
                bytes += token.value.revealBytes()
            case .placeholder(.secretExpiresAt):
                bytes.append(contentsOf: (entity.secret.expiresAt.map(Timestamps.format) ?? "").utf8)
            case .placeholder(.tokenExpiresAt):
                guard let token = entity.token else {
                    throw KeywardError.operationFailed("\(entity.id): no entity access token is held for \(key)")
                }
                bytes.append(contentsOf: (token.expiresAt.map(Timestamps.format) ?? "").utf8)
            }
        }
        return SecretValue(bytes: bytes)
    }
}

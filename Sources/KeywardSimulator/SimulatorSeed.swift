import Foundation

/// What a simulator starts with: its users, its entities and their secrets, and token lifetimes.
///
/// The YAML form is DESIGN.md's "Seed file" (section "The simulator"), plus two optional
/// top-level durations, `userTokenLifetime` and `entityTokenLifetime`, written `90s`, `15m`,
/// `24h` or `180d`. Read one with ``load(yaml:)``, whose errors name the field and its line.
public struct SimulatorSeed: Sendable, Decodable, Equatable {
    /// An admin user of the token service, who may read and reset the secrets of `entities`.
    public struct User: Sendable, Decodable, Equatable {
        /// The user's email, the `username` form field of `/user/token/generate`.
        public var username: String
        /// The user's password, compared exactly (every byte is significant).
        public var password: String
        /// Ids of the entities whose secrets this user may read and reset.
        public var entities: [String]

        public init(username: String, password: String, entities: [String]) {
            self.username = username
            self.password = password
            self.entities = entities
        }

        private enum CodingKeys: String, CodingKey { case username, password, entities }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            username = try container.decode(String.self, forKey: .username)
            password = try container.decode(String.self, forKey: .password)
            entities = try container.decodeIfPresent([String].self, forKey: .entities) ?? []
        }
    }

    /// An entity (FIU, FIP, AA) of the ecosystem and its current secret.
    public struct Entity: Sendable, Decodable, Equatable {
        /// The entity id, e.g. `FIU-EXAMPLE-1`.
        public var id: String
        /// The entity's current secret; `nil` means the simulator generates one
        /// (32 random bytes, base64, so it holds `+`, `/` and `=`).
        public var secret: String?
        /// Seconds from the simulator's start (on its own clock) until the secret expires;
        /// `nil` means it never expires, like legacy secrets whose `expiresOn` is absent.
        public var expiresIn: TimeInterval?

        public init(id: String, secret: String? = nil, expiresIn: TimeInterval? = nil) {
            self.id = id
            self.secret = secret
            self.expiresIn = expiresIn
        }

        private enum CodingKeys: String, CodingKey { case id, secret, expiresIn }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            id = try container.decode(String.self, forKey: .id)
            secret = try container.decodeIfPresent(String.self, forKey: .secret)
            expiresIn = try container.decodeDurationIfPresent(forKey: .expiresIn)
        }
    }

    /// The users, in seed order.
    public var users: [User]
    /// The entities, in seed order.
    public var entities: [Entity]
    /// Lifetime of user access tokens in seconds; `nil` means 180 days (contract, "user token").
    public var userTokenLifetime: TimeInterval?
    /// Lifetime of entity access tokens in seconds; `nil` means 24 h (86 400 s).
    public var entityTokenLifetime: TimeInterval?

    public init(
        users: [User],
        entities: [Entity],
        userTokenLifetime: TimeInterval? = nil,
        entityTokenLifetime: TimeInterval? = nil
    ) {
        self.users = users
        self.entities = entities
        self.userTokenLifetime = userTokenLifetime
        self.entityTokenLifetime = entityTokenLifetime
    }

    private enum CodingKeys: String, CodingKey { case users, entities, userTokenLifetime, entityTokenLifetime }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        users = try container.decodeIfPresent([User].self, forKey: .users) ?? []
        entities = try container.decodeIfPresent([Entity].self, forKey: .entities) ?? []
        userTokenLifetime = try container.decodeDurationIfPresent(forKey: .userTokenLifetime)
        entityTokenLifetime = try container.decodeDurationIfPresent(forKey: .entityTokenLifetime)
    }

    /// The seed `keyward simulator` uses without `--seed`: user `ops@example.com`, allowed for
    /// `FIU-EXAMPLE-1` (a generated secret valid 180 days) and `FIU-EXAMPLE-2` (a generated
    /// secret valid 90 days).
    public static func demo(password: String) -> SimulatorSeed {
        SimulatorSeed(
            users: [User(username: "ops@example.com", password: password, entities: ["FIU-EXAMPLE-1", "FIU-EXAMPLE-2"])],
            entities: [
                Entity(id: "FIU-EXAMPLE-1", expiresIn: 180 * 86_400),
                Entity(id: "FIU-EXAMPLE-2", expiresIn: 90 * 86_400),
            ]
        )
    }
}

extension KeyedDecodingContainer {
    /// Decodes a duration written as `90s`, `15m`, `24h`, `180d` (or a plain number of seconds).
    fileprivate func decodeDurationIfPresent(forKey key: Key) throws -> TimeInterval? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let seconds = try? decode(Int.self, forKey: key), seconds > 0 {
            return TimeInterval(seconds)
        }
        let text = try decode(String.self, forKey: key)
        guard let seconds = SimulatorSeed.parseDuration(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self,
                debugDescription: "expected a duration such as 90s, 15m, 24h or 180d, got \"\(text)\""
            )
        }
        return seconds
    }
}

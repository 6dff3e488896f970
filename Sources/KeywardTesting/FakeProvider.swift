import Foundation
import KeywardCore

/// A second provider type, `fake`, for tests of the seams: it keeps each entity's secret in a
/// JSON file in its `directory`, resets it with random bytes, mints throw-away access tokens,
/// and fails every call after its first `failAfter` ones. It shows that a provider type with
/// options of its own plugs into the loader and the engine without Core knowing it.
///
/// Options: `directory` (required, an absolute path), `failAfter` (optional, 0 or more).
/// Its resets grant 30 days by default and at most 60; an entity asking for more is a
/// configuration error.
public struct FakeProvider: SecretRotator, AccessTokenIssuer {
    /// The `type` name in `keyward.yaml`.
    public static let type = "fake"

    /// The `fake` section's options, parsed.
    public struct Options: Sendable, Equatable {
        /// Where the entity secrets are kept, one `<ENTITY>.json` file each.
        public var directory: String
        /// Calls answered before every later one fails; `nil` never fails.
        public var failAfter: Int?

        public init(directory: String, failAfter: Int? = nil) {
            self.directory = directory
            self.failAfter = failAfter
        }

        /// The options of `configuration`, or the problems that keep it from having them.
        public static func parse(_ configuration: ProviderConfiguration) -> (options: Options?, problems: [ProviderConfigurationProblem]) {
            var problems: [ProviderConfigurationProblem] = []
            var directory: String?
            if let value = configuration.options["directory"]?.stringValue {
                if value.hasPrefix("/") { directory = value } else { problems.append(.init(.option("directory"), "must be an absolute path")) }
            } else if configuration.options["directory"] == nil {
                problems.append(.init(.option("directory"), "missing: the directory that holds the fake secrets"))
            }
            let failAfter = configuration.options["failAfter"]?.integerValue
            if let failAfter, failAfter < 0 { problems.append(.init(.option("failAfter"), "must be 0 or more")) }
            guard problems.isEmpty, let directory else { return (nil, problems) }
            return (Options(directory: directory, failAfter: failAfter), [])
        }
    }

    /// What its resets grant: 30 days by default, at most 60.
    public static let secretValidity = SecretValidityRules(defaultDays: 30, maximumDays: 60)
    /// How long a minted token is valid.
    public static let tokenLifetime: TimeInterval = 3_600

    /// The `fake` type as the loader checks it: `directory` and `failAfter`, and entities that
    /// ask for more validity than it grants.
    public static let descriptor = ProviderTypeDescriptor(
        type: type, options: [.init("directory", .string), .init("failAfter", .integer)],
        validate: { provider, configuration in
            var problems = Options.parse(provider).problems
            for entity in configuration.entities.values.sorted(by: { $0.id < $1.id }) where entity.provider == provider.name {
                if let days = entity.secretExpiryDays, let maximum = secretValidity.maximumDays, days > maximum {
                    problems.append(.init(.entity(entity.id, key: "secretExpiryDays"), "a fake secret lives at most \(maximum) days"))
                }
            }
            return problems
        },
        settings: { provider in
            ProviderSettings(callTimeout: .seconds(1), endpoint: Options.parse(provider).options?.directory)
        },
        secretValidity: secretValidity,
        expiryNotices: { expiresAt, _ in ["the fake secret expired at \(Timestamps.format(expiresAt)): reset it"] },
        accessTokenLifetime: .seconds(Int64(tokenLifetime)))

    /// Registers `fake` in `registry`.
    public static func register(in registry: inout PluginRegistry) {
        registry.registerProvider(descriptor) { configuration, _ in try FakeProvider(configuration: configuration) }
    }

    public let name: String
    public let options: Options
    private let calls = CallCounter()

    /// - Throws: ``KeywardError`` (usage) for options the descriptor refuses.
    public init(configuration: ProviderConfiguration) throws {
        guard let options = Options.parse(configuration).options else {
            throw KeywardError.usage("provider '\(configuration.name)': invalid fake provider options")
        }
        self.init(name: configuration.name, options: options)
    }

    public init(name: String, options: Options) {
        self.name = name
        self.options = options
    }

    /// The secret of `entity`; one valid for the default 30 days is made on first read, as a
    /// service has one for every entity it knows.
    public func readSecret(for entity: EntityID, context: OperationContext) async throws -> ProvidedSecret {
        try countCall()
        if let stored = try load(entity) { return ProvidedSecret(record: stored.record(source: name)) }
        let made = try store(entity, validityDays: nil, now: context.clock.now)
        return ProvidedSecret(record: made.record(source: name))
    }

    /// A new random secret, valid for what ``secretValidity`` grants of `validityDays`.
    public func resetSecret(for entity: EntityID, validityDays: Int?, context: OperationContext) async throws -> ProvidedSecret {
        try countCall()
        let made = try store(entity, validityDays: validityDays, now: context.clock.now)
        let asked = validityDays.map { $0 > (Self.secretValidity.maximumDays ?? $0) } == true
        return ProvidedSecret(record: made.record(source: name), warnings: asked ? ["validity shortened to the fake maximum"] : [])
    }

    /// A token for `entity`, when `secret` is its current secret.
    ///
    /// - Throws: ``KeywardError`` (operation failed) for another secret.
    public func issueAccessToken(for entity: EntityID, secret: SecretValue, context: OperationContext) async throws -> ProvidedSecret {
        try countCall()
        guard let stored = try load(entity), SecretValue(utf8: stored.secret) == secret else {
            throw KeywardError.operationFailed("fake provider '\(name)': the secret of \(entity) is not its current one")
        }
        let now = context.clock.now
        let token = SecretValue(utf8: "fake-token." + Self.randomHex(16))
        return ProvidedSecret(record: SecretRecord(value: token, createdAt: now, expiresAt: now.addingTimeInterval(Self.tokenLifetime), source: name))
    }

    // MARK: - Files

    private struct Stored: Codable {
        var secret: String
        var createdAt: Date
        var expiresAt: Date

        func record(source: String) -> SecretRecord {
            SecretRecord(value: SecretValue(utf8: secret), createdAt: createdAt, expiresAt: expiresAt, source: source)
        }
    }

    private func file(_ entity: EntityID) -> URL {
        URL(fileURLWithPath: options.directory).appendingPathComponent("\(entity.rawValue).json")
    }

    private func load(_ entity: EntityID) throws -> Stored? {
        guard let data = FileManager.default.contents(atPath: file(entity).path) else { return nil }
        return try JSONDecoder().decode(Stored.self, from: data)
    }

    private func store(_ entity: EntityID, validityDays: Int?, now: Date) throws -> Stored {
        let days = Self.secretValidity.grantedDays(asked: validityDays) ?? 30
        let stored = Stored(secret: "fake-" + Self.randomHex(24), createdAt: now, expiresAt: now.addingTimeInterval(TimeInterval(days) * 86_400))
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        try JSONEncoder().encode(stored).write(to: file(entity), options: .atomic)
        return stored
    }

    private func countCall() throws {
        let count = calls.next()
        if let limit = options.failAfter, count > limit {
            throw KeywardError.operationFailed("fake provider '\(name)': failing after \(limit) calls (failAfter)")
        }
    }

    private static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

/// Calls made so far, shared by copies of one provider.
private final class CallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    /// This call's number, from 1.
    func next() -> Int { lock.withLock { count += 1; return count } }
}

import Foundation

/// Everything the simulator knows, guarded by one lock in ``TokenServiceSimulator``.
struct SimulatorState {
    struct UserRecord {
        var password: String
        var entities: Set<String>
    }

    struct EntityRecord {
        var secret: String
        /// `nil`: the secret never expires (a legacy secret).
        var expiresAt: Date?
    }

    struct PendingFault {
        var fault: SimulatorFault
        /// `nil`: any endpoint.
        var endpoint: SimulatorEndpoint?
        var remaining: Int
    }

    /// Default lifetimes (DESIGN.md, "The simulator"; token-service-contract.md).
    static let defaultUserTokenLifetime: TimeInterval = 180 * 86_400
    static let defaultEntityTokenLifetime: TimeInterval = 86_400
    /// The largest and default validity of a reset secret, in days.
    static let maximumSecretExpiryDays = 180
    /// How long after expiry a secret still mints entity tokens, with a warning.
    static let gracePeriod: TimeInterval = 5 * 86_400

    var users: [String: UserRecord] = [:]
    var entities: [String: EntityRecord] = [:]
    /// Seconds added to the system clock; moved by `advanceClock`.
    var clockOffset: TimeInterval = 0
    var counters: [SimulatorEndpoint: Int] = Dictionary(uniqueKeysWithValues: SimulatorEndpoint.allCases.map { ($0, 0) })
    var faults: [PendingFault] = []
    var expiresOnUnit: ExpiresOnUnit = .milliseconds
    /// The `jti` of every user token minted and not yet revoked.
    var liveUserTokenIDs: Set<String> = []
    /// The `jti` of user tokens revoked by `POST /_sim/revoke-user-tokens`: refused with 401.
    var revokedUserTokenIDs: Set<String> = []
    var userTokenLifetime: TimeInterval
    var entityTokenLifetime: TimeInterval

    init(seed: SimulatorSeed, now: Date) {
        userTokenLifetime = seed.userTokenLifetime ?? Self.defaultUserTokenLifetime
        entityTokenLifetime = seed.entityTokenLifetime ?? Self.defaultEntityTokenLifetime
        for entity in seed.entities {
            entities[entity.id] = EntityRecord(
                secret: entity.secret ?? WireFormat.randomSecret(),
                expiresAt: entity.expiresIn.map { now.addingTimeInterval($0) }
            )
        }
        for user in seed.users {
            users[user.username] = UserRecord(password: user.password, entities: Set(user.entities))
        }
    }

    func now(systemNow: Date = Date()) -> Date {
        systemNow.addingTimeInterval(clockOffset)
    }

    /// Counts one call of `endpoint` and takes the fault (if any) that applies to it.
    mutating func arrive(at endpoint: SimulatorEndpoint) -> SimulatorFault? {
        counters[endpoint, default: 0] += 1
        guard let index = faults.firstIndex(where: { $0.endpoint == nil || $0.endpoint == endpoint }) else {
            return nil
        }
        let fault = faults[index].fault
        faults[index].remaining -= 1
        if faults[index].remaining <= 0 { faults.remove(at: index) }
        return fault
    }
}

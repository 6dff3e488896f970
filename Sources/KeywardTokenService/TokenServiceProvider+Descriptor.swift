import Foundation
import KeywardCore

extension TokenServiceProvider {
    /// A reset grants at most 180 days, and 180 when none is asked (token-service-contract.md,
    /// "Reset semantics").
    public static let secretValidity = SecretValidityRules(defaultDays: 180, maximumDays: 180)
    /// An expired secret still mints entity tokens for 5 days (token-service-contract.md,
    /// "POST /entity/token/generate").
    public static let gracePeriod: Duration = .seconds(5 * 86_400)
    /// An entity access token lives 24 hours (token-service-contract.md,
    /// "POST /entity/token/generate").
    public static let entityTokenLifetime: Duration = .seconds(86_400)

    /// The `token-service` type as the configuration loader checks it: its options
    /// (``TokenServiceOptions``), the validity its resets grant, and what an expired secret
    /// still allows.
    public static let descriptor = ProviderTypeDescriptor(
        type: type, options: TokenServiceOptions.declared,
        validate: { provider, configuration in
            var problems = TokenServiceOptions.parse(provider).problems
            // DESIGN.md, "Followers": a provider whose entities all follow a shared store
            // reads and resets nothing, so it needs no admin user.
            let entities = configuration.entities.values.filter { $0.provider == provider.name }
            if provider.options["username"] == nil, entities.isEmpty || entities.contains(where: { $0.secretSource != .shared }) {
                problems.append(.init(.option("username"), "missing: the admin user's login (an email address); "
                                      + "it may be left out only when every entity of this provider has secretSource: shared"))
            }
            // Asking for more than the service grants is not an error: it answers with its
            // default, and says so.
            for entity in configuration.entities.values.sorted(by: { $0.id < $1.id }) where entity.provider == provider.name {
                if let days = entity.secretExpiryDays, let maximum = secretValidity.maximumDays, days > maximum {
                    problems.append(.init(.entity(entity.id, key: "secretExpiryDays"),
                                          "\(days) is above the token service's maximum of \(maximum); the service will apply its default (\(secretValidity.defaultDays ?? maximum) days)",
                                          severity: .warning))
                }
            }
            return problems
        },
        settings: { provider in
            guard let options = TokenServiceOptions.parse(provider).options else { return ProviderSettings() }
            return ProviderSettings(callTimeout: options.timeout, credential: options.password,
                                    endpoint: options.baseURL.absoluteString, account: options.username)
        },
        secretValidity: secretValidity,
        expiryNotices: { expiresAt, now in
            let graceEnd = expiresAt.addingTimeInterval(TimeInterval(gracePeriod.components.seconds))
            if graceEnd > now {
                return ["the secret EXPIRED at \(Timestamps.format(expiresAt)); tokens are issued only during the grace period, until \(Timestamps.format(graceEnd)): rotate now"]
            }
            return ["the secret EXPIRED at \(Timestamps.format(expiresAt)) and its grace period ended \(Timestamps.format(graceEnd)): reset it"]
        },
        accessTokenLifetime: entityTokenLifetime)
}

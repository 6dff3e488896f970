import Foundation

/// What a provider type accepts in its `providers.<name>` section beyond `type`, and the rules
/// of its service that the engine needs without knowing the service (DESIGN.md, "Plugins": Core
/// knows no concrete provider; a type's URLs, limits and expiry rules belong to its module).
///
/// The configuration loader parses each declared option to its ``OptionKind`` (reporting the
/// usual "expected …" errors with the key's line), rejects undeclared keys, then runs
/// ``validate`` with the parsed section and the whole configuration.
public struct ProviderTypeDescriptor: Sendable {
    /// The kind of value an option takes; the loader parses it into the matching
    /// ``ConfigurationValue`` case.
    public enum OptionKind: Sendable, Equatable {
        /// A single non-empty scalar: ``ConfigurationValue/string(_:)``.
        case string
        /// A plain whole number: ``ConfigurationValue/integer(_:)``.
        case integer
        /// `true` or `false`: ``ConfigurationValue/boolean(_:)``.
        case boolean
        /// A duration such as `90s`, `15m`, `12h`, `15d`: ``ConfigurationValue/duration(_:)``.
        case duration
        /// A credential reference (`env:`, `file:`, `vault:`; a `file:` path resolved against the
        /// configuration's directory and checked to be private): ``ConfigurationValue/credential(_:)``.
        /// A literal secret is refused without being echoed.
        case credential
        /// A list of scalars (an external plugin's `list` option): ``ConfigurationValue/list(_:)``
        /// of ``ConfigurationValue/string(_:)``.
        case list
    }

    /// One option a section may hold.
    public struct Option: Sendable, Equatable {
        /// The key in the section, camelCase.
        public var name: String
        public var kind: OptionKind

        public init(_ name: String, _ kind: OptionKind) {
            self.name = name
            self.kind = kind
        }
    }

    /// The `type` name in `keyward.yaml`.
    public var type: String
    /// The options, in the order "unknown key" messages list them; `nil` accepts any key and
    /// keeps it unparsed (as a string, list or map), for registrations that check nothing.
    public var options: [Option]?
    /// The type's own rules for a section whose options already have the right kinds (a key
    /// that is required, a URL's form, a limit), and for the entities that use it (the whole
    /// configuration is given, entities included): every problem found, each naming the key it
    /// is about. The loader runs it, so `config check` and every command refuse such a section
    /// before the vault is unlocked or the network called. A problem about a key that failed to
    /// parse is dropped (the parse error already names it).
    public var validate: @Sendable (ProviderConfiguration, KeywardConfiguration) -> [ProviderConfigurationProblem]
    /// What the engine needs from a valid section: call timeout, login credential, and what
    /// `config check` shows.
    public var settings: @Sendable (ProviderConfiguration) -> ProviderSettings
    /// The validity this type's resets grant, for the rotation window of a secret whose real
    /// lifetime the record cannot tell.
    public var secretValidity: SecretValidityRules
    /// Notices for a secret that expired at `expiresAt`, as seen at `now` (what the service
    /// still allows, what to do); shown by `sync`, `token` and `status`.
    public var expiryNotices: @Sendable (_ expiresAt: Date, _ now: Date) -> [String]
    /// How long an entity access token this type mints lives; an entity's `tokenRefreshBefore`
    /// must be shorter. `nil` when it mints none or does not say.
    public var accessTokenLifetime: Duration?

    public init(type: String, options: [Option]?,
                validate: @escaping @Sendable (ProviderConfiguration, KeywardConfiguration) -> [ProviderConfigurationProblem] = { _, _ in [] },
                settings: @escaping @Sendable (ProviderConfiguration) -> ProviderSettings = { _ in ProviderSettings() },
                secretValidity: SecretValidityRules = SecretValidityRules(),
                expiryNotices: @escaping @Sendable (_ expiresAt: Date, _ now: Date) -> [String] = ProviderTypeDescriptor.plainExpiryNotice,
                accessTokenLifetime: Duration? = nil) {
        self.type = type
        self.options = options
        self.validate = validate
        self.settings = settings
        self.secretValidity = secretValidity
        self.expiryNotices = expiryNotices
        self.accessTokenLifetime = accessTokenLifetime
    }

    /// The notice for a type that says nothing about expired secrets: it expired, reset it.
    public static let plainExpiryNotice: @Sendable (Date, Date) -> [String] = { expiresAt, _ in
        ["the secret EXPIRED at \(Timestamps.format(expiresAt)): reset it"]
    }
}

/// A problem (or warning) a provider type finds in its section or in an entity that uses it
/// (``ProviderTypeDescriptor/validate``). The loader turns it into a
/// ``ConfigurationError/Problem`` (or a ``ConfigurationWarning``) with the key path and line.
public struct ProviderConfigurationProblem: Sendable, Equatable {
    /// What the problem is about, so the loader can point at its line.
    public enum Place: Sendable, Equatable {
        /// A key of the provider's section; when the key is absent (a required key missing),
        /// the line is the section's.
        case option(String)
        /// A key of an entity's section (`entities.<id>.<key>`), e.g. a validity the service
        /// will not grant.
        case entity(EntityID, key: String)
        /// The provider's section as a whole.
        case section
    }

    /// An error makes the configuration invalid (exit 2); a warning is shown and loading goes on.
    public enum Severity: Sendable, Equatable {
        case error
        case warning
    }

    public var place: Place
    /// What is wrong and what is expected; never a secret (sections hold references only).
    public var message: String
    public var severity: Severity

    public init(_ place: Place, _ message: String, severity: Severity = .error) {
        self.place = place
        self.message = message
        self.severity = severity
    }
}

/// What the engine uses of a valid provider section, whatever its type
/// (``ProviderTypeDescriptor/settings``).
public struct ProviderSettings: Sendable, Equatable {
    /// How long one call to the provider may take; the engine waits as long for another
    /// process's token mint. Default 10 s.
    public var callTimeout: Duration
    /// The credential the provider signs in with, where `keyward login NAME` stores it when it
    /// is a `vault:` reference; `nil` when the type has none.
    public var credential: CredentialReference?
    /// Where the provider connects, as `config check` shows it (e.g. a base URL).
    public var endpoint: String?
    /// Who it connects as, as `config check` shows it (e.g. a login).
    public var account: String?

    public init(callTimeout: Duration = .seconds(10), credential: CredentialReference? = nil, endpoint: String? = nil, account: String? = nil) {
        self.callTimeout = callTimeout
        self.credential = credential
        self.endpoint = endpoint
        self.account = account
    }
}

/// The validity, in days, a provider type's reset grants (``ProviderTypeDescriptor/secretValidity``).
public struct SecretValidityRules: Sendable, Equatable {
    /// What a reset grants when `secretExpiryDays` is absent; `nil` when unknown.
    public var defaultDays: Int?
    /// The most a reset grants, whatever is asked; `nil` for no limit.
    public var maximumDays: Int?

    public init(defaultDays: Int? = nil, maximumDays: Int? = nil) {
        self.defaultDays = defaultDays
        self.maximumDays = maximumDays
    }

    /// The validity a reset grants when `asked` days are asked for (`nil`: nothing asked).
    public func grantedDays(asked: Int?) -> Int? {
        guard let days = asked ?? defaultDays else { return nil }
        return maximumDays.map { min(days, $0) } ?? days
    }
}

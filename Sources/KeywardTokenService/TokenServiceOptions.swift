import Foundation
import KeywardCore

/// A `type: token-service` provider's options, parsed from its configuration section
/// (DESIGN.md, "Configuration"): where the service is, who signs in, with which password, and
/// how long one call may take.
public struct TokenServiceOptions: Sendable, Equatable {
    /// The section's keys beside `type`, in the order "unknown key" messages list them.
    public static let declared: [ProviderTypeDescriptor.Option] = [
        .init("baseURL", .string), .init("username", .string), .init("password", .credential), .init("timeout", .duration),
    ]
    /// The longest `timeout` accepted: 10 minutes.
    public static let maximumTimeout: Duration = .seconds(600)

    /// The token service base URL, ending in `/iam/v1`: a named environment's, an `https://` URL,
    /// or an `http://` URL on a loopback host.
    public var baseURL: URL
    /// The admin user's login (an email address).
    public var username: String
    /// Where the admin user's password comes from. Default `vault:providers/<name>/password`.
    public var password: CredentialReference
    /// Time allowed for one HTTP call. Default 10 s, at most ``maximumTimeout``.
    public var timeout: Duration

    public init(baseURL: URL, username: String, password: CredentialReference, timeout: Duration = .seconds(10)) {
        self.baseURL = baseURL
        self.username = username
        self.password = password
        self.timeout = timeout
    }

    /// Parses a provider section, as the loader left it (each key parsed to its declared kind).
    ///
    /// - Throws: ``KeywardError`` (usage) with the first problem, for a section the loader did
    ///   not check (one built in code).
    public init(_ configuration: ProviderConfiguration) throws {
        let (options, problems) = Self.parse(configuration)
        guard let options else {
            let first = problems.first { $0.severity == .error }
            let key = first.flatMap { if case .option(let key) = $0.place { ".\(key)" } else { nil } } ?? ""
            throw KeywardError.usage("providers.\(configuration.name)\(key): \(first?.message ?? "invalid")")
        }
        self = options
    }

    /// The options of `configuration`, or the problems that keep it from having them, each
    /// naming its key (the wording `config check` shows).
    public static func parse(_ configuration: ProviderConfiguration) -> (options: TokenServiceOptions?, problems: [ProviderConfigurationProblem]) {
        var problems: [ProviderConfigurationProblem] = []
        let values = configuration.options
        var baseURL: URL?
        if let value = values["baseURL"] {
            if let text = value.stringValue { baseURL = Self.baseURL(text, problems: &problems) }
        } else {
            problems.append(.init(.option("baseURL"), "missing: production, uat, sandbox or a URL ending in /iam/v1"))
        }
        var username: String?
        if let value = values["username"] {
            username = value.stringValue
            if username?.isEmpty == true { problems.append(.init(.option("username"), "must not be empty")) }
        } else {
            // Left out: allowed when every entity of the provider follows a shared store
            // (checked by the descriptor, which sees the entities); never used then.
            username = ""
        }
        let password = values["password"]?.credentialValue ?? .vault(.providerPassword(configuration.name))
        var timeout: Duration = .seconds(10)
        if let value = values["timeout"]?.durationValue {
            if value > maximumTimeout { problems.append(.init(.option("timeout"), "at most 10m")) } else { timeout = value }
        }
        guard problems.isEmpty, let baseURL, let username else { return (nil, problems) }
        return (TokenServiceOptions(baseURL: baseURL, username: username, password: password, timeout: timeout), [])
    }

    /// A `baseURL` value: an environment name, or an `https://` URL (`http://` on loopback)
    /// without credentials, query or fragment, ending in `/iam/v1` (the four calls are appended
    /// to it). A trailing `/` is dropped.
    static func baseURL(_ text: String, problems: inout [ProviderConfigurationProblem]) -> URL? {
        func fail(_ message: String) -> URL? {
            problems.append(.init(.option("baseURL"), message))
            return nil
        }
        if let environment = TokenServiceEnvironment(rawValue: text) { return environment.baseURL }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            return fail("'\(text)' is neither production, uat, sandbox nor a URL")
        }
        switch scheme {
        case "https": break
        case "http":
            guard NetworkRules.isLoopback(host: host) else {
                return fail("plain http:// is allowed only for loopback hosts (127.0.0.0/8, localhost, ::1); use https://")
            }
        default:
            return fail("scheme '\(scheme)' is not supported; use https:// (or http:// on loopback)")
        }
        if url.user != nil || url.password != nil { return fail("must not carry credentials; use username and password") }
        if url.query != nil || url.fragment != nil { return fail("must not have a query or fragment") }
        let trimmed = url.path.hasSuffix("/") ? String(url.path.dropLast()) : url.path
        guard trimmed.hasSuffix("/iam/v1") else {
            return fail("must end in /iam/v1 (the four calls are appended to it), e.g. \(scheme)://\(host)/iam/v1")
        }
        return text.hasSuffix("/") ? URL(string: String(text.dropLast())) : url
    }
}

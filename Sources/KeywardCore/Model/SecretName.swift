/// The name of a vault entry: a path of segments separated by `/`, such as
/// `entities/FIU-EXAMPLE-1/secret` or `providers/uat/password` (DESIGN.md, "What the vault holds").
///
/// Rule: 1 to 512 characters; segments are non-empty, drawn from `[A-Za-z0-9._@+-]`, and are
/// neither `.` nor `..`; no leading or trailing `/`.
public struct SecretName: Sendable, Hashable, Comparable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The full path.
    public let rawValue: String

    /// Returns `nil` when `rawValue` breaks the rule above.
    public init?(_ rawValue: String) {
        guard SecretName.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// For literals in code and tests; traps on an invalid literal.
    public init(stringLiteral value: String) {
        precondition(SecretName.isValid(value), "invalid secret name literal")
        self.rawValue = value
    }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard SecretName.isValid(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid secret name"))
        }
        self.rawValue = raw
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    /// The path's segments.
    public var segments: [Substring] { rawValue.split(separator: "/", omittingEmptySubsequences: false) }

    public static func < (lhs: SecretName, rhs: SecretName) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The rule of this type, for error messages.
    public static let ruleDescription =
        "a path of segments from [A-Za-z0-9._@+-] separated by '/', at most 512 characters, without '.' or '..' segments"

    static func isValid(_ raw: String) -> Bool {
        guard (1...512).contains(raw.unicodeScalars.count) else { return false }
        for segment in raw.split(separator: "/", omittingEmptySubsequences: false) {
            guard !segment.isEmpty, segment != ".", segment != ".." else { return false }
            let ok = segment.unicodeScalars.allSatisfy {
                $0.isASCIIAlphanumeric || $0 == "." || $0 == "_" || $0 == "@" || $0 == "+" || $0 == "-"
            }
            guard ok else { return false }
        }
        return true
    }

    /// `entities/<ID>/secret`: the entity secret, with `current`, `previous` and `pending` versions.
    public static func entitySecret(_ id: EntityID) -> SecretName { SecretName(entity: id, "secret") }
    /// `entities/<ID>/token`: the last entity access token, with its expiry.
    public static func entityToken(_ id: EntityID) -> SecretName { SecretName(entity: id, "token") }
    /// `providers/<NAME>/password`: where `keyward login NAME` keeps the admin user's password.
    public static func providerPassword(_ provider: String) -> SecretName { SecretName(unchecked: "providers/\(provider)/password") }
    /// `providers/<NAME>/user-token`: the cached user access token, with its expiry.
    public static func providerUserToken(_ provider: String) -> SecretName { SecretName(unchecked: "providers/\(provider)/user-token") }

    private init(unchecked: String) {
        precondition(SecretName.isValid(unchecked), "derived secret name breaks the rule")
        self.rawValue = unchecked
    }

    /// `entities/<ID>/<leaf>` without checking the rule again at run time: an ``EntityID``
    /// (1 to 128 of `[A-Za-z0-9._@-]`, starting with a letter or digit) is always a valid
    /// segment, never `.` or `..`, so the result always obeys it. An export names two entries
    /// per entity, and checking each again was a measurable part of exporting thousands.
    private init(entity id: EntityID, _ leaf: StaticString) {
        self.rawValue = "entities/" + id.rawValue + "/" + leaf.description
        assert(SecretName.isValid(rawValue), "derived secret name breaks the rule")
    }
}

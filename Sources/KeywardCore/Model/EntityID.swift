/// The identifier of an Account Aggregator ecosystem member (an FIU, FIP or AA) as registered
/// with the central registry, e.g. `FIU-EXAMPLE-1`.
///
/// Allowed: 1 to 128 characters from `[A-Za-z0-9._@-]`, starting with a letter or digit. The
/// rule keeps an id safe in vault entry names (`entities/<ID>/secret`), lock file names and
/// environment variable names derived from it.
public struct EntityID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The id exactly as registered.
    public let rawValue: String

    /// Returns `nil` when `rawValue` breaks the rule above.
    public init?(_ rawValue: String) {
        guard EntityID.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// For literals in code and tests; traps on an invalid literal.
    public init(stringLiteral value: String) {
        precondition(EntityID.isValid(value), "invalid entity id literal")
        self.rawValue = value
    }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard EntityID.isValid(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid entity id"))
        }
        self.rawValue = raw
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    public static func < (lhs: EntityID, rhs: EntityID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The rule of this type, for error messages.
    public static let ruleDescription = "1 to 128 characters from [A-Za-z0-9._@-], starting with a letter or digit"

    static func isValid(_ raw: String) -> Bool {
        let scalars = raw.unicodeScalars
        guard (1...128).contains(scalars.count), let first = scalars.first, first.isASCIIAlphanumeric else {
            return false
        }
        return scalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "." || $0 == "_" || $0 == "@" || $0 == "-" }
    }

    /// The id upper-cased with each run of characters outside `[A-Z0-9]` replaced by `_`
    /// (DESIGN.md, "Configuration": `FIU-EXAMPLE-1` gives `FIU_EXAMPLE_1`), the prefix of
    /// default key names.
    public var environmentPrefix: String {
        var result = ""
        var lastWasSeparator = false
        for scalar in rawValue.uppercased().unicodeScalars {
            if scalar.isASCIIAlphanumeric {
                result.unicodeScalars.append(scalar)
                lastWasSeparator = false
            } else if !lastWasSeparator {
                result += "_"
                lastWasSeparator = true
            }
        }
        return result
    }
}

extension Unicode.Scalar {
    var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}

/// A seed that cannot be used: bad YAML, an unknown or missing field, a bad duration, a user
/// naming an entity the seed does not define, a duplicate id.
///
/// `description` names the field and, when known, its line (1-based). It never quotes a
/// password or a secret.
public struct SimulatorSeedError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The dotted path of the field at fault, e.g. `entities[1].expiresIn`; empty for the document.
    public var field: String
    /// The 1-based line of the field in the YAML text, when known.
    public var line: Int?
    /// What is wrong, one sentence without the offending value when that value may be secret.
    public var reason: String

    public init(field: String, line: Int?, reason: String) {
        self.field = field
        self.line = line
        self.reason = reason
    }

    public var description: String {
        var text = field.isEmpty ? "seed" : "seed field \(field)"
        if let line { text += " (line \(line))" }
        return text + ": " + reason
    }
}

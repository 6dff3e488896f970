/// A problem in `keyward.yaml`, naming the file, the line and column, and the key.
///
/// Category ``FailureCategory/usage`` (exit 2). The text never repeats a value that could be a
/// secret: a literal password is reported as "must be a reference", not echoed.
public struct ConfigurationError: CategorizedError, Sendable {
    /// One problem at one place in the file.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The dotted path of the key, e.g. `entities.FIU-EXAMPLE-1.rotateBefore`.
        public var keyPath: String
        /// 1-based line of the key (or of the value, when the value is at fault), if known.
        public var line: Int?
        /// 1-based column, if known.
        public var column: Int?
        /// What is wrong and what is expected.
        public var message: String

        public init(keyPath: String, line: Int?, column: Int?, message: String) {
            self.keyPath = keyPath
            self.line = line
            self.column = column
            self.message = message
        }

        public var description: String {
            let place = line.map { "line \($0)" + (column.map { ", column \($0)" } ?? "") }
            let key = keyPath.isEmpty ? "" : "\(keyPath): "
            return [place, "\(key)\(message)"].compactMap { $0 }.joined(separator: ": ")
        }
    }

    /// The configuration file, as given (absent for configuration built from a string).
    public var file: String?
    /// Every problem found, in file order.
    public var problems: [Problem]

    public var category: FailureCategory { .usage }

    public init(file: String?, problems: [Problem]) {
        self.file = file
        self.problems = problems
    }

    public var description: String {
        let prefix = file.map { "\($0): " } ?? ""
        if problems.count == 1 { return "configuration error: \(prefix)\(problems[0])" }
        return "configuration has \(problems.count) errors:\n"
            + problems.map { "  \(prefix)\($0)" }.joined(separator: "\n")
    }
}

/// Something in `keyward.yaml` that works but is probably not what the user meant, such as a
/// `secretExpiryDays` above what the provider grants (its type's descriptor says so). Shown on
/// stderr; never fatal.
public struct ConfigurationWarning: Sendable, Equatable, CustomStringConvertible {
    public var keyPath: String
    public var line: Int?
    public var message: String

    public var description: String {
        (line.map { "line \($0): " } ?? "") + "\(keyPath): \(message)"
    }
}

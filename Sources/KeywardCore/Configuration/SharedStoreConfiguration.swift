import Foundation

/// The `shared:` section (DESIGN.md, "Beyond one machine"), as written: its `type` and its other
/// keys, each with its line. The module that registers the type (KeywardOpenBao for `openbao`)
/// validates the options and builds the store.
public struct SharedStoreConfiguration: Sendable, Equatable {
    /// `type:` (`openbao`).
    public var type: String
    /// Every key but `type`, as YAML gave it (strings, integers, booleans, lists, maps).
    public var options: [String: ConfigurationValue]
    /// The line of each key in ``options``; a nested map's keys as `auth.token`.
    public var optionLines: [String: Int]
    /// The line of `shared:`.
    public var line: Int?
    /// The configuration file's directory (relative `caFile` and `file:` paths resolve against it).
    public var directory: String
    /// The least lease a holder needs left, after advancing it to `sent`, to send a reset: the
    /// longest provider `timeout` plus 5 s (DESIGN.md, "Fencing the reset"); set by the loader,
    /// so a type can refuse a lease too short to ever reset. `nil` when not known.
    public var resetMargin: Duration?

    public init(type: String, options: [String: ConfigurationValue], optionLines: [String: Int] = [:], line: Int? = nil, directory: String) {
        self.type = type
        self.options = options
        self.optionLines = optionLines
        self.line = line
        self.directory = directory
    }
}

/// What a shared store type accepts in its `shared:` section, and its rules.
public struct SharedStoreTypeDescriptor: Sendable {
    /// A problem the type's rules found: the key path below `shared` (`auth.token`, or `""` for
    /// the section) and what is wrong.
    public struct Problem: Sendable, Equatable {
        public var key: String
        public var message: String

        public init(key: String, message: String) {
            self.key = key
            self.message = message
        }
    }

    /// The `type:` name (`openbao`).
    public var type: String
    /// Checks the whole section; every problem is reported on its key's line.
    public var validate: @Sendable (SharedStoreConfiguration) -> [Problem]

    public init(type: String, validate: @escaping @Sendable (SharedStoreConfiguration) -> [Problem]) {
        self.type = type
        self.validate = validate
    }
}

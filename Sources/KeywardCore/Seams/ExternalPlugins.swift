import Foundation

/// The two kinds of plugin a configuration uses (DESIGN.md, "Plugins").
public enum PluginKind: String, Sendable, Codable, CaseIterable {
    case sink
    case provider

    /// Whether `type` can name a plugin found on `PATH` as `keyward-KIND-TYPE`:
    /// `[a-z0-9][a-z0-9-]*` (DESIGN.md, "Plugins"). No `/`, so a lookup never leaves the `PATH`
    /// directory (`a/../../x` would run a file outside every one).
    public static func isTypeName(_ type: String) -> Bool {
        guard let first = type.unicodeScalars.first, first != "-" else { return false }
        return type.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }
}

/// What an external plugin says of itself in its `describe` answer (DESIGN.md, "Plugins",
/// protocol 1): its kind, name, protocols, capabilities and options.
public struct ExternalPluginDescription: Sendable, Equatable {
    /// One option the plugin accepts in its configuration entry.
    public struct Option: Sendable, Equatable {
        /// `string`, `integer`, `boolean`, `duration`, `list` or `secret` (a credential
        /// reference Keyward resolves and sends as the value: ``ProviderTypeDescriptor/OptionKind/credential``).
        public var kind: ProviderTypeDescriptor.OptionKind
        /// A required option missing from the entry is a configuration error (exit 2).
        public var required: Bool

        public init(kind: ProviderTypeDescriptor.OptionKind, required: Bool) {
            self.kind = kind
            self.required = required
        }

        /// The option types of protocol 1 by their `type` name in a `describe` answer, in the
        /// order messages list them (DESIGN.md, "Plugins"): `secret` is a credential reference.
        public static let typeNames: [(name: String, kind: ProviderTypeDescriptor.OptionKind)] = [
            ("string", .string), ("integer", .integer), ("boolean", .boolean), ("duration", .duration), ("list", .list), ("secret", .credential),
        ]

        /// The kind of a protocol-1 `type` name, or `nil` for a name protocol 1 does not have.
        public static func kind(named name: String) -> ProviderTypeDescriptor.OptionKind? {
            typeNames.first { $0.name == name }?.kind
        }

        /// The protocol-1 `type` name of a kind.
        public static func typeName(of kind: ProviderTypeDescriptor.OptionKind) -> String {
            typeNames.first { $0.kind == kind }?.name ?? "string"
        }
    }

    public var kind: PluginKind
    /// The name the plugin gives itself (for messages; the configuration's `type` is what matches).
    public var name: String
    /// The protocol versions it speaks; Keyward speaks 1.
    public var protocols: [Int]
    /// Sinks: `write` (required), `read`. Providers: `fetch` (required), `reset`, `token`.
    public var capabilities: [String]
    /// Its own options by name (never one of the common keys).
    public var options: [String: Option]

    public init(kind: PluginKind, name: String, protocols: [Int], capabilities: [String], options: [String: Option]) {
        self.kind = kind
        self.name = name
        self.protocols = protocols
        self.capabilities = capabilities
        self.options = options
    }

    /// Whether the plugin claims `capability` (e.g. `reset`).
    public func has(_ capability: String) -> Bool { capabilities.contains(capability) }
}

/// An external plugin as a configuration entry uses it: the resolved command, the common keys
/// and the plugin's `describe` answer (DESIGN.md, "Plugins").
public struct ExternalPluginReference: Sendable, Equatable {
    /// The default `timeout` of one call: 30 s (DESIGN.md, "Plugins").
    public static let defaultTimeout: Duration = .seconds(30)

    public var kind: PluginKind
    /// The entry's `type` as written: `external`, or NAME for `keyward-sink-NAME` /
    /// `keyward-provider-NAME` found on `PATH`.
    public var type: String
    /// The argv of every call; `command[0]` is the executable's resolved absolute path.
    public var command: [String]
    /// `timeout`: how long one call may run before its process group gets SIGTERM (SIGKILL 5 s later).
    public var timeout: Duration
    /// `env`: the names of the variables passed from Keyward's environment besides the fixed
    /// ones (never a `KEYWARD_*` variable).
    public var environmentNames: [String]
    /// The plugin's `describe` answer.
    public var description: ExternalPluginDescription

    public init(kind: PluginKind, type: String, command: [String], timeout: Duration = ExternalPluginReference.defaultTimeout,
                environmentNames: [String] = [], description: ExternalPluginDescription) {
        self.kind = kind
        self.type = type
        self.command = command
        self.timeout = timeout
        self.environmentNames = environmentNames
        self.description = description
    }
}

/// Why an external plugin could not be used at configuration load (exit 2).
public enum ExternalPluginLookupError: Error, Sendable, Equatable {
    /// No executable `executable` (`keyward-sink-NAME`, `keyward-provider-NAME`) in the
    /// directories of `PATH` that were searched, in order.
    case notFound(executable: String, searched: [String])
    /// Found but not usable: not executable, writable by group or others (it or its
    /// directory), its `describe` failed or answered what protocol 1 does not allow. The
    /// message names the plugin's path and what was wrong.
    case unusable(String)
}

/// Resolves and builds external plugins (protocol 1); KeywardExternal implements it and the
/// composition root sets it as ``PluginRegistry/externalPlugins``. Core knows no process or
/// protocol detail: the loader asks this seam to resolve a `type: external` entry or a `type`
/// no built-in plugin claims, and the registry asks it to build one.
public protocol ExternalPluginResolving: Sendable {
    /// Finds the executable and calls its `describe` (answers cached by the executable's path,
    /// size and modification time).
    ///
    /// - Parameters:
    ///   - kind: sink or provider.
    ///   - type: the entry's `type` (`external`, or the NAME to find as `keyward-KIND-NAME`).
    ///   - command: the entry's `command` for `type: external` (argv; `command[0]` a path,
    ///     resolved against `directory` when relative, or a name looked up on `PATH`); `nil`
    ///     for a type found on `PATH`.
    ///   - directory: the configuration file's directory (plugins run there).
    ///   - environment: Keyward's environment (`PATH` is searched).
    ///   - timeout: the entry's `timeout`, which bounds the `describe` call too.
    /// - Returns: the argv every call uses (`[0]` resolved to an absolute path) and the answer.
    /// - Throws: ``ExternalPluginLookupError``.
    func resolve(kind: PluginKind, type: String, command: [String]?, directory: String,
                 environment: [String: String], timeout: Duration) throws(ExternalPluginLookupError) -> (command: [String], description: ExternalPluginDescription)

    /// Builds the sink of a `sinks.<name>` entry resolved at load (``SinkConfiguration/external``).
    func makeSink(_ configuration: SinkConfiguration, reference: ExternalPluginReference, environment: PluginEnvironment) throws -> any SecretSink

    /// Builds the provider of a `providers.<name>` entry resolved at load
    /// (``ProviderConfiguration/external``): a ``SecretRotator`` when it claims `reset`, an
    /// ``AccessTokenIssuer`` when it claims `token`.
    func makeProvider(_ configuration: ProviderConfiguration, reference: ExternalPluginReference, environment: PluginEnvironment) throws -> any SecretProvider
}

extension ExternalPluginResolving {
    /// ``resolve(kind:type:command:directory:environment:timeout:)`` with the default 30 s
    /// timeout (``ExternalPluginReference/defaultTimeout``).
    public func resolve(kind: PluginKind, type: String, command: [String]?, directory: String,
                        environment: [String: String]) throws(ExternalPluginLookupError) -> (command: [String], description: ExternalPluginDescription) {
        try resolve(kind: kind, type: type, command: command, directory: directory, environment: environment,
                    timeout: ExternalPluginReference.defaultTimeout)
    }
}

import Foundation
import KeywardCore
import KeywardTesting
import Testing

/// A resolver that knows a fixed set of plugins by executable name (`keyward-sink-NAME`, or a
/// `type: external` command's first word), and records what it was asked.
private struct FakeResolver: ExternalPluginResolving {
    var plugins: [String: ExternalPluginDescription] = [:]
    var unusable: [String: String] = [:]
    let asked = Asked()

    final class Asked: @unchecked Sendable {
        private let lock = NSLock()
        private var calls: [(type: String, command: [String]?, directory: String, timeout: Duration)] = []
        func append(_ call: (type: String, command: [String]?, directory: String, timeout: Duration)) { lock.withLock { calls.append(call) } }
        var all: [(type: String, command: [String]?, directory: String, timeout: Duration)] { lock.withLock { calls } }
    }

    func resolve(kind: PluginKind, type: String, command: [String]?, directory: String, environment: [String: String],
                 timeout: Duration) throws(ExternalPluginLookupError) -> (command: [String], description: ExternalPluginDescription) {
        asked.append((type, command, directory, timeout))
        let name = type == "external" ? (command?.first ?? "") : "keyward-\(kind.rawValue)-\(type)"
        if let message = unusable[name] { throw .unusable(message) }
        guard let description = plugins[name] else { throw .notFound(executable: name, searched: ["/usr/local/bin", "/usr/bin"]) }
        return (["/plugins/\((name as NSString).lastPathComponent)"] + (command?.dropFirst() ?? []), description)
    }

    func makeSink(_ configuration: SinkConfiguration, reference: ExternalPluginReference, environment: PluginEnvironment) throws -> any SecretSink {
        throw KeywardError.usage("not in these tests")
    }

    func makeProvider(_ configuration: ProviderConfiguration, reference: ExternalPluginReference, environment: PluginEnvironment) throws -> any SecretProvider {
        throw KeywardError.usage("not in these tests")
    }
}

private let s3Sink = ExternalPluginDescription(kind: .sink, name: "s3", protocols: [1], capabilities: ["write", "read"], options: [
    "bucket": .init(kind: .string, required: true),
    "retries": .init(kind: .integer, required: false),
    "pause": .init(kind: .duration, required: false),
    "tags": .init(kind: .list, required: false),
    "apiKey": .init(kind: .credential, required: false),
])
private let fileProvider = ExternalPluginDescription(kind: .provider, name: "filestore", protocols: [1], capabilities: ["fetch", "reset"], options: [
    "store": .init(kind: .string, required: true),
    "password": .init(kind: .credential, required: false),
])
private let tokenProvider = ExternalPluginDescription(kind: .provider, name: "minter", protocols: [1], capabilities: ["fetch", "token"], options: [:])

private func loader(_ resolver: FakeResolver = FakeResolver(plugins: [
    "keyward-sink-s3": s3Sink, "./bin/my-sink": s3Sink, "keyward-provider-filestore": fileProvider, "keyward-provider-minter": tokenProvider,
    "keyward-sink-provider-as-sink": fileProvider,
])) -> (ConfigurationLoader, FakeResolver) {
    var registry = recordingRegistry()
    registry.externalPlugins = resolver
    return (ConfigurationLoader(registry: registry, environment: ["HOME": "/home/u", "PATH": "/usr/local/bin:/usr/bin"]), resolver)
}

/// Providers `uat` (token service) and `files` (external, no token), entities FIU-1 (uat) and
/// FIU-2 (files); line 11 is the last.
private let base = """
    version: 1
    providers:
      uat:
        baseURL: uat
        username: ops@example.com
      files:
        type: filestore
        store: /srv/store
    entities:
      FIU-1: {provider: uat}
      FIU-2: {provider: files}

    """

private func problems(_ yaml: String) throws -> [String] {
    let error = try #require(throws: ConfigurationError.self) { try loader().0.parse(yaml: yaml, file: "keyward.yaml", directory: "/srv") }
    #expect(error.category == .usage)
    return error.problems.map(line)
}

/// A problem as `line N: key.path: message` (without the column).
private func line(_ problem: ConfigurationError.Problem) -> String {
    "line \(problem.line ?? 0): \(problem.keyPath): \(problem.message)"
}

@Suite("external plugins in keyward.yaml")
struct ExternalPluginLoaderTests {
    @Test("a sink found on PATH and a type: external sink load with their options, timeout and env")
    func loads() throws {
        let (loader, resolver) = loader()
        let yaml = base + """
            sinks:
              bucket:
                type: s3
                bucket: payments
                retries: 3
                pause: 2s
                tags: [a, b]
                apiKey: env:S3_KEY
                entities: [FIU-1]
                timeout: 5s
                env: [AWS_PROFILE, AWS_REGION]
              mine:
                type: external
                command: [./bin/my-sink, --verbose]
                bucket: other
                entities: [FIU-2]
                onChange: [true]
            """
        let configuration = try loader.parse(yaml: yaml, directory: "/srv")
        let bucket = try #require(configuration.sinks["bucket"])
        #expect(bucket.type == "s3")
        #expect(bucket.path == nil)
        #expect(bucket.options == ["bucket": .string("payments"), "retries": .integer(3), "pause": .duration(.seconds(2)),
                                   "tags": .list([.string("a"), .string("b")]), "apiKey": .credential(.environment("S3_KEY"))])
        #expect(bucket.external == ExternalPluginReference(kind: .sink, type: "s3", command: ["/plugins/keyward-sink-s3"], timeout: .seconds(5),
                                                           environmentNames: ["AWS_PROFILE", "AWS_REGION"], description: s3Sink))
        let mine = try #require(configuration.sinks["mine"])
        #expect(mine.external?.command == ["/plugins/my-sink", "--verbose"])
        #expect(mine.external?.timeout == .seconds(30))
        #expect(mine.onChange == ["true"])
        let provider = try #require(configuration.providers["files"])
        #expect(provider.external?.description == fileProvider)
        #expect(provider.options == ["store": .string("/srv/store")])
        #expect(provider.optionLines == ["store": 8])
        #expect(provider.directory == "/srv")  // where an external provider runs (wtB)
        #expect(bucket.directory == "/srv")
        #expect(loader.registry.providerSettings(provider).callTimeout == .seconds(30))
        #expect(resolver.asked.all.map(\.type) == ["filestore", "s3", "external"])
        #expect(resolver.asked.all.map(\.directory) == ["/srv", "/srv", "/srv"])
        #expect(resolver.asked.all[1].timeout == .seconds(5))
        #expect(resolver.asked.all[2].command == ["./bin/my-sink", "--verbose"])
    }

    @Test("a type no plugin answers names the executable and where it looked; near a built-in name, a likely typo")
    func notFound() throws {
        #expect(try problems(base + "sinks:\n  env:\n    type: recordign\n    path: a.env\n    entities: [FIU-1]\n") == [
            "line 14: sinks.env.type: sink type 'recordign' is not provided by this build, and no keyward-sink-recordign was found on PATH (searched: /usr/local/bin, /usr/bin); did you mean 'recording'?",
        ])
        #expect(try problems(base + "sinks:\n  env:\n    type: vault\n    entities: [FIU-1]\n") == [
            "line 14: sinks.env.type: sink type 'vault' is not provided by this build, and no keyward-sink-vault was found on PATH (searched: /usr/local/bin, /usr/bin)",
        ])
        #expect(try problems(base.replacingOccurrences(of: "type: filestore", with: "type: token-servise")) == [
            "line 7: providers.files.type: provider type 'token-servise' is not provided by this build, and no keyward-provider-token-servise was found on PATH (searched: /usr/local/bin, /usr/bin); did you mean 'token-service'?",
        ])
    }

    @Test("a type that could leave the PATH directory (a '/', '..', upper case) is refused before any lookup")
    func typeNames() throws {
        for type in ["a/../../evil", "../x", "Dotenv", "-x", "s3 bucket", "\"\""] {
            #expect(try problems(base + "sinks:\n  env:\n    type: \(type)\n    entities: [FIU-1]\n").first?
                .hasPrefix("line 14: sinks.env.type: '") == true, "\(type)")
        }
        #expect(try problems(base + "sinks:\n  env:\n    type: Recording\n    entities: [FIU-1]\n") == [
            "line 14: sinks.env.type: 'Recording' is not a plugin type name (lower-case letters, digits and '-', starting with a letter or digit): it names keyward-sink-TYPE on PATH; did you mean 'recording'?",
        ])
    }

    @Test("an unusable plugin's message stands at its type line, or its command line for type: external")
    func unusable() throws {
        var resolver = FakeResolver()
        resolver.unusable = ["keyward-sink-bad": "/x/keyward-sink-bad is not executable: run `chmod u+x /x/keyward-sink-bad`",
                             "./bad": "/srv/bad: describe failed: answered protocol 2"]
        let (loader, _) = loader(resolver)
        let yaml = "version: 1\nproviders: {}\nsinks:\n  a:\n    type: bad\n    entities: []\n  b:\n    type: external\n    command:\n      - ./bad\n"
        let error = try #require(throws: ConfigurationError.self) { try loader.parse(yaml: yaml, directory: "/srv") }
        #expect(error.problems.map(line) == [
            "line 5: sinks.a.type: /x/keyward-sink-bad is not executable: run `chmod u+x /x/keyward-sink-bad`",
            "line 6: sinks.a.entities: must list at least one entity",
            "line 8: sinks.b.entities: missing: the entities this sink receives",
            "line 10: sinks.b.command: /srv/bad: describe failed: answered protocol 2",
        ])
    }

    @Test("unknown keys, missing required options, options of the wrong kind and literal secrets are refused at their lines")
    func options() throws {
        let yaml = base + """
            sinks:
              bucket:
                type: s3
                entities: [FIU-1]
                retries: many
                tags: one
                apiKey: hunter2-literal
                region: eu
                mode: "0600"
            """
        let found = try problems(yaml)
        #expect(found == [
            "line 13: sinks.bucket.bucket: missing: the plugin /plugins/keyward-sink-s3 requires it",
            "line 16: sinks.bucket.retries: expected a whole number",
            "line 17: sinks.bucket.tags: expected a list, e.g. [a, b]",
            "line 18: sinks.bucket.apiKey: must be \(CredentialReference.formDescription); a literal password is not accepted in the configuration",
            "line 19: sinks.bucket.region: unknown key (known keys: type, command, timeout, env, entities, keys, onChange, onChangeTimeout, apiKey, bucket, pause, retries, tags, mode)",
            "line 20: sinks.bucket.mode: an external sink writes no file of Keyward's, so mode has no meaning here (the plugin decides how what it writes is kept)",
        ])
        #expect(!found.joined().contains("hunter2"))
    }

    @Test("command, timeout and env are checked: env may not name KEYWARD_* variables")
    func commonKeys() throws {
        let yaml = base + """
            sinks:
              a:
                type: s3
                command: [./x]
                bucket: b
                entities: [FIU-1]
                timeout: 2h
                env: [KEYWARD_PASSPHRASE, 1BAD, OK, OK]
              b:
                type: external
                bucket: b
                entities: [FIU-1]
              c:
                type: external
                command: "./bin/my-sink --flag"
                entities: [FIU-1]
            """
        #expect(try problems(yaml) == [
            "line 15: sinks.a.command: only a `type: external` entry takes a command; type 's3' runs keyward-sink-s3 found on PATH",
            "line 18: sinks.a.timeout: expected between 1s and 1h",
            "line 19: sinks.a.env: env: may not name Keyward's own KEYWARD_* variables",
            "line 19: sinks.a.env: '1BAD' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
            "line 19: sinks.a.env: 'OK' is listed twice",
            "line 20: sinks.b.command: missing: a `type: external` entry needs `command:`, the plugin as a list (argv form, no shell), e.g. [./plugins/my-plugin]",
            "line 26: sinks.c.command: expected a command as a non-empty list (argv form, no shell), e.g. [./plugins/my-plugin, --flag]",
        ])
    }

    @Test("a provider plugin used as a sink is refused at its type line")
    func wrongKind() throws {
        #expect(try problems(base + "sinks:\n  a:\n    type: provider-as-sink\n    entities: [FIU-1]\n") == [
            "line 14: sinks.a.type: /plugins/keyward-sink-provider-as-sink is a provider plugin (its describe says so), not a sink",
        ])
    }

    @Test("{entity.token} for an entity whose external provider has no token capability names the sink key")
    func tokenTemplates() throws {
        #expect(try problems(base + "sinks:\n  a:\n    type: recording\n    path: a.env\n    entities: [FIU-2]\n    keys:\n      S: \"{entity.secret}\"\n      T: \"Bearer {entity.token}\"\n      E: \"{entity.tokenExpiresAt}\"\n") == [
            "line 19: sinks.a.keys.T: {entity.token}: entity 'FIU-2' has no entity access token (its provider 'files', /plugins/keyward-provider-filestore, does not claim the `token` capability)",
            "line 20: sinks.a.keys.E: {entity.tokenExpiresAt}: entity 'FIU-2' has no entity access token (its provider 'files', /plugins/keyward-provider-filestore, does not claim the `token` capability)",
        ])
        // A provider plugin that claims `token` mints them.
        let yaml = base.replacingOccurrences(of: "type: filestore\n    store: /srv/store", with: "type: minter")
            + "sinks:\n  a:\n    type: recording\n    path: a.env\n    entities: [FIU-2]\n    keys:\n      T: \"{entity.token}\"\n"
        #expect(try loader().0.parse(yaml: yaml, directory: "/srv").sinks["a"] != nil)
    }

    @Test("default key names leave out the token keys for an entity whose provider mints none")
    func defaultKeysWithoutToken() throws {
        let id = try #require(EntityID("FIU-2"))
        let secret = SecretRecord(value: SecretValue(utf8: "s"), version: 1, createdAt: Date(timeIntervalSince1970: 0), source: "files")
        let pairs = try SinkKeys.pairs(for: [EntityMaterial(id: id, secret: secret, token: nil, mintsTokens: false)], keys: nil)
        #expect(pairs.map(\.key) == ["FIU_2_ENTITY_ID", "FIU_2_SECRET", "FIU_2_SECRET_EXPIRES_AT"])
        #expect(throws: KeywardError.self) { try SinkKeys.pairs(for: [EntityMaterial(id: id, secret: secret, token: nil)], keys: nil) }
    }

    @Test("without a resolver, an unknown type is still only 'not provided by this build'")
    func noResolver() throws {
        let error = try #require(throws: ConfigurationError.self) {
            try ConfigurationLoader(registry: recordingRegistry()).parse(yaml: base, directory: "/srv")
        }
        #expect(error.problems.first?.message.hasPrefix("provider type 'filestore' is not provided by this build") == true)
    }
}

import Foundation
import KeywardCore
import KeywardTesting
import KeywardTokenService
import Testing

/// A registry with a `token-service` provider (its real rules) that serves nothing and the
/// `recording` sink: what the Core configuration tests load against.
func recordingRegistry() -> PluginRegistry {
    var registry = PluginRegistry()
    registry.registerProvider(TokenServiceProvider.descriptor, isDefault: true) { configuration, _ in StaticProvider(name: configuration.name, secrets: [:]) }
    RecordingSink.register(in: &registry)
    return registry
}

private let registry = recordingRegistry()

private let validYAML = """
    version: 1
    vault:
      path: .keyward/vault.db
      retention: 12
    providers:
      uat:
        type: token-service
        baseURL: uat
        username: ops@example.com
        timeout: 15s
      local:
        baseURL: http://127.0.0.1:8080/iam/v1
        username: ops@example.com
        password: env:SIM_PASSWORD
    entities:
      FIU-EXAMPLE-1:
        provider: uat
        secretExpiryDays: 90
        rotateBefore: 15d
        tokenRefreshBefore: 10m
      FIU-EXAMPLE-2:
        provider: local
    sinks:
      app-env:
        type: recording
        path: deploy/app.env
        entities: [FIU-EXAMPLE-1]
        onChange: [systemctl, reload, payments-api]
        flavour: fancy
        keys:
          AA_CLIENT_ID: "{entity.id}"
          AA_CLIENT_SECRET: "{entity.secret}"
          AA_AUTH: "Bearer {entity.token}"
      both:
        type: recording
        path: /tmp/both.env
        entities: [FIU-EXAMPLE-1, FIU-EXAMPLE-2]
    """

@Suite("keyward.yaml loading")
struct ConfigurationLoaderTests {
    let loader = ConfigurationLoader(registry: registry)

    @Test("vault.auditRetention: 90 days when absent, else the duration given")
    func auditRetention() throws {
        let absent = try loader.parse(yaml: validYAML, file: "keyward.yaml", directory: "/srv/app")
        #expect(absent.vault.auditRetention == .seconds(90 * 86_400))
        let given = try loader.parse(yaml: validYAML.replacingOccurrences(of: "  retention: 12\n", with: "  retention: 12\n  auditRetention: 400d\n"),
                                     file: "keyward.yaml", directory: "/srv/app")
        #expect(given.vault.auditRetention == .seconds(400 * 86_400))
    }

    @Test("a complete configuration loads with defaults and resolved paths")
    func loadsValidConfiguration() throws {
        let configuration = try loader.parse(yaml: validYAML, file: "keyward.yaml", directory: "/srv/app")
        #expect(configuration.vault.path == "/srv/app/.keyward/vault.db")
        #expect(configuration.vault.retention == 12)
        let uat = try #require(configuration.providers["uat"])
        let uatOptions = try TokenServiceOptions(uat)
        #expect(uatOptions.baseURL.absoluteString == "https://api.uat.sahamati.org.in/iam/v1")
        #expect(uatOptions.password == .vault("providers/uat/password"))
        #expect(uatOptions.timeout == .seconds(15))
        let local = try TokenServiceOptions(#require(configuration.providers["local"]))
        #expect(local.password == .environment("SIM_PASSWORD"))
        #expect(local.timeout == .seconds(10))
        let first = try #require(configuration.entities["FIU-EXAMPLE-1"])
        #expect(first.secretExpiryDays == 90)
        #expect(first.rotateBefore == .seconds(15 * 86_400))
        #expect(first.tokenRefreshBefore == .seconds(600))
        let second = try #require(configuration.entities["FIU-EXAMPLE-2"])
        #expect(second.secretExpiryDays == nil)
        #expect(second.rotateBefore == .seconds(15 * 86_400))
        let sink = try #require(configuration.sinks["app-env"])
        #expect(sink.path == "/srv/app/deploy/app.env")
        #expect(sink.onChange == ["systemctl", "reload", "payments-api"])
        #expect(sink.options["flavour"] == .string("fancy"))
        #expect(sink.mode == 0o600)
        #expect(sink.keys?.map(\.key) == ["AA_CLIENT_ID", "AA_CLIENT_SECRET", "AA_AUTH"])
        #expect(sink.keys?[2].template.parts == [.literal("Bearer "), .placeholder(.token)])
        #expect(configuration.sinks["both"]?.entities == ["FIU-EXAMPLE-1", "FIU-EXAMPLE-2"])
        #expect(configuration.warnings.isEmpty)
    }

    @Test("the only provider is the default for an entity that names none")
    func defaultProvider() throws {
        let yaml = """
            version: 1
            providers:
              sim: {baseURL: "http://localhost:9/iam/v1", username: a@b.c}
            entities:
              FIU-1: {}
            """
        let configuration = try loader.parse(yaml: yaml, directory: "/")
        #expect(configuration.entities["FIU-1"]?.provider == "sim")
    }

    struct BrokenCase: Sendable, CustomTestStringConvertible {
        var label: String
        var yaml: String
        var keyPath: String
        var line: Int
        var fragment: String
        var testDescription: String { label }
    }

    static let base = """
        version: 1
        providers:
          uat:
            baseURL: uat
            username: ops@example.com
        entities:
          FIU-1:
            provider: uat

        """

    static let brokenCases: [BrokenCase] = [
        .init(label: "unknown top-level key", yaml: base + "colour: blue\n", keyPath: "colour", line: 9, fragment: "unknown key"),
        .init(label: "unknown key in an entity, with a suggestion", yaml: base + "    rotatebefore: 15d\n", keyPath: "entities.FIU-1.rotatebefore", line: 9, fragment: "did you mean 'rotateBefore'"),
        .init(label: "snake_case instead of camelCase", yaml: base.replacingOccurrences(of: "baseURL", with: "base_url"), keyPath: "providers.uat.base_url", line: 4, fragment: "unknown key"),
        .init(label: "wrong type: retention as text", yaml: base + "vault:\n  retention: ten\n", keyPath: "vault.retention", line: 10, fragment: "whole number"),
        .init(label: "wrong type: quoted number", yaml: base + "vault:\n  retention: \"10\"\n", keyPath: "vault.retention", line: 10, fragment: "whole number"),
        .init(label: "audit retention without unit", yaml: base + "vault:\n  auditRetention: 90\n", keyPath: "vault.auditRetention", line: 10, fragment: "invalid duration '90'"),
        .init(label: "audit retention under a day", yaml: base + "vault:\n  auditRetention: 12h\n", keyPath: "vault.auditRetention", line: 10, fragment: "must be between 1d and 36500d"),
        .init(label: "bad duration unit", yaml: base + "    rotateBefore: 15x\n", keyPath: "entities.FIU-1.rotateBefore", line: 9, fragment: "invalid duration '15x'"),
        .init(label: "duration without unit", yaml: base + "    tokenRefreshBefore: 600\n", keyPath: "entities.FIU-1.tokenRefreshBefore", line: 9, fragment: "invalid duration"),
        .init(label: "negative duration", yaml: base + "    rotateBefore: -5d\n", keyPath: "entities.FIU-1.rotateBefore", line: 9, fragment: "invalid duration"),
        .init(label: "unknown provider", yaml: base.replacingOccurrences(of: "provider: uat", with: "provider: prod"), keyPath: "entities.FIU-1.provider", line: 8, fragment: "unknown provider 'prod'"),
        .init(label: "unknown placeholder", yaml: base + "sinks:\n  env:\n    type: recording\n    path: a.env\n    entities: [FIU-1]\n    keys:\n      X: \"{entity.secert}\"\n", keyPath: "sinks.env.keys.X", line: 15, fragment: "unknown placeholder {entity.secert}"),
        .init(label: "colliding default key names", yaml: base + "  FIU_1:\n    provider: uat\nsinks:\n  env:\n    type: recording\n    path: a.env\n    entities: [FIU-1, FIU_1]\n", keyPath: "sinks.env.entities", line: 15, fragment: "same default key names"),
        .init(label: "custom keys for two entities", yaml: base + "  FIU-2: {}\nsinks:\n  env:\n    type: recording\n    path: a.env\n    entities: [FIU-1, FIU-2]\n    keys: {S: \"{entity.secret}\"}\n", keyPath: "sinks.env.keys", line: 15, fragment: "would collide"),
        .init(label: "http:// to a non-loopback host", yaml: base.replacingOccurrences(of: "baseURL: uat", with: "baseURL: http://iam.example.com/iam/v1"), keyPath: "providers.uat.baseURL", line: 4, fragment: "only for loopback"),
        .init(label: "http:// to a private address", yaml: base.replacingOccurrences(of: "baseURL: uat", with: "baseURL: http://10.0.0.5/iam/v1"), keyPath: "providers.uat.baseURL", line: 4, fragment: "only for loopback"),
        .init(label: "base URL without /iam/v1", yaml: base.replacingOccurrences(of: "baseURL: uat", with: "baseURL: https://iam.example.com"), keyPath: "providers.uat.baseURL", line: 4, fragment: "must end in /iam/v1"),
        .init(label: "unknown environment name", yaml: base.replacingOccurrences(of: "baseURL: uat", with: "baseURL: staging"), keyPath: "providers.uat.baseURL", line: 4, fragment: "neither production, uat, sandbox"),
        .init(label: "missing vault: reference path", yaml: base.replacingOccurrences(of: "    username: ops@example.com\n", with: "    username: ops@example.com\n    password: \"vault:\"\n"), keyPath: "providers.uat.password", line: 6, fragment: "vault: needs an entry name"),
        .init(label: "vault: reference with '..'", yaml: base.replacingOccurrences(of: "    username: ops@example.com\n", with: "    username: ops@example.com\n    password: vault:providers/../x\n"), keyPath: "providers.uat.password", line: 6, fragment: "vault: needs an entry name"),
        .init(label: "literal password", yaml: base.replacingOccurrences(of: "    username: ops@example.com\n", with: "    username: ops@example.com\n    password: hunter2-literal\n"), keyPath: "providers.uat.password", line: 6, fragment: "literal password is not accepted"),
        .init(label: "env: reference with a bad name", yaml: base.replacingOccurrences(of: "    username: ops@example.com\n", with: "    username: ops@example.com\n    password: env:1BAD\n"), keyPath: "providers.uat.password", line: 6, fragment: "environment variable name"),
        .init(label: "two sinks writing one file", yaml: base + "sinks:\n  a:\n    type: recording\n    path: a.env\n    entities: [FIU-1]\n  b:\n    type: recording\n    path: ./a.env\n    entities: [FIU-1]\n", keyPath: "sinks.b.path", line: 16, fragment: "writes the same file as sink 'a'"),
        .init(label: "sink type not in this build", yaml: base + "sinks:\n  kv:\n    type: openbao-kv\n    entities: [FIU-1]\n", keyPath: "sinks.kv.type", line: 11, fragment: "sink type 'openbao-kv' is not provided by this build"),
        .init(label: "sink for an unknown entity", yaml: base + "sinks:\n  env:\n    type: recording\n    path: a.env\n    entities: [FIU-9]\n", keyPath: "sinks.env.entities", line: 13, fragment: "unknown entity 'FIU-9'"),
        .init(label: "sink option outside its choices", yaml: base + "sinks:\n  env:\n    type: recording\n    path: a.env\n    entities: [FIU-1]\n    flavour: spicy\n", keyPath: "sinks.env.flavour", line: 14, fragment: "'spicy' is not one of plain, fancy"),
        .init(label: "sink option of another type", yaml: base + "sinks:\n  env:\n    type: recording\n    path: a.env\n    entities: [FIU-1]\n    namespace: x\n", keyPath: "sinks.env.namespace", line: 14, fragment: "unknown key"),
        .init(label: "file sink without path", yaml: base + "sinks:\n  env:\n    type: recording\n    entities: [FIU-1]\n", keyPath: "sinks.env.path", line: 11, fragment: "missing"),
        .init(label: "onChange as a shell string", yaml: base + "sinks:\n  env:\n    type: recording\n    path: a.env\n    entities: [FIU-1]\n    onChange: systemctl reload x\n", keyPath: "sinks.env.onChange", line: 14, fragment: "argv form"),
        .init(label: "invalid entity id", yaml: base + "  \"FIU 2\":\n    provider: uat\n", keyPath: "entities.FIU 2", line: 9, fragment: "not a valid entity id"),
        .init(label: "secretExpiryDays of zero", yaml: base + "    secretExpiryDays: 0\n", keyPath: "entities.FIU-1.secretExpiryDays", line: 9, fragment: "positive number of days"),
        .init(label: "secretExpiryDays negative", yaml: base + "    secretExpiryDays: -30\n", keyPath: "entities.FIU-1.secretExpiryDays", line: 9, fragment: "positive number of days"),
        .init(label: "unsupported version", yaml: base.replacingOccurrences(of: "version: 1", with: "version: 2"), keyPath: "version", line: 1, fragment: "unsupported version 2"),
        .init(label: "duplicate key", yaml: base + "  FIU-1:\n    provider: uat\n", keyPath: "FIU-1", line: 7, fragment: "duplicate key"),
        .init(label: "not YAML", yaml: "version: 1\nproviders: [unclosed\n", keyPath: "", line: 3, fragment: "not valid YAML"),
        .init(label: "list where a mapping belongs", yaml: base + "vault: [a, b]\n", keyPath: "vault", line: 9, fragment: "expected a mapping"),
        .init(label: "mode with execute bits", yaml: base + "sinks:\n  env:\n    type: recording\n    path: a.env\n    entities: [FIU-1]\n    mode: \"0755\"\n", keyPath: "sinks.env.mode", line: 14, fragment: "octal file mode"),
        .init(label: "tokenRefreshBefore as long as a token lives", yaml: base + "    tokenRefreshBefore: 24h\n", keyPath: "entities.FIU-1.tokenRefreshBefore", line: 9, fragment: "shorter than an entity token"),
    ]

    @Test("a broken configuration names the key and its line", arguments: brokenCases)
    func brokenConfiguration(_ broken: BrokenCase) throws {
        let error = try #require(throws: ConfigurationError.self) {
            try loader.parse(yaml: broken.yaml, file: "keyward.yaml", directory: "/srv")
        }
        #expect(error.category == .usage)
        let problem = try #require(error.problems.first { $0.keyPath == broken.keyPath }, "problems: \(error.problems)")
        #expect(problem.line == broken.line, "\(problem)")
        #expect(problem.message.contains(broken.fragment), "\(problem.message)")
        #expect(error.description.contains("keyward.yaml: line \(broken.line)"), "\(error.description)")
        #expect(!error.description.contains("hunter2-literal"))
    }

    @Test("every problem in a file is reported at once")
    func collectsAllProblems() throws {
        let yaml = Self.base + "    rotateBefore: soon\n    colour: red\nsinks: {}\nextra: 1\n"
        let error = try #require(throws: ConfigurationError.self) { try loader.parse(yaml: yaml, directory: "/") }
        #expect(error.problems.map(\.keyPath) == ["entities.FIU-1.rotateBefore", "entities.FIU-1.colour", "extra"])
    }

    @Test("a broken entity or provider is reported once, not again by everything that names it")
    func noCascade() throws {
        let yaml = """
            version: 1
            providers:
              uat: {baseURL: staging, username: a@b.c}
            entities:
              FIU-1: {tokenRefreshBefor: 5m}
            sinks:
              env: {type: recording, path: a.env, entities: [FIU-1]}
            """
        let error = try #require(throws: ConfigurationError.self) { try loader.parse(yaml: yaml, directory: "/") }
        #expect(error.problems.map(\.keyPath) == ["providers.uat.baseURL", "entities.FIU-1.tokenRefreshBefor"])
    }

    @Test("secretExpiryDays above 180 and a long rotateBefore warn but load")
    func warnings() throws {
        let yaml = Self.base + "    secretExpiryDays: 365\n  FIU-2:\n    secretExpiryDays: 30\n    rotateBefore: 15d\n"
        let configuration = try loader.parse(yaml: yaml, directory: "/")
        #expect(configuration.warnings.map(\.keyPath) == ["entities.FIU-1.secretExpiryDays", "entities.FIU-2.rotateBefore"])
        #expect(configuration.warnings[0].message.contains("maximum of 180"))
        #expect(configuration.warnings[1].message.contains("10d"))
    }

    @Test("a missing file is a configuration error naming the path")
    func missingFile() throws {
        let error = try #require(throws: ConfigurationError.self) { try loader.load(path: "/nonexistent/keyward.yaml") }
        #expect(error.description.contains("/nonexistent/keyward.yaml"))
        #expect(error.description.contains("does not exist"))
    }

    @Test("the configuration is found by flag, then KEYWARD_CONFIG, then ./keyward.yaml")
    func locate() {
        #expect(ConfigurationLoader.locate(explicit: "a.yaml", environment: ["KEYWARD_CONFIG": "b.yaml"]) == "a.yaml")
        #expect(ConfigurationLoader.locate(explicit: nil, environment: ["KEYWARD_CONFIG": "b.yaml"]) == "b.yaml")
        #expect(ConfigurationLoader.locate(explicit: nil, environment: [:]) == "keyward.yaml")
    }
}

@Suite("durations and templates")
struct DurationAndTemplateTests {
    @Test("durations", arguments: [("90s", 90), ("15m", 900), ("12h", 43_200), ("15d", 1_296_000)] as [(String, Int64)])
    func validDurations(text: String, seconds: Int64) {
        #expect(DurationParser.seconds(text) == seconds)
        #expect(DurationParser.seconds(DurationParser.format(seconds: seconds)) == seconds)
    }

    @Test("invalid durations", arguments: ["", "s", "15", "15 d", "1.5d", "0d", "-1d", "+1d", "15D", "15w", "999999999999d", "١٥d"])
    func invalidDurations(text: String) {
        #expect(DurationParser.seconds(text) == nil)
    }

    @Test("literal braces and placeholders in a key template")
    func templates() throws {
        let template = try KeyTemplate(parsing: "{{x}} {entity.id}:{entity.secretExpiresAt}")
        #expect(template.parts == [.literal("{x} "), .placeholder(.id), .literal(":"), .placeholder(.secretExpiresAt)])
        #expect(throws: KeyTemplate.TemplateError.self) { try KeyTemplate(parsing: "{entity.id") }
        #expect(throws: KeyTemplate.TemplateError.self) { try KeyTemplate(parsing: "a}b") }
    }

    @Test("default key prefix from an entity id")
    func environmentPrefix() {
        #expect(EntityID(stringLiteral: "FIU-EXAMPLE-1").environmentPrefix == "FIU_EXAMPLE_1")
        #expect(EntityID(stringLiteral: "aa.sim--2").environmentPrefix == "AA_SIM_2")
    }
}

@Suite("keyward.yaml loading: sink types' own rules, modes, ~ (issue 12, items 3, 7, 9)")
struct ConfigurationSinkRuleTests {
    /// A `checked` sink type whose rule refuses the option `name: bad`, output keys with `=`,
    /// and entities whose id ends in `-X`.
    static let registry: PluginRegistry = {
        var registry = recordingRegistry()
        registry.registerSink(SinkTypeDescriptor(type: "checked", writesFile: true, options: ["name": .string], validate: { sink in
            var problems: [SinkConfigurationProblem] = []
            if sink.options["name"]?.stringValue == "bad" { problems.append(.init(.option("name"), "name is bad")) }
            for key in sink.keys ?? [] where key.key.contains("=") { problems.append(.init(.outputKey(key.key), "no '=' in keys")) }
            for id in sink.entities where id.rawValue.hasSuffix("-X") { problems.append(.init(.entity(id), "\(id) is refused")) }
            return problems
        })) { configuration, _ in RecordingSink(name: configuration.name) }
        return registry
    }()

    static let head = """
        version: 1
        providers:
          uat:
            baseURL: uat
            username: ops@example.com
        entities:
          FIU-1: {}
          FIU-X: {}
        sinks:

        """

    func problems(_ sinks: String) -> [ConfigurationError.Problem] {
        do {
            _ = try ConfigurationLoader(registry: Self.registry, environment: [:]).parse(yaml: Self.head + sinks, file: "k.yaml", directory: "/srv")
            return []
        } catch let error as ConfigurationError {
            return error.problems
        } catch {
            return [.init(keyPath: "", line: nil, column: nil, message: "\(error)")]
        }
    }

    @Test("a sink type's rule is reported with the sink, the key and the key's own line")
    func typeRuleProblems() {
        let found = problems("""
              one:
                type: checked
                path: one.env
                name: bad
                entities: [FIU-1]
                keys:
                  GOOD: "{entity.id}"
                  A=B: "{entity.secret}"
              two:
                type: checked
                path: two.env
                entities:
                  - FIU-1
                  - FIU-X
            """)
        #expect(found.map(\.keyPath) == ["sinks.one.name", "sinks.one.keys.A=B", "sinks.two.entities"])
        #expect(found.map(\.line) == [13, 17, 23])
        #expect(found.map(\.message) == ["name is bad", "no '=' in keys", "FIU-X is refused"])
    }

    @Test("mode: group or others may read only with allowGroupRead; never write", arguments: [
        ("\"0600\"", "", true), ("\"0640\"", "", false), ("\"0644\"", "", false), ("\"0640\"", "\n    allowGroupRead: true", true),
        ("\"0644\"", "\n    allowGroupRead: true", true), ("\"0660\"", "\n    allowGroupRead: true", false), ("\"0602\"", "", false),
    ])
    func modes(mode: String, extra: String, accepted: Bool) {
        let found = problems("  s:\n    type: recording\n    path: s.env\n    entities: [FIU-1]\n    mode: \(mode)\(extra)\n")
        #expect(found.isEmpty == accepted, "\(found)")
        if !accepted { #expect(found.map(\.keyPath) == ["sinks.s.mode"]) }
    }

    @Test("~ expands from $HOME, not from the user database")
    func tilde() throws {
        let loader = ConfigurationLoader(registry: Self.registry, environment: ["HOME": "/home/someone"])
        let configuration = try loader.parse(yaml: "version: 1\nvault:\n  path: ~/data/vault.db\n", directory: "/srv")
        #expect(configuration.vault.path == "/home/someone/data/vault.db")
    }
}

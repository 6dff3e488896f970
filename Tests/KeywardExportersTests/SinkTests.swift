import Foundation
import KeywardCore
import KeywardExporters
import KeywardTesting
import Testing

/// A registry as the CLI builds it, with this module's sinks.
func exporterRegistry() -> PluginRegistry {
    var registry = PluginRegistry()
    registry.registerProvider(type: "token-service") { configuration, _ in StaticProvider(name: configuration.name, secrets: [:]) }
    Exporters.register(in: &registry)
    return registry
}

/// Builds the sink named `name` from `sinksYAML` (the body of `sinks:`), through the
/// configuration loader and the registry, as the engine does.
func makeSink(_ name: String, sinksYAML: String, directory: String) throws -> any SecretSink {
    let yaml = """
        version: 1
        providers:
          uat:
            type: token-service
            baseURL: uat
            username: ops@example.com
        entities:
          FIU-EXAMPLE-1:
            provider: uat
          FIU-EXAMPLE-2:
            provider: uat
        sinks:
        \(sinksYAML)
        """
    let registry = exporterRegistry()
    let configuration = try ConfigurationLoader(registry: registry).parse(yaml: yaml, directory: directory)
    let sinkConfiguration = try #require(configuration.sinks[name])
    return try registry.makeSink(sinkConfiguration, environment: PluginEnvironment(store: nil, credentials: CredentialResolver(environment: [:], store: nil)))
}

func material(_ id: EntityID = "FIU-EXAMPLE-1", secret: String = "s3cr3t it's", token: String? = "eyJhbGciOi.payload.sig") -> EntityMaterial {
    let created = Date(timeIntervalSince1970: 1_750_000_000)
    return EntityMaterial(
        id: id,
        secret: SecretRecord(value: SecretValue(utf8: secret), createdAt: created, expiresAt: Date(timeIntervalSince1970: 1_760_000_000), source: "uat"),
        token: token.map { SecretRecord(value: SecretValue(utf8: $0), createdAt: created, expiresAt: Date(timeIntervalSince1970: 1_750_086_400), source: "uat") })
}

@Suite("file sinks, end to end through the configuration and the registry")
struct SinkTests {
    @Test("every type is registered as a file sink with its options")
    func descriptors() throws {
        let registry = exporterRegistry()
        #expect(registry.sinkTypes == ["dotenv", "json", "kubernetes-secret", "shell"])
        let dotenv = try #require(registry.sinkDescriptor(type: "dotenv"))
        #expect(dotenv.writesFile)
        #expect(dotenv.options == ["dialect": .choice(["portable", "docker", "systemd"])])
        let shell = try #require(registry.sinkDescriptor(type: "shell"))
        #expect(shell.writesFile)
        #expect(shell.options.isEmpty)
        let kubernetes = try #require(registry.sinkDescriptor(type: "kubernetes-secret"))
        #expect(kubernetes.writesFile)
        #expect(kubernetes.options == ["name": .string, "namespace": .string, "secretType": .string,
                                       "labels": .stringMap, "annotations": .stringMap, "perEntity": .boolean])
        let json = try #require(registry.sinkDescriptor(type: "json"))
        #expect(json.writesFile)
        #expect(json.options == ["pretty": .boolean])
    }

    @Test("a dotenv sink with default names writes a 0600 file that python-dotenv, node, bash and dash read; a second write is unchanged")
    func dotenvDefaults() async throws {
        let directory = try TemporaryDirectory()
        let sink = try makeSink("app-env", sinksYAML: """
              app-env:
                type: dotenv
                path: app.env
                entities: [FIU-EXAMPLE-1, FIU-EXAMPLE-2]
            """, directory: directory.path)
        #expect(sink.name == "app-env")
        let batch = [material(), material("FIU-EXAMPLE-2", secret: "second", token: "t2")]
        #expect(try await sink.write(batch, context: OperationContext()) == .written)
        let file = directory.file("app.env")
        var info = stat()
        #expect(lstat(file, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o600)
        let expected: [String: [UInt8]] = [
            "FIU_EXAMPLE_1_ENTITY_ID": Array("FIU-EXAMPLE-1".utf8),
            "FIU_EXAMPLE_1_SECRET": Array("s3cr3t it's".utf8),
            "FIU_EXAMPLE_1_ACCESS_TOKEN": Array("eyJhbGciOi.payload.sig".utf8),
            "FIU_EXAMPLE_1_SECRET_EXPIRES_AT": Array("2025-10-09T08:53:20Z".utf8),
            "FIU_EXAMPLE_1_TOKEN_EXPIRES_AT": Array("2025-06-16T15:06:40Z".utf8),
            "FIU_EXAMPLE_2_SECRET": Array("second".utf8),
            "FIU_EXAMPLE_2_ACCESS_TOKEN": Array("t2".utf8),
        ]
        for reader in Readers.EnvReader.allCases {
            let values = try Readers.read(file, keys: expected.keys.sorted(), with: reader)
            #expect(values == expected, "\(reader.rawValue)")
        }
        #expect(try await sink.write(batch, context: OperationContext()) == .unchanged)
        let changed = [material(secret: "rotated"), material("FIU-EXAMPLE-2", secret: "second", token: "t2")]
        #expect(try await sink.write(changed, context: OperationContext()) == .written)
        #expect(try directory.contents() == ["app.env"])
    }

    @Test("a json sink with custom keys, pretty and mode 0640 (allowGroupRead) writes what json.load reads, in key order")
    func jsonCustomKeys() async throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("deploy"), withIntermediateDirectories: false)
        let sink = try makeSink("creds", sinksYAML: """
              creds:
                type: json
                path: deploy/creds.json
                entities: [FIU-EXAMPLE-1]
                pretty: true
                mode: "0640"
                allowGroupRead: true
                keys:
                  Z_CLIENT_ID: "{entity.id}"
                  AUTH: "Bearer {entity.token}"
                  A_SECRET: "{entity.secret}"
            """, directory: directory.path)
        #expect(try await sink.write([material()], context: OperationContext()) == .written)
        let file = directory.file("deploy/creds.json")
        let read = try Readers.readJSON(file)
        #expect(read.map(\.key) == ["Z_CLIENT_ID", "AUTH", "A_SECRET"])
        #expect(read.map(\.value) == [Array("FIU-EXAMPLE-1".utf8), Array("Bearer eyJhbGciOi.payload.sig".utf8), Array("s3cr3t it's".utf8)])
        var info = stat()
        #expect(lstat(file, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o640)
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self).hasPrefix("{\n  \"Z_CLIENT_ID\": "))
    }

    @Test("a dry run writes nothing and says what a write would do")
    func dryRun() async throws {
        let directory = try TemporaryDirectory()
        let sink = try makeSink("j", sinksYAML: """
              j:
                type: json
                path: out.json
                entities: [FIU-EXAMPLE-1]
            """, directory: directory.path)
        #expect(try await sink.write([material()], context: OperationContext(dryRun: true)) == .written)
        #expect(try await sink.plan([material()], context: OperationContext()) == .written)
        #expect(try directory.contents().isEmpty)
        #expect(try await sink.write([material()], context: OperationContext()) == .written)
        #expect(try await sink.plan([material()], context: OperationContext()) == .unchanged)
        #expect(sink.destination == directory.file("out.json"))
    }

    @Test("a value the dialect refuses fails the write, names the key, and leaves the old file as it was")
    func refusedValueKeepsOldFile() async throws {
        let directory = try TemporaryDirectory()
        let sink = try makeSink("app-env", sinksYAML: """
              app-env:
                type: dotenv
                path: app.env
                entities: [FIU-EXAMPLE-1]
                dialect: portable
                keys:
                  APP_SECRET: "{entity.secret}"
            """, directory: directory.path)
        #expect(try await sink.write([material(secret: "fine")], context: OperationContext()) == .written)
        let before = try Data(contentsOf: URL(fileURLWithPath: directory.file("app.env")))
        await #expect {
            try await sink.write([material(secret: #"it's a\b"#)], context: OperationContext())
        } throws: { error in
            (error as? KeywardError)?.message.contains("APP_SECRET") == true
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory.file("app.env"))) == before)
        #expect(try directory.contents() == ["app.env"])
    }

    @Test("a template that needs a token no one holds fails, naming the key; nothing is written")
    func missingToken() async throws {
        let directory = try TemporaryDirectory()
        let sink = try makeSink("app-env", sinksYAML: """
              app-env:
                type: dotenv
                path: app.env
                entities: [FIU-EXAMPLE-1]
            """, directory: directory.path)
        await #expect(throws: KeywardError.self) { try await sink.write([material(token: nil)], context: OperationContext()) }
        #expect(try directory.contents().isEmpty)
    }

    @Test("an unknown dialect or a non-boolean pretty is a configuration error", arguments: [
        "    type: dotenv\n    path: a.env\n    entities: [FIU-EXAMPLE-1]\n    dialect: windows",
        "    type: json\n    path: a.json\n    entities: [FIU-EXAMPLE-1]\n    pretty: sometimes",
        "    type: json\n    entities: [FIU-EXAMPLE-1]",
    ])
    func badOptions(section: String) throws {
        #expect(throws: ConfigurationError.self) {
            _ = try makeSink("s", sinksYAML: "  s:\n" + section, directory: "/tmp")
        }
    }
}

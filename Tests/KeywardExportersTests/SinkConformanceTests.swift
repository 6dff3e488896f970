import Foundation
import KeywardCore
import KeywardExporters
import KeywardTesting
import Testing

/// The default keys of the suite's entity, which the readers are asked for.
private let conformanceKeys = SinkKeys.defaultTemplates(for: SinkConformance.entity).map(\.key)

/// A private scratch directory, removed at the end.
private final class Scratch: @unchecked Sendable {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/keyward-sink-conformance-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Reads a Kubernetes Secret manifest with PyYAML: each `data` key, base64-decoded.
private func readManifest(_ file: String) throws -> [String: [UInt8]] {
    let script = """
        import base64, json, sys, yaml
        with open(sys.argv[1], encoding='utf-8') as f:
            doc = yaml.safe_load(f)
        print(json.dumps({k: base64.b64decode(v).hex() for k, v in doc['data'].items()}))
        """
    let output = try Readers.run("python3", ["-c", script, file])
    guard output.status == 0 else { throw Readers.Failure(description: "PyYAML could not read the manifest: \(output.stderr)") }
    let object = try JSONSerialization.jsonObject(with: output.stdout) as? [String: String] ?? [:]
    return try object.mapValues { try Readers.bytes(fromHex: $0) }
}

@Suite("every built-in sink passes KeywardTesting's sink conformance suite", .serialized)
struct SinkConformanceTests {
    private func run(_ descriptor: SinkTypeDescriptor, options: [String] = [], invalid: [String: [String]] = [:],
                     readBack: SinkConformance.Reader?) async throws -> [ConformanceFailure] {
        let scratch = try Scratch()
        return await SinkConformance(descriptor: descriptor, directory: scratch.path, register: { Exporters.register(in: &$0) },
                                     options: options, invalidOptions: invalid, readBack: readBack).run()
    }

    @Test("dotenv (portable), read back by python-dotenv")
    func dotenv() async throws {
        let failures = try await run(DotenvSink.descriptor, options: ["dialect: portable"],
                                     invalid: ["a key that is no variable name": ["keys: {not-a-name: '{entity.secret}'}"]],
                                     readBack: { try Readers.read($0, keys: conformanceKeys, with: .pythonDotenv) })
        #expect(failures.isEmpty, "\(failures.map(\.description).joined(separator: "\n"))")
    }

    @Test("shell, read back by bash")
    func shell() async throws {
        let failures = try await run(ShellSink.descriptor, readBack: { try Readers.read($0, keys: conformanceKeys, with: .bash) })
        #expect(failures.isEmpty, "\(failures.map(\.description).joined(separator: "\n"))")
    }

    @Test("json, read back by python's json.load")
    func json() async throws {
        let failures = try await run(JSONSink.descriptor, options: ["pretty: true"],
                                     readBack: { Dictionary(uniqueKeysWithValues: try Readers.readJSON($0).map { ($0.key, $0.value) }) })
        #expect(failures.isEmpty, "\(failures.map(\.description).joined(separator: "\n"))")
    }

    @Test("kubernetes-secret, read back by PyYAML")
    func kubernetes() async throws {
        let failures = try await run(KubernetesSecretSink.descriptor, options: ["name: conformance", "namespace: default"],
                                     invalid: ["a name Kubernetes refuses": ["name: Not_A_DNS_Name"]], readBack: readManifest)
        #expect(failures.isEmpty, "\(failures.map(\.description).joined(separator: "\n"))")
    }

    @Test("a sink that always rewrites and ignores dry runs fails, naming the cases")
    func detectsABrokenSink() async throws {
        let scratch = try Scratch()
        let failures = await SinkConformance(
            descriptor: CarelessSink.descriptor, directory: scratch.path,
            register: { $0.registerSink(CarelessSink.descriptor) { configuration, _ in CarelessSink(path: configuration.path ?? "") } },
            readBack: nil).run()
        #expect(Set(failures.map(\.testCase)) == [
            "sink careless: a second identical write reports unchanged and leaves the file untouched",
            "sink careless: a dry run writes nothing",
        ], "\(failures)")
    }

    @Test("a read-back that finds other bytes fails the round-trip case of each hostile value")
    func detectsAMangledValue() async throws {
        let scratch = try Scratch()
        let failures = await SinkConformance(
            descriptor: ShellSink.descriptor, directory: scratch.path, register: { Exporters.register(in: &$0) },
            readBack: { _ in Dictionary(uniqueKeysWithValues: conformanceKeys.map { ($0, Array("mangled".utf8)) }) }).run()
        #expect(Set(failures.map(\.testCase)) == Set(SinkConformance.hostileValues.map { "sink shell: \($0.name) read back byte for byte" }))
    }
}

/// Writes the file on every call, dry run or not, and always says `written`.
private struct CarelessSink: SecretSink {
    static let descriptor = SinkTypeDescriptor(type: "careless", writesFile: true)
    let path: String
    var name: String { "careless" }
    var destination: String? { path }
    func write(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        try? FileManager.default.removeItem(atPath: path)
        _ = FileManager.default.createFile(atPath: path, contents: Data("\(material.count)".utf8))
        return .written
    }
}

import Foundation
import KeywardCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The conformance suite every sink passes, built in or a third party's (DESIGN.md,
/// "Plugins"): the sink is built from a `keyward.yaml` section through the configuration loader
/// and the registry, as the engine builds it, then
/// - hostile values (newlines, quotes, `$`, backslashes, 64 KiB) written and read back byte for
///   byte (when the sink can be read: ``readBack``),
/// - a second identical write reports ``SinkWriteOutcome/unchanged`` and leaves the file
///   untouched (same inode, modification time and bytes),
/// - a dry run writes nothing, and ``SecretSink/plan(_:context:)`` agrees with ``SecretSink/write(_:context:)``,
/// - the descriptor refuses an unknown option, a value of the wrong kind for each option, and
///   the sections ``invalidOptions`` lists.
///
/// ```swift
/// let failures = await SinkConformance(descriptor: MySink.descriptor, directory: scratch,
///                                      register: { $0.registerSink(MySink.descriptor) { c, _ in try MySink(c) } },
///                                      readBack: { path in try MySink.parse(path) }).run()
/// #expect(failures.isEmpty, "\(failures)")
/// ```
public struct SinkConformance: Sendable {
    /// Reads what the sink wrote at `destination` (its ``SecretSink/destination``; the section's
    /// `path` for a file sink): every key with its value's bytes.
    public typealias Reader = @Sendable (_ destination: String) throws -> [String: [UInt8]]

    /// The sink type under test.
    public var descriptor: SinkTypeDescriptor
    /// An existing, writable directory for the files the cases write (each case its own file).
    public var directory: String
    /// Registers the sink type in the suite's registry (the suite adds a provider for the
    /// section's entity).
    public var register: @Sendable (inout PluginRegistry) -> Void
    /// Lines the section needs besides `type`, `path` and `entities`, as YAML under the sink's
    /// name (e.g. `["dialect: portable"]`), for a valid section.
    public var options: [String]
    /// Sections the type must refuse, by case name: YAML lines as in ``options``.
    public var invalidOptions: [String: [String]]
    /// How to read the sink's output back; `nil` for a sink that cannot be read (then the
    /// round-trip cases are skipped, and said so in ``run()``'s failures only when they fail).
    public var readBack: Reader?

    public init(descriptor: SinkTypeDescriptor, directory: String, register: @escaping @Sendable (inout PluginRegistry) -> Void,
                options: [String] = [], invalidOptions: [String: [String]] = [:], readBack: Reader?) {
        self.descriptor = descriptor
        self.directory = directory
        self.register = register
        self.options = options
        self.invalidOptions = invalidOptions
        self.readBack = readBack
    }

    /// The entity every case delivers.
    public static let entity: EntityID = "FIU-CONFORMANCE-1"

    /// The hostile values the round-trip cases write, by name: each one alone in a value, so a
    /// format that can carry each of them (not necessarily all at once) passes.
    public static let hostileValues: [(name: String, value: [UInt8])] = [
        ("newlines", Array("line one\nline two\n\nend".utf8)),
        ("single quotes", Array("it's 'quoted'".utf8)),
        ("double quotes", Array("say \"hi\" \"".utf8)),
        ("dollar signs", Array("$HOME $1 $$ cost: $".utf8)),
        ("backslashes", Array("C:\\path\\to\\n x".utf8)),
        ("64 KiB", (0..<65_536).map { UInt8(ascii: "a") + UInt8($0 % 26) }),
    ]

    /// Runs every case; an empty result means the sink conforms.
    public func run() async -> [ConformanceFailure] {
        var failures: [ConformanceFailure] = []
        await roundTrip(&failures)
        await unchanged(&failures)
        await dryRun(&failures)
        rejectsBadOptions(&failures)
        return failures
    }

    // MARK: - cases

    private func roundTrip(_ failures: inout [ConformanceFailure]) async {
        guard let readBack else { return }
        for (index, hostile) in Self.hostileValues.enumerated() {
            let testCase = "sink \(descriptor.type): \(hostile.name) read back byte for byte"
            do {
                let sink = try makeSink(file: "round-trip-\(index)")
                let material = Self.material(secret: hostile.value, token: hostile.value.reversed())
                _ = try await sink.write(material, context: OperationContext())
                let read = try readBack(try destination(of: sink, file: "round-trip-\(index)"))
                for pair in try SinkKeys.pairs(for: material, keys: nil) {
                    let expected = pair.value.withRevealedBytes { Array($0) }
                    guard let got = read[pair.key] else {
                        failures.append(.init(testCase: testCase, message: "\(pair.key) is missing from what was read back"))
                        continue
                    }
                    if got != expected {
                        failures.append(.init(testCase: testCase, message: "\(pair.key) read back as \(got.count) bytes that differ from the \(expected.count) written"))
                    }
                }
            } catch {
                failures.append(.init(testCase: testCase, message: "failed: \(Self.describe(error))"))
            }
        }
    }

    private func unchanged(_ failures: inout [ConformanceFailure]) async {
        let testCase = "sink \(descriptor.type): a second identical write reports unchanged and leaves the file untouched"
        do {
            let sink = try makeSink(file: "unchanged")
            let material = Self.material(secret: Array("first".utf8), token: Array("token".utf8))
            let first = try await sink.write(material, context: OperationContext())
            if first != .written { failures.append(.init(testCase: testCase, message: "the first write reported \(first.rawValue), not written")) }
            let before = sink.destination.flatMap(Self.fileState)
            let planned = try await sink.plan(material, context: OperationContext())
            if planned != .unchanged { failures.append(.init(testCase: testCase, message: "plan after the write said \(planned.rawValue), not unchanged")) }
            let second = try await sink.write(material, context: OperationContext())
            if second != .unchanged { failures.append(.init(testCase: testCase, message: "the second write reported \(second.rawValue)")) }
            if let before, before != sink.destination.flatMap(Self.fileState) {
                failures.append(.init(testCase: testCase, message: "the file was replaced or changed (inode, modification time or bytes)"))
            }
        } catch {
            failures.append(.init(testCase: testCase, message: "failed: \(Self.describe(error))"))
        }
    }

    private func dryRun(_ failures: inout [ConformanceFailure]) async {
        let testCase = "sink \(descriptor.type): a dry run writes nothing"
        do {
            let sink = try makeSink(file: "dry-run")
            let entriesBefore = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            let material = Self.material(secret: Array("dry".utf8), token: Array("run".utf8))
            let planned = try await sink.plan(material, context: OperationContext(dryRun: true))
            let outcome = try await sink.write(material, context: OperationContext(dryRun: true))
            if planned != .written || outcome != .written {
                failures.append(.init(testCase: testCase, message: "plan said \(planned.rawValue) and a dry-run write \(outcome.rawValue) for a destination never written; expected written"))
            }
            let entriesAfter = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            if entriesAfter != entriesBefore {
                failures.append(.init(testCase: testCase, message: "the directory changed: \(Set(entriesAfter).symmetricDifference(entriesBefore).sorted())"))
            }
            // A dry run over an existing file leaves it as it is.
            _ = try await sink.write(material, context: OperationContext())
            let before = sink.destination.flatMap(Self.fileState)
            let changed = Self.material(secret: Array("changed".utf8), token: Array("run".utf8))
            let again = try await sink.write(changed, context: OperationContext(dryRun: true))
            if again != .written { failures.append(.init(testCase: testCase, message: "a dry run of changed values said \(again.rawValue), not written")) }
            if let before, before != sink.destination.flatMap(Self.fileState) {
                failures.append(.init(testCase: testCase, message: "a dry run changed the existing file"))
            }
        } catch {
            failures.append(.init(testCase: testCase, message: "failed: \(Self.describe(error))"))
        }
    }

    private func rejectsBadOptions(_ failures: inout [ConformanceFailure]) {
        var cases: [(String, [String])] = [("an unknown option", ["keywardConformanceUnknown: 1"])]
        for (name, kind) in descriptor.options.sorted(by: { $0.key < $1.key }) {
            let wrong: String = switch kind {
            case .string: "\(name): [not, a, string]"
            case .choice(let choices): "\(name): \(choices.joined(separator: "-"))-not-a-choice"
            case .boolean: "\(name): not-a-boolean"
            case .integer: "\(name): not-an-integer"
            case .stringMap: "\(name): not-a-map"
            case .map: "\(name): not-a-map"
            }
            cases.append(("option \(name) with a value of the wrong kind", options.filter { !$0.hasPrefix("\(name):") } + [wrong]))
        }
        cases += invalidOptions.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        for (name, lines) in cases {
            let testCase = "sink \(descriptor.type): the descriptor refuses \(name)"
            do {
                _ = try makeSink(file: "refused", lines: lines)
                failures.append(.init(testCase: testCase, message: "the section was accepted"))
            } catch {
                // Refused at load (ConfigurationError) or by the factory: both stop every command.
            }
        }
        do {
            _ = try makeSink(file: "accepted")
        } catch {
            failures.append(.init(testCase: "sink \(descriptor.type): the descriptor accepts a valid section", message: Self.describe(error)))
        }
    }

    // MARK: - helpers

    /// Builds the sink from a section through the loader and the registry, as the engine does.
    private func makeSink(file: String, lines: [String]? = nil) throws -> any SecretSink {
        var registry = PluginRegistry()
        register(&registry)
        // The entity's provider: any registered type will do, the sink never calls it.
        registry.registerProvider(type: "token-service") { configuration, _ in StaticProvider(name: configuration.name, secrets: [:]) }
        let path = (directory as NSString).appendingPathComponent(file)
        let sectionLines = ["type: \(descriptor.type)"] + (descriptor.writesFile ? ["path: \(path)"] : []) + ["entities: [\(Self.entity.rawValue)]"]
            + (lines ?? options)
        let yaml = """
            version: 1
            providers:
              conformance:
                type: token-service
                baseURL: uat
                username: conformance@example.com
            entities:
              \(Self.entity.rawValue):
                provider: conformance
            sinks:
              conformance-sink:
            \(sectionLines.map { "    " + $0 }.joined(separator: "\n"))
            """
        let configuration = try ConfigurationLoader(registry: registry, environment: [:]).parse(yaml: yaml, directory: directory)
        guard let section = configuration.sinks["conformance-sink"] else {
            throw KeywardError.usage("the loader dropped the sink section")
        }
        return try registry.makeSink(section, environment: PluginEnvironment(store: nil, credentials: CredentialResolver(environment: [:], store: nil)))
    }

    private func destination(of sink: any SecretSink, file: String) throws -> String {
        if let destination = sink.destination { return destination }
        return (directory as NSString).appendingPathComponent(file)
    }

    static func material(secret: [UInt8], token: [UInt8]) -> [EntityMaterial] {
        let created = Date(timeIntervalSince1970: 1_750_000_000)
        return [EntityMaterial(
            id: entity,
            secret: SecretRecord(value: SecretValue(bytes: secret), createdAt: created, expiresAt: Date(timeIntervalSince1970: 1_760_000_000), source: "conformance"),
            token: SecretRecord(value: SecretValue(bytes: token), createdAt: created, expiresAt: Date(timeIntervalSince1970: 1_750_086_400), source: "conformance"))]
    }

    /// Inode, modification time (ns) and bytes of a file, or of each file of a directory (a
    /// sink whose destination is a directory); `nil` when nothing is there.
    struct FileState: Equatable {
        var name: String
        var inode: UInt64
        var modified: Int64
        var bytes: Data
    }

    static func fileState(_ path: String) -> [FileState]? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        let files = isDirectory.boolValue
            ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { (path as NSString).appendingPathComponent($0) }
            : [path]
        return files.compactMap { file in
            var info = stat()
            guard stat(file, &info) == 0, let bytes = FileManager.default.contents(atPath: file) else { return nil }
            #if canImport(Darwin)
            let modified = Int64(info.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(info.st_mtimespec.tv_nsec)
            #else
            let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
            #endif
            return FileState(name: (file as NSString).lastPathComponent, inode: UInt64(info.st_ino), modified: modified, bytes: bytes)
        }
    }

    static func describe(_ error: any Error) -> String {
        (error as? any CategorizedError)?.description ?? "\(type(of: error))"
    }
}

import Foundation
import KeywardCore
import KeywardExternal
import KeywardTesting
import Testing

/// The example plugins of Examples/plugins pass the executable conformance suite, every case
/// in order (the same suite `keyward plugin test` runs; ExamplePluginsCLITests runs it there).
@Suite("Example plugins pass ExternalPluginConformance")
struct ExamplePluginsConformanceTests {
    /// Examples/plugins of this package.
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/plugins")

    static func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-conformance-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        return path
    }

    @Test("the shell sink keyward-sink-files passes every case")
    func shellSink() async throws {
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let suite = ExternalPluginConformance(command: [Self.examples.appendingPathComponent("keyward-sink-files").path],
                                              options: ["directory": "out"], directory: scratch)
        let cases = await suite.runCases()
        #expect(cases.filter { !$0.passed }.isEmpty, "\(cases.filter { !$0.passed })")
        #expect(cases.map(\.name) == ExternalPluginConformance.caseNames(kind: .sink, capabilities: ["write", "read"]))
        #expect(cases.map(\.name).contains(ExternalPluginConformance.sinkRoundTripCase))
        // The values are on disk byte for byte, one 0600 file a key in a 0700 directory.
        for (key, value) in ExternalPluginConformance.hostileValues {
            let file = "\(scratch)/out/\(key)"
            #expect(FileManager.default.contents(atPath: file) == Data(value.utf8), "\(key)")
            #expect((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) == 0o600)
        }
        #expect((try FileManager.default.attributesOfItem(atPath: "\(scratch)/out")[.posixPermissions] as? Int) == 0o700)
    }

    @Test("the Python provider keyward-provider-filestore passes every case, with one reset logged")
    func pythonProvider() async throws {
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let store = #"{"entities": {"FIU-TEST-1": {"secret": "first-secret", "expiresAt": "2030-01-01T00:00:00Z"}}}"#
        try store.write(toFile: "\(scratch)/store.json", atomically: true, encoding: .utf8)
        let failures = await ExternalPluginConformance(command: [Self.examples.appendingPathComponent("keyward-provider-filestore").path],
                                                       options: ["store": "store.json"], entity: "FIU-TEST-1", directory: scratch).run()
        #expect(failures.isEmpty, "\(failures)")
        let log = try String(contentsOfFile: "\(scratch)/resets.log", encoding: .utf8)
        #expect(log.split(separator: "\n").count == 1)
        #expect(log.hasPrefix("FIU-TEST-1\t"))
    }

    @Test("a sink that ignores dryRun fails the dry-run case, and only that case")
    func brokenSink() async throws {
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let original = try String(contentsOf: Self.examples.appendingPathComponent("keyward-sink-files"), encoding: .utf8)
        let broken = original.replacingOccurrences(of: "dry=\\(.dryRun == true)", with: "dry=false")
        #expect(broken != original)
        let path = "\(scratch)/keyward-sink-broken"
        try broken.write(toFile: path, atomically: true, encoding: .utf8)
        // Run by /bin/sh, not executed itself: a file just written cannot be exec'd while a
        // process forked meanwhile by another test still holds it open (ETXTBSY).
        let failures = await ExternalPluginConformance(command: ["/bin/sh", path], options: ["directory": "out"], directory: scratch).run()
        #expect(failures.map(\.testCase) == [ExternalPluginConformance.sinkDryRunCase], "\(failures)")
    }
}

import CredentialsDirectorySink
import Foundation
import KeywardCore
import KeywardTesting
import Testing

@Suite("the credentials-directory sink passes Keyward's sink conformance suite")
struct CredentialsDirectorySinkTests {
    @Test("hostile values read back byte for byte, unchanged writes, dry runs, options refused")
    func conformance() async throws {
        let scratch = FileManager.default.temporaryDirectory.path + "/credentials-directory-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let failures = await SinkConformance(
            descriptor: CredentialsDirectorySink.descriptor, directory: scratch,
            register: { CredentialsDirectorySink.register(in: &$0) },
            options: ["lowercase: false"],
            invalidOptions: ["a key that is no file name": ["keys: {'../escape': '{entity.secret}'}"]],
            readBack: { try CredentialsDirectorySink.read(directory: $0) }
        ).run()
        #expect(failures.isEmpty, "\(failures.map(\.description).joined(separator: "\n"))")
    }
}

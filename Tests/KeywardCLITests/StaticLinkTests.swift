import Foundation
import Testing

/// `make install` links `keyward` with the Swift runtime built in (`--static-swift-stdlib`).
/// FoundationNetworking cannot be linked that way here (it needs libcurl's static archive), so
/// no module of this package may import it: HTTP goes through AsyncHTTPClient. The static build
/// is too slow for `make test`; this check catches the import that broke it once (the
/// KeywardTesting module, which `keyward plugin test` links, used URLSession).
@Suite("the executable stays linkable with the static Swift runtime")
struct StaticLinkTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    @Test("no source file imports FoundationNetworking")
    func noFoundationNetworking() throws {
        let files = try #require(FileManager.default.enumerator(at: Self.sources, includingPropertiesForKeys: nil))
        var offenders: [String] = []
        var count = 0
        for case let file as URL in files where file.pathExtension == "swift" {
            count += 1
            let text = try String(contentsOf: file, encoding: .utf8)
            if text.split(separator: "\n").contains(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("import FoundationNetworking") }) {
                offenders.append(file.path.replacingOccurrences(of: Self.sources.path + "/", with: ""))
            }
        }
        #expect(count > 50, "the sources were found")
        #expect(offenders.isEmpty, "import FoundationNetworking in \(offenders)")
    }
}

import Foundation
import Testing

/// Core knows no concrete provider (DESIGN.md, "Architecture" and "Plugins"; issue 13, item 1):
/// the token service's URLs, its `/iam/v1` rule and its grace period live in KeywardTokenService.
@Suite("Core names no provider")
struct CoreNamesNoProviderTests {
    /// `Sources/KeywardCore`, found from this file's place in the package.
    static let coreSources = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/KeywardCore")

    @Test("no source file of KeywardCore mentions iam/v1, sahamati or a grace period (grep -rn 'iam/v1\\|sahamati\\|grace period')")
    func noTokenServiceNames() throws {
        let enumerator = try #require(FileManager.default.enumerator(at: Self.coreSources, includingPropertiesForKeys: nil))
        var read = 0
        var hits: [String] = []
        for case let url as URL in enumerator where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            read += 1
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where ["iam/v1", "sahamati", "grace period"].contains(where: line.contains) {
                hits.append("\(url.lastPathComponent):\(number + 1): \(line)")
            }
        }
        #expect(read > 20, "the sources were found at \(Self.coreSources.path)")
        #expect(hits.isEmpty, "\(hits.joined(separator: "\n"))")
    }
}

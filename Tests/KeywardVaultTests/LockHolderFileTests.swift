import Foundation
import KeywardCore
import Testing

@testable import KeywardVault

@Suite("the holder line of the vault's lock files")
struct LockHolderFileTests {
    @Test("a lock file that names nobody says 'another job'")
    func unknownHolder() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-holder-\(UUID().uuidString)").path
        #expect(LockHolder.heldBy(path: path) == "held by another job")
        try Data().write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(LockHolder.heldBy(path: path) == "held by another job")
        try Data(LockHolder(operation: "sync", pid: 7, since: Date(timeIntervalSince1970: 0)).fileContents.utf8).write(to: URL(fileURLWithPath: path))
        #expect(LockHolder.heldBy(path: path) == "held by a sync (pid 7, since 1970-01-01T00:00:00Z)")
    }
}

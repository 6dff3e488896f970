import Foundation
import KeywardCore
@testable import KeywardVault
import Testing

/// The vault's rotation lock file, moved here from Core with the lock (issue 13, item 2: Core
/// opens no lock file); the test is the one Core had, unchanged.
@Suite("rotation lock file beside the vault")
struct RotationLockTests {
    @Test("the lock is exclusive until released, also within one process, and lives beside the vault")
    func lock() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-lock-\(UUID().uuidString)").path + "/vault.db.locks"
        try FileManager.default.createDirectory(atPath: (directory as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        let entity = EntityID("FIU-ALPHA")
        var first = try RotationLock.acquire(directory: directory, entity: entity)
        #expect(first != nil)
        #expect(first?.path == directory + "/FIU-ALPHA.lock")
        #expect(try RotationLock.acquire(directory: directory, entity: entity) == nil, "held: a second job skips")
        #expect(try RotationLock.acquire(directory: directory, entity: EntityID("FIU-BETA")) != nil, "per entity")
        first = nil
        #expect(try RotationLock.acquire(directory: directory, entity: entity) != nil, "released when closed")
    }
}

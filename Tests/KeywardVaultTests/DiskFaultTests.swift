import Foundation
import GRDB
import KeywardCore
import KeywardTesting
import Testing

@testable import KeywardVault

/// The vault's commit on a failing disk (issue 16, item 2): a failure injected right before
/// COMMIT (the `commit` checkpoint, as SQLite reports a full or failing disk), then a real full
/// and a real read-only tmpfs. The committed state stays, `verify` passes, and the error is
/// `.io` (exit 1) naming the vault's path and the system's reason.
@Suite("vault commit on a failing disk: the old state stays, verify passes, the error names the path")
struct DiskFaultTests {
    @Test("a failure at COMMIT (SQLITE_FULL, SQLITE_IOERR): nothing of the write is kept; the vault verifies",
          arguments: [
              (ResultCode.SQLITE_FULL, "No space left on device"),
              // No errno behind an injected error: SQLite's own words are kept.
              (ResultCode.SQLITE_IOERR_WRITE, "disk I/O error"),
              (ResultCode.SQLITE_IOERR_FSYNC, "disk I/O error"),
          ])
    func injectedAtCommit(code: ResultCode, reason: String) throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        try vault.put(name("app/kept"), secret("old value"))
        let generation = vault.generation
        vault.setFaultHook { point in if point == "commit" { throw DatabaseError(resultCode: code, message: code == .SQLITE_FULL ? "database or disk is full" : "disk I/O error") } }
        let error = try #require(throws: VaultError.self) { try vault.put(name("app/kept"), secret("new value")) }
        vault.setFaultHook(nil)
        #expect(error.code == .io)
        #expect(error.category == .operationFailed)
        #expect(error.message.contains(box.vaultPath), "\(error.message)")
        #expect(error.message.contains(reason), "\(error.message)")
        #expect(!error.message.contains("new value"))
        #expect(try vault.get(name("app/kept")).value == secret("old value"))
        #expect(vault.generation == generation)
        let reopened = try box.open(source)
        #expect(try reopened.get(name("app/kept")).value == secret("old value"))
        #expect(try reopened.verify().entries == 1)
        try reopened.put(name("app/kept"), secret("new value"))
        #expect(try box.open(source).get(name("app/kept")).value == secret("new value"))
    }

    @Test("a full tmpfs: put fails with the path and 'No space left on device'; the old value stays; once space returns, put works",
          .enabled(if: SmallDisk.unavailableReason == nil, "\(SmallDisk.unavailableReason ?? "")"))
    func fullDisk() throws {
        let box = try Sandbox()
        let disk = try SmallDisk(at: box.root + "/data", sizeKiB: 2_048)
        defer { disk.unmount() }
        let (vault, source) = try box.makeVault()
        try vault.put(name("app/kept"), secret("old value"))
        try disk.fill()
        let big = SecretValue(bytes: [UInt8]((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }))
        let error = try #require(throws: VaultError.self) { try vault.put(name("app/big"), big) }
        #expect(error.code == .io)
        #expect(error.message.contains(box.vaultPath), "\(error.message)")
        #expect(error.message.contains("No space left on device"), "\(error.message)")
        #expect(try vault.get(name("app/kept")).value == secret("old value"))
        #expect(throws: VaultError.self) { try vault.get(name("app/big")) }
        disk.free()
        let reopened = try box.open(source)
        #expect(try reopened.verify().entries == 1)
        try reopened.put(name("app/big"), big)
        #expect(try box.open(source).get(name("app/big")).value == big)
    }

    @Test("a read-only tmpfs: put fails with the path and the system's reason; reads still work",
          .enabled(if: SmallDisk.unavailableReason == nil, "\(SmallDisk.unavailableReason ?? "")"))
    func readOnlyDisk() throws {
        let box = try Sandbox()
        let disk = try SmallDisk(at: box.root + "/data", sizeKiB: 2_048)
        defer { disk.unmount() }
        // Closed before the remount: Linux refuses to remount read-only while a file is open for writing.
        let source = try {
            let (created, source) = try box.makeVault()
            try created.put(name("app/kept"), secret("old value"))
            return source
        }()
        try disk.setReadOnly(true)
        let before = box.fileBytes(box.vaultPath)
        let error = try #require(throws: VaultError.self) {
            let vault = try box.open(source)
            try vault.put(name("app/kept"), secret("new value"))
        }
        #expect(error.code == .io)
        #expect(error.message.contains(box.vaultPath), "\(error.message)")
        #expect(error.message.contains("Read-only file system") || error.message.contains("read-only"), "\(error.message)")
        #expect(box.fileBytes(box.vaultPath) == before)
        try disk.setReadOnly(false)
        let reopened = try box.open(source)
        #expect(try reopened.get(name("app/kept")).value == secret("old value"))
        #expect(try reopened.verify().entries == 1)
    }
}

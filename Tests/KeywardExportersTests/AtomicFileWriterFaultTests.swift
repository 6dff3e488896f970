import Foundation
import KeywardCore
import KeywardTesting
import Testing

/// The atomic writer on a failing disk (issue 16, item 2): injected errno at each system call,
/// then a real full and a real read-only tmpfs. Every failure leaves the old file byte-identical
/// (same inode), no temporary file, and an error naming the path and the system's reason.
@Suite("AtomicFileWriter on a failing disk: ENOSPC, EIO, EROFS leave the old file and no temporary")
struct AtomicFileWriterFaultTests {
    static let old = Array("OLD_KEY='old value'\n".utf8)
    static let new = Array(String(repeating: "NEW_KEY='new value'\n", count: 200).utf8)

    private func inode(_ path: String) -> ino_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_ino : 0
    }

    private func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test("a fault before the rename (write, fsync, rename) leaves the old file and no temporary file; the error names the path and errno",
          arguments: [
              (AtomicFileWriter.FaultPoint.write(ENOSPC), "No space left on device"),
              (.write(EIO), "Input/output error"),
              (.fileSync(EIO), "Input/output error"),
              (.fileSync(ENOSPC), "No space left on device"),
              (.rename(EIO), "Input/output error"),
              (.rename(EROFS), "Read-only file system"),
          ])
    func beforeRename(fault: AtomicFileWriter.FaultPoint, reason: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("app.env")
        try AtomicFileWriter().write(Self.old, to: path, mode: 0o600)
        let before = inode(path)
        let error = try #require(throws: KeywardError.self) {
            try AtomicFileWriter(fault: fault).write(Self.new, to: path, mode: 0o600)
        }
        #expect(error.category == .operationFailed)
        #expect(error.message.contains(path), "\(error.message)")
        #expect(error.message.contains(reason), "\(error.message)")
        #expect(try bytes(path) == Self.old)
        #expect(inode(path) == before)
        #expect(try directory.contents() == ["app.env"])
        // The next write, on a healthy disk, succeeds.
        #expect(try AtomicFileWriter().write(Self.new, to: path, mode: 0o600) == .written)
        #expect(try bytes(path) == Self.new)
    }

    @Test("a failed directory fsync after the rename: the new file is in place, the error says so and names the directory")
    func directorySyncFails() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("app.env")
        try AtomicFileWriter().write(Self.old, to: path, mode: 0o600)
        let error = try #require(throws: KeywardError.self) {
            try AtomicFileWriter(fault: .directorySync(EIO)).write(Self.new, to: path, mode: 0o600)
        }
        #expect(error.message == "wrote \(path), but cannot sync its directory \(directory.path): Input/output error")
        #expect(try bytes(path) == Self.new)
        #expect(try directory.contents() == ["app.env"])
    }

    @Test("a full tmpfs: ENOSPC, the old file byte-identical, no temporary file; once space returns the write succeeds",
          .enabled(if: SmallDisk.unavailableReason == nil, "\(SmallDisk.unavailableReason ?? "")"))
    func fullDisk() throws {
        let directory = try TemporaryDirectory()
        let disk = try SmallDisk(at: directory.file("disk"), sizeKiB: 256)
        defer { disk.unmount() }
        let path = disk.path + "/app.env"
        try AtomicFileWriter().write(Self.old, to: path, mode: 0o600)
        let before = inode(path)
        try disk.fill()
        let error = try #require(throws: KeywardError.self) {
            try AtomicFileWriter().write(Self.new, to: path, mode: 0o600)
        }
        #expect(error.message == "cannot write \(path): No space left on device")
        #expect(try bytes(path) == Self.old)
        #expect(inode(path) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: disk.path).sorted() == [".keyward-test-filler", "app.env"])
        disk.free()
        #expect(try AtomicFileWriter().write(Self.new, to: path, mode: 0o600) == .written)
        #expect(try bytes(path) == Self.new)
    }

    @Test("a read-only tmpfs (remounted ro: even root cannot write): EROFS naming the path; the old file stays",
          .enabled(if: SmallDisk.unavailableReason == nil, "\(SmallDisk.unavailableReason ?? "")"))
    func readOnlyDisk() throws {
        let directory = try TemporaryDirectory()
        let disk = try SmallDisk(at: directory.file("disk"), sizeKiB: 256)
        defer { disk.unmount() }
        let path = disk.path + "/app.env"
        try AtomicFileWriter().write(Self.old, to: path, mode: 0o600)
        try disk.setReadOnly(true)
        let error = try #require(throws: KeywardError.self) {
            try AtomicFileWriter().write(Self.new, to: path, mode: 0o600)
        }
        #expect(error.message == "cannot create a temporary file beside \(path): Read-only file system")
        #expect(try bytes(path) == Self.old)
        #expect(try FileManager.default.contentsOfDirectory(atPath: disk.path) == ["app.env"])
        // Unchanged content needs no write: a read-only disk holding it already is fine.
        #expect(try AtomicFileWriter().write(Self.old, to: path, mode: 0o600) == .unchanged)
        try disk.setReadOnly(false)
    }

    @Test("a failing block device (ext2 on a loop device over a full tmpfs): the error names the path and the kernel's reason (EIO); the old file stays",
          .enabled(if: FailingDisk.unavailableReason == nil, "\(FailingDisk.unavailableReason ?? "")"))
    func failingDisk() throws {
        let directory = try TemporaryDirectory()
        let disk = try FailingDisk(at: directory.file("disk"))
        defer { disk.unmount() }
        let path = disk.path + "/app.env"
        try AtomicFileWriter().write(Self.old, to: path, mode: 0o600)
        let before = inode(path)
        try disk.startFailing()
        // Large enough to need blocks of the image that were never written (mkfs wrote some).
        let large = Array(String(repeating: "NEW_KEY='new value'\n", count: 50_000).utf8)
        let error = try #require(throws: KeywardError.self) {
            try AtomicFileWriter().write(large, to: path, mode: 0o600)
        }
        // The loop device passes its backing file's failure up as EIO (seen here) or, for some
        // writes on newer kernels, as ENOSPC: either way the system's reason, with the path.
        #expect(error.message.contains(path), "\(error.message)")
        #expect(error.message.hasSuffix(": Input/output error") || error.message.hasSuffix(": No space left on device"), "\(error.message)")
        #expect(try bytes(path) == Self.old)
        #expect(inode(path) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: disk.path) == ["app.env"])
        // No "works again" check: after I/O errors ext2's free-block count is off (a later
        // write of the same size answered ENOSPC), which is the file system's business.
    }
}

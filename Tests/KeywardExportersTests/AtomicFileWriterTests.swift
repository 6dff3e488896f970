import Foundation
import KeywardCore
@testable import KeywardExporters
import Testing

@Suite("AtomicFileWriter: rename into place, never through a link, untouched when unchanged")
struct AtomicFileWriterTests {
    let writer = AtomicFileWriter()

    private func stat(_ path: String) throws -> stat {
        var info = Glibc.stat()
        guard lstat(path, &info) == 0 else { throw Readers.Failure(description: "lstat \(path): \(errno)") }
        return info
    }

    private func contents(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test("a new file holds exactly the bytes, with the mode asked for whatever the umask", arguments: [UInt16(0o600), 0o640, 0o644])
    func createsWithMode(mode: UInt16) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("app.env")
        let outcome = try writer.write(Array("A='1'\n".utf8), to: path, mode: mode)
        #expect(outcome == .written)
        #expect(try contents(path) == Array("A='1'\n".utf8))
        #expect(try stat(path).st_mode & 0o7777 == mode_t(mode))
        #expect(try directory.contents() == ["app.env"])
    }

    @Test("an empty file can be written")
    func emptyFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("empty")
        #expect(try writer.write([], to: path, mode: 0o600) == .written)
        #expect(try contents(path).isEmpty)
        #expect(try writer.write([], to: path, mode: 0o600) == .unchanged)
    }

    @Test("the same bytes and mode again: unchanged, and the inode and mtime are kept")
    func unchangedKeepsFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("app.env")
        try writer.write(Array("same".utf8), to: path, mode: 0o600)
        // Age the file so that any rewrite would show in the mtime.
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let before = try stat(path)
        #expect(try writer.write(Array("same".utf8), to: path, mode: 0o600) == .unchanged)
        let after = try stat(path)
        #expect(after.st_ino == before.st_ino)
        #expect(after.st_mtim.tv_sec == 1_000_000_000)
        #expect(try directory.contents() == ["app.env"])
    }

    @Test("changed bytes replace the file by rename: a new inode, and a reader holding the old file still sees the old bytes")
    func changedReplaces() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("app.env")
        try writer.write(Array("old contents".utf8), to: path, mode: 0o600)
        let before = try stat(path)
        let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? reader.close() }
        #expect(try writer.write(Array("new".utf8), to: path, mode: 0o600) == .written)
        #expect(try stat(path).st_ino != before.st_ino)
        #expect(try contents(path) == Array("new".utf8))
        #expect(try reader.readToEnd() == Data("old contents".utf8))
        #expect(try directory.contents() == ["app.env"])
    }

    @Test("the same bytes with another mode are written again, with the new mode")
    func modeChangeRewrites() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("app.env")
        try writer.write(Array("x".utf8), to: path, mode: 0o644)
        #expect(try writer.write(Array("x".utf8), to: path, mode: 0o600) == .written)
        #expect(try stat(path).st_mode & 0o7777 == 0o600)
    }

    @Test("a target that is a symbolic link is refused and neither the link nor its target changes")
    func refusesSymlink() throws {
        let directory = try TemporaryDirectory()
        let real = directory.file("real.env")
        let link = directory.file("app.env")
        try Data("original".utf8).write(to: URL(fileURLWithPath: real))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        let error = try #require(throws: KeywardError.self) { try writer.write(Array("new".utf8), to: link, mode: 0o600) }
        #expect(error.category == .usage)
        #expect(error.message.contains(link))
        #expect(error.message.contains("symbolic link"))
        #expect(try contents(real) == Array("original".utf8))
        #expect(try stat(link).st_mode & S_IFMT == S_IFLNK)
        #expect(try directory.contents() == ["app.env", "real.env"])
        // A dry run refuses it the same way.
        #expect(throws: KeywardError.self) { try writer.outcome(of: [], at: link, mode: 0o600) }
    }

    @Test("a dangling symbolic link is refused too, and nothing is created where it points")
    func refusesDanglingSymlink() throws {
        let directory = try TemporaryDirectory()
        let link = directory.file("app.env")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory.file("nowhere"))
        #expect(throws: KeywardError.self) { try writer.write(Array("new".utf8), to: link, mode: 0o600) }
        #expect(try directory.contents() == ["app.env"])
    }

    @Test("a missing parent directory is an error naming it; nothing is created")
    func missingParent() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("missing/app.env")
        let error = try #require(throws: KeywardError.self) { try writer.write(Array("x".utf8), to: path, mode: 0o600) }
        #expect(error.category == .usage)
        #expect(error.message.contains(directory.file("missing")))
        #expect(error.message.contains("does not exist"))
        #expect(try directory.contents().isEmpty)
    }

    @Test("a parent that is a file, a target that is a directory: refused")
    func notAFile() throws {
        let directory = try TemporaryDirectory()
        try Data().write(to: URL(fileURLWithPath: directory.file("plain")))
        #expect(throws: KeywardError.self) { try writer.write([], to: directory.file("plain/app.env"), mode: 0o600) }
        try FileManager.default.createDirectory(atPath: directory.file("dir"), withIntermediateDirectories: false)
        let error = try #require(throws: KeywardError.self) { try writer.write([], to: directory.file("dir"), mode: 0o600) }
        #expect(error.message.contains("directory"))
        #expect(try directory.contents() == ["dir", "plain"])
    }

    @Test("a symbolic link in the directory part is followed (deploy/ -> releases/1)")
    func followsDirectoryLink() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("release"), withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: directory.file("deploy"), withDestinationPath: directory.file("release"))
        #expect(try writer.write(Array("x".utf8), to: directory.file("deploy/app.env"), mode: 0o600) == .written)
        #expect(try contents(directory.file("release/app.env")) == Array("x".utf8))
    }

    @Test("a failure after the temporary file was written removes it and leaves the old file intact")
    func failureCleansUp() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("app.env")
        try writer.write(Array("old".utf8), to: path, mode: 0o600)
        let inode = try stat(path).st_ino
        let failing = AtomicFileWriter(fault: .beforeRename)
        #expect(throws: KeywardError.self) { try failing.write(Array("new".utf8), to: path, mode: 0o600) }
        #expect(try directory.contents() == ["app.env"])
        #expect(try contents(path) == Array("old".utf8))
        #expect(try stat(path).st_ino == inode)
    }

    @Test("outcome(of:at:mode:) says what a write would do and writes nothing")
    func dryRun() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("app.env")
        #expect(try writer.outcome(of: Array("x".utf8), at: path, mode: 0o600) == .written)
        #expect(try directory.contents().isEmpty)
        try writer.write(Array("x".utf8), to: path, mode: 0o600)
        #expect(try writer.outcome(of: Array("x".utf8), at: path, mode: 0o600) == .unchanged)
        #expect(try writer.outcome(of: Array("y".utf8), at: path, mode: 0o600) == .written)
        #expect(try contents(path) == Array("x".utf8))
    }

    @Test("a relative path writes in the current directory's terms, and paths like 'dir/' are refused")
    func oddPaths() throws {
        #expect(throws: KeywardError.self) { try writer.write([], to: "", mode: 0o600) }
        let directory = try TemporaryDirectory()
        #expect(throws: KeywardError.self) { try writer.write([], to: directory.path + "/", mode: 0o600) }
        #expect(throws: KeywardError.self) { try writer.write([], to: directory.path + "/..", mode: 0o600) }
    }
}

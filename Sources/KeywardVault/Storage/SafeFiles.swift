import Foundation
import KeywardCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// File-system rules for the vault and its companions: private modes, no symbolic links,
/// atomic replacement (DESIGN.md, "Files and defaults").
enum SafeFiles {
    /// Identity of a file as `lstat` saw it, to detect a swap between check and open.
    struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
    }

    /// Creates the directory (and missing parents) with mode 0700, or checks an existing one:
    /// it must be a directory not writable by group or others.
    static func ensurePrivateDirectory(_ path: String) throws {
        var info = stat()
        if stat(path, &info) != 0 {
            guard errno == ENOENT else { throw VaultError.io("cannot inspect \(path): \(errnoText())") }
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty, parent != path { try ensurePrivateDirectory(parent) }
            if mkdir(path, 0o700) != 0, errno != EEXIST {
                throw VaultError.io("cannot create the directory \(path): \(errnoText())")
            }
            return
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw VaultError(.unsafeFile, "\(path) is not a directory")
        }
    }

    /// Refuses a directory that others could write into (they could swap the vault file).
    static func checkDirectoryNotShared(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw VaultError.io("cannot inspect \(path): \(errnoText())") }
        let sticky = (info.st_mode & S_ISVTX) != 0
        if (info.st_mode & 0o022) != 0 && !sticky {
            throw VaultError(
                .unsafeFile,
                "the directory \(path) is writable by group or others (mode \(String(info.st_mode & 0o7777, radix: 8))); run chmod 700 on it")
        }
    }

    /// Checks an existing vault (or key) file without following a symbolic link: a regular
    /// file, owned by this user, not accessible by group or others.
    /// - Returns: `nil` when the file does not exist.
    @discardableResult
    static func checkPrivateFile(_ path: String, what: String = "vault") throws -> Identity? {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return nil }
            throw VaultError.io("cannot inspect the \(what) file \(path): \(errnoText())")
        }
        if (info.st_mode & S_IFMT) == S_IFLNK {
            throw VaultError(.unsafeFile, "the \(what) file \(path) is a symbolic link; refusing to follow it")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw VaultError(.unsafeFile, "the \(what) file \(path) is not a regular file")
        }
        guard info.st_uid == geteuid() else {
            throw VaultError(.unsafeFile, "the \(what) file \(path) belongs to another user")
        }
        if (info.st_mode & 0o077) != 0 {
            throw VaultError(
                .unsafeFile,
                "the \(what) file \(path) is accessible by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 on it")
        }
        return Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Creates `path` with mode 0600 and writes `contents`, refusing an existing file or a
    /// symbolic link (O_EXCL | O_NOFOLLOW), then fsyncs it.
    static func createExclusive(path: String, contents: [UInt8]) throws {
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw VaultError(.invalidInput, "\(path) already exists; refusing to overwrite it") }
            throw VaultError.io("cannot create \(path): \(errnoText())")
        }
        defer { close(fd) }
        try writeAll(fd: fd, contents, path: path)
        guard fsync(fd) == 0 else { throw VaultError.io("cannot fsync \(path): \(errnoText())") }
    }

    /// Replaces `path` atomically with a private file (0600) holding `contents`, with the
    /// package's one atomic writer (``AtomicFileWriter``: a temporary file in the same
    /// directory, fsync, rename over the target, fsync of the directory; a symbolic link at
    /// `path` is refused, never followed or replaced).
    /// - Throws: ``VaultError`` `.unsafeFile` for a link or another non-regular file at `path`,
    ///   `.io` for file-system failures.
    static func replaceAtomically(path: String, contents: [UInt8]) throws {
        do {
            try AtomicFileWriter().write(contents, to: path, mode: 0o600)
        } catch let error as KeywardError {
            throw VaultError(error.category == .usage ? .unsafeFile : .io, error.message)
        }
    }

    /// Writes `contents` at `offset` of an existing private file of exactly `expectedSize`
    /// bytes, in place (no symbolic link followed; a regular file of this user, mode 0600 or
    /// stricter), then `fdatasync` when `sync`.
    /// - Returns: `false`, writing nothing, when the file does not exist or has another size.
    static func overwriteInPlace(path: String, expectedSize: Int, offset: Int, contents: [UInt8], sync: Bool) throws -> Bool {
        precondition(offset >= 0 && offset + contents.count <= expectedSize)
        let fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return false }
            if errno == ELOOP { throw VaultError(.unsafeFile, "\(path) is a symbolic link; refusing to follow it") }
            throw VaultError.io("cannot open \(path): \(errnoText())")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw VaultError.io("cannot inspect \(path): \(errnoText())") }
        guard (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == geteuid(), (info.st_mode & 0o077) == 0 else {
            throw VaultError(.unsafeFile, "\(path) is not a private regular file of this user")
        }
        guard Int(info.st_size) == expectedSize else { return false }
        var written = 0
        while written < contents.count {
            let count = contents.withUnsafeBytes { pwrite(fd, $0.baseAddress! + written, $0.count - written, off_t(offset + written)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw VaultError.io("cannot write \(path): \(errnoText())")
            }
            written += count
        }
        if sync, fdatasync(fd) != 0 { throw VaultError.io("cannot sync \(path): \(errnoText())") }
        return true
    }

    /// Reads a small file without following a symbolic link.
    static func readNoFollow(_ path: String, limit: Int = 1 << 16) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw VaultError.io("cannot open \(path): \(errnoText())")
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw VaultError.io("cannot read \(path): \(errnoText())")
            }
            if count == 0 { break }
            result += buffer[0..<count]
            if result.count > limit { throw VaultError.io("\(path) is unexpectedly large") }
        }
        return result
    }

    private static func writeAll(fd: Int32, _ contents: [UInt8], path: String) throws {
        var offset = 0
        while offset < contents.count {
            let written = contents.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw VaultError.io("cannot write \(path): \(errnoText())")
            }
            offset += written
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Replaces a file's contents all at once, the way every Keyward file sink must (DESIGN.md,
/// "Sinks"), and the way the vault writes its rollback anchor anew: a reader sees either the old
/// file or the new one, never a half-written one, and a crash leaves the old file in place.
/// The one atomic writer of the package: KeywardExporters' sinks, the CLI's `export --out` and
/// schedule files, and KeywardVault's anchor use it.
///
/// A write
/// 1. refuses a target that is a symbolic link (checked with `lstat`, never followed), or
///    anything but a regular file;
/// 2. refuses when the parent directory does not exist (it is never created);
/// 3. returns ``SinkWriteOutcome/unchanged`` and touches nothing (contents, mode, inode and
///    mtime stay as they were) when the file already holds exactly these bytes with this mode;
/// 4. otherwise writes a temporary file beside the target (created with `O_CREAT | O_EXCL |
///    O_NOFOLLOW` and `mode`, then `fchmod` so the umask cannot widen or narrow it), fsyncs it,
///    renames it over the target and fsyncs the directory, so the rename itself is durable.
///
/// The temporary file is named `.<name>.keyward-<pid>-<random hex>.tmp`. A process killed
/// mid-write leaves its temporary file (plaintext) behind, so every write of a target, changed
/// or not, first removes the stale temporaries of that target: those whose
/// writer process is gone, those older than an hour (the pid may have been reused, or belongs
/// to another host or container sharing the directory), and those of older Keyward versions
/// (no pid in the name) older than ten minutes. A live writer's temporary file is kept: a write
/// takes milliseconds.
///
/// On any failure the temporary file is removed and the old file is left intact. The
/// directory is opened once and every later step works relative to that descriptor, so a
/// directory renamed or swapped mid-write cannot redirect the temporary file or the rename.
///
/// A symbolic link in the directory part of the path is followed: a deployment whose
/// `deploy/` is a link to a release directory keeps working. Only the final component, the
/// file that is replaced, must not be a link.
///
/// Errors are ``KeywardError``s that name the path and the system's reason, never the
/// contents: ``FailureCategory/usage`` for a missing directory or a target that is a link, a
/// directory or another non-regular file; ``FailureCategory/operationFailed`` for I/O errors.
package struct AtomicFileWriter: Sendable {
    /// Where a write can be made to fail on purpose, so tests can check the clean-up path
    /// without a full or failing disk. The errno variants fail that system call as the kernel
    /// would (e.g. `ENOSPC`, `EIO`), through the same error path and message.
    package enum FaultPoint: Sendable, Equatable {
        /// After the temporary file was written and synced, before the rename.
        case beforeRename
        /// `write(2)` of the temporary file fails with this errno after half the bytes were
        /// written (a disk that fills mid-write); with no bytes, at once.
        case write(CInt)
        /// `fsync(2)` of the temporary file fails with this errno.
        case fileSync(CInt)
        /// `renameat(2)` over the target fails with this errno.
        case rename(CInt)
        /// `fsync(2)` of the directory after the rename fails with this errno (the new file is
        /// in place by then; the error says so).
        case directorySync(CInt)
    }

    var fault: FaultPoint?

    package init() {}

    package init(fault: FaultPoint?) {
        self.fault = fault
    }

    /// Writes `bytes` to `path` with permission bits `mode` (e.g. `0o600`), atomically.
    ///
    /// - Returns: ``SinkWriteOutcome/unchanged`` when the file already held these bytes with this
    ///   mode (nothing was touched), ``SinkWriteOutcome/written`` otherwise.
    /// - Throws: ``KeywardError`` naming `path` (see the type's documentation for categories).
    @discardableResult
    package func write(_ bytes: [UInt8], to path: String, mode: UInt16) throws -> SinkWriteOutcome {
        let target = try Target(path: path)
        let directory = try target.openDirectory()
        defer { close(directory) }
        target.removeStaleTemporaries(in: directory, now: time(nil))
        if try target.holds(bytes, mode: mode, in: directory) { return .unchanged }
        try target.replace(with: bytes, mode: mode, in: directory, fault: fault)
        return .written
    }

    /// What ``write(_:to:mode:)`` would return, with the same checks and refusals, without
    /// writing anything: for `--dry-run`.
    package func outcome(of bytes: [UInt8], at path: String, mode: UInt16) throws -> SinkWriteOutcome {
        let target = try Target(path: path)
        let directory = try target.openDirectory()
        defer { close(directory) }
        return try target.holds(bytes, mode: mode, in: directory) ? .unchanged : .written
    }
}

/// One target path split into its directory and file name.
private struct Target {
    let path: String
    let directory: String
    let name: String

    init(path: String) throws {
        guard !path.isEmpty, !path.hasSuffix("/") else {
            throw KeywardError.usage("\(path.isEmpty ? "an empty path" : path) does not name a file")
        }
        self.path = path
        if let slash = path.lastIndex(of: "/") {
            let parent = String(path[..<slash])
            directory = parent.isEmpty ? "/" : parent
            name = String(path[path.index(after: slash)...])
        } else {
            directory = "."
            name = path
        }
        guard name != ".", name != ".." else {
            throw KeywardError.usage("\(path) does not name a file")
        }
    }

    func openDirectory() throws -> CInt {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT {
                throw KeywardError.usage("cannot write \(path): the directory \(directory) does not exist (create it first)")
            }
            if code == ENOTDIR {
                throw KeywardError.usage("cannot write \(path): \(directory) is not a directory")
            }
            throw failure("cannot open the directory \(directory)", code)
        }
        return fd
    }

    /// `true` when the target is a regular file holding exactly `bytes` with permission bits
    /// `mode`; `false` when it is absent, differs, or cannot be read (then it is replaced).
    func holds(_ bytes: [UInt8], mode: UInt16, in directory: CInt) throws -> Bool {
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            let code = errno
            if code == ENOENT { return false }
            throw failure("cannot inspect \(path)", code)
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            break
        case S_IFLNK:
            throw KeywardError.usage("refusing to write \(path): it is a symbolic link (Keyward never writes through a link; remove it or point the sink at the real file)")
        case S_IFDIR:
            throw KeywardError.usage("cannot write \(path): it is a directory")
        default:
            throw KeywardError.usage("refusing to write \(path): it is not a regular file")
        }
        guard Int(info.st_size) == bytes.count, UInt16(info.st_mode & 0o7777) == mode else { return false }

        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        // Unreadable (e.g. another owner's file in our directory): replace it rather than fail.
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var existing = [UInt8](repeating: 0, count: bytes.count + 1)
        var total = 0
        while total < existing.count {
            let count = existing.withUnsafeMutableBytes { buffer in
                read(fd, buffer.baseAddress! + total, buffer.count - total)
            }
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            if count == 0 { break }
            total += count
        }
        guard total == bytes.count else { return false }
        return existing[..<total].elementsEqual(bytes)
    }

    func replace(with bytes: [UInt8], mode: UInt16, in directory: CInt, fault: AtomicFileWriter.FaultPoint?) throws {
        let (fd, temporary) = try createTemporary(mode: mode, in: directory)
        var renamed = false
        defer {
            if !renamed { unlinkat(directory, temporary, 0) }
        }
        do {
            defer { close(fd) }
            // The umask applied at creation; set the mode the configuration asked for.
            guard fchmod(fd, mode_t(mode)) == 0 else { throw failure("cannot set the mode of a temporary file for \(path)", errno) }
            try writeAll(bytes, to: fd, fault: fault)
            if case .fileSync(let code) = fault { throw failure("cannot sync \(path)", code) }
            guard fsync(fd) == 0 else { throw failure("cannot sync \(path)", errno) }
        }
        if fault == .beforeRename {
            throw KeywardError.operationFailed("cannot write \(path): injected failure before rename")
        }
        // Debug builds: KEYWARD_CRASH_AT=sink-before-rename dies here, leaving the temporary file.
        CrashHook.at(.sinkBeforeRename)
        if case .rename(let code) = fault { throw failure("cannot replace \(path)", code) }
        guard renameat(directory, temporary, directory, name) == 0 else {
            throw failure("cannot replace \(path)", errno)
        }
        renamed = true
        // Without this the rename may not survive a power cut. Some file systems cannot sync a
        // directory (EINVAL); the file's own data is synced already, so that is not an error.
        if case .directorySync(let code) = fault {
            throw failure("wrote \(path), but cannot sync its directory \(self.directory)", code)
        }
        if fsync(directory) != 0, errno != EINVAL {
            throw failure("wrote \(path), but cannot sync its directory \(self.directory)", errno)
        }
    }

    /// The start of every temporary file's name for this target.
    var temporaryPrefix: String { ".\(name).keyward-" }

    /// A temporary file whose writer is gone older than this is removed at once; one whose pid
    /// is alive, or that names no pid, only when older than these (seconds).
    static let reusedPidAge: time_t = 3_600
    static let legacyAge: time_t = 600

    /// Removes this target's temporary files that no live writer owns (see ``AtomicFileWriter``).
    /// Best effort: what cannot be read or removed is left for the next write.
    func removeStaleTemporaries(in directory: CInt, now: time_t) {
        let listing = dup(directory)
        guard listing >= 0, let stream = fdopendir(listing) else {
            if listing >= 0 { close(listing) }
            return
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if file.hasPrefix(temporaryPrefix) && file.hasSuffix(".tmp") { names.append(file) }
        }
        for file in names {
            var info = stat()
            guard fstatat(directory, file, &info, AT_SYMLINK_NOFOLLOW) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            #if canImport(Darwin)
            let age = now - info.st_mtimespec.tv_sec
            #else
            let age = now - info.st_mtim.tv_sec
            #endif
            let middle = file.dropFirst(temporaryPrefix.count).dropLast(".tmp".count)
            let stale: Bool
            if let dash = middle.firstIndex(of: "-"), let pid = pid_t(middle[..<dash]) {
                let gone = pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
                stale = gone || age > Self.reusedPidAge
            } else {
                stale = age > Self.legacyAge
            }
            if stale { unlinkat(directory, file, 0) }
        }
    }

    private func createTemporary(mode: UInt16, in directory: CInt) throws -> (CInt, String) {
        for _ in 0..<8 {
            let suffix = String(UInt64.random(in: .min ... .max), radix: 16)
            let candidate = "\(temporaryPrefix)\(getpid())-\(suffix).tmp"
            let fd = openat(directory, candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
            if fd >= 0 { return (fd, candidate) }
            let code = errno
            if code != EEXIST { throw failure("cannot create a temporary file beside \(path)", code) }
        }
        throw KeywardError.operationFailed("cannot create a temporary file beside \(path): too many name collisions")
    }

    private func writeAll(_ bytes: [UInt8], to fd: CInt, fault: AtomicFileWriter.FaultPoint?) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            var end = buffer.count
            if case .write = fault { end = buffer.count / 2 }
            while offset < end {
                let count = write(fd, buffer.baseAddress! + offset, end - offset)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw failure("cannot write \(path)", errno)
                }
                offset += count
            }
            if case .write(let code) = fault { throw failure("cannot write \(path)", code) }
        }
    }

    private func failure(_ what: String, _ code: CInt) -> KeywardError {
        KeywardError.operationFailed("\(what): \(String(cString: strerror(code)))")
    }
}

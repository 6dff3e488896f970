import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A small tmpfs mounted for one test, to be filled to the last byte or made read-only: the
/// disk-fault tests (issue 16, item 2) run Keyward against a real `ENOSPC` and `EROFS`.
///
/// Mounting needs root or `CAP_SYS_ADMIN` (CI runs as root). Where it is not possible,
/// ``unavailableReason`` says why, and the suites are disabled with that reason
/// (`.enabled(if: SmallDisk.unavailableReason == nil, …)`), which Swift Testing reports as a
/// skipped test with its reason: never a silent pass.
///
/// Always ``unmount()`` (in a `defer`): a mount left behind outlives the test process.
public final class SmallDisk: @unchecked Sendable {
    /// The mount point (created 0700 when absent).
    public let path: String
    private var mounted = false
    private static let fillerName = ".keyward-test-filler"

    /// Why this process cannot mount a tmpfs (not root, no mount permission), or `nil` when it can:
    /// found once by mounting and unmounting a 64 KiB tmpfs on a scratch directory.
    public static let unavailableReason: String? = {
        #if os(Linux)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-mount-probe-\(UUID().uuidString)").path
        guard mkdir(scratch, 0o700) == 0 else { return "cannot create \(scratch): \(String(cString: strerror(errno)))" }
        defer { rmdir(scratch) }
        guard mount("tmpfs", scratch, "tmpfs", 0, "size=64k,mode=0700") == 0 else {
            return "cannot mount a tmpfs (\(String(cString: strerror(errno)))): the disk-fault tests need root or CAP_SYS_ADMIN, as CI has"
        }
        umount2(scratch, 0)
        return nil
        #else
        return "tmpfs mounts are Linux only"
        #endif
    }()

    /// Mounts a tmpfs of `sizeKiB` KiB at `path` (mode 0700, owned by the caller).
    /// - Throws: ``Failure`` naming the path and the system's reason.
    public init(at path: String, sizeKiB: Int) throws {
        self.path = path
        if mkdir(path, 0o700) != 0, errno != EEXIST { throw Failure("mkdir \(path): \(String(cString: strerror(errno)))") }
        guard mount("tmpfs", path, "tmpfs", 0, "size=\(sizeKiB)k,mode=0700") == 0 else {
            throw Failure("mount -t tmpfs \(path): \(String(cString: strerror(errno)))")
        }
        mounted = true
    }

    /// Bytes free for an ordinary write (`statvfs`'s available blocks times the block size).
    public var freeBytes: Int {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return -1 }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// Fills the disk with a filler file (at the mount's root, named `.keyward-test-filler`),
    /// leaving `leaving` bytes free (rounded down to pages): 0 means every byte, written until
    /// `write(2)` answers `ENOSPC` even for one byte.
    /// - Throws: ``Failure`` when the filler cannot be created, or the disk was already fuller.
    public func fill(leaving: Int = 0) throws {
        let filler = path + "/" + Self.fillerName
        let fd = open(filler, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure("open \(filler): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x5A, count: 64 * 1024)
        if leaving > 0 {
            while true {
                let count = min(chunk.count, (freeBytes - leaving) / 4096 * 4096)
                guard count > 0 else { return }
                let wrote = chunk.withUnsafeBytes { write(fd, $0.baseAddress!, count) }
                guard wrote > 0 else { throw Failure("write \(filler): \(String(cString: strerror(errno)))") }
            }
        }
        var size = chunk.count
        while true {
            let wrote = chunk.withUnsafeBytes { write(fd, $0.baseAddress!, size) }
            if wrote >= 0 { continue }
            guard errno == ENOSPC else { throw Failure("write \(filler): \(String(cString: strerror(errno)))") }
            if size == 1 { return }
            size /= 2
        }
    }

    /// Removes the filler file: the space ``fill(leaving:)`` took is free again.
    public func free() {
        unlink(path + "/" + Self.fillerName)
    }

    /// Remounts the disk read-only (`true`: every write answers `EROFS`, even root's) or
    /// read-write again.
    /// - Throws: ``Failure`` with the system's reason.
    public func setReadOnly(_ readOnly: Bool) throws {
        let flags = UInt(MS_REMOUNT) | (readOnly ? UInt(MS_RDONLY) : 0)
        guard mount("tmpfs", path, "tmpfs", flags, nil) == 0 else {
            throw Failure("mount -o remount,\(readOnly ? "ro" : "rw") \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Unmounts the disk (lazily, should a file still be open in it) and removes the mount
    /// point. Safe to call twice.
    public func unmount() {
        guard mounted else { return }
        mounted = false
        if umount2(path, 0) != 0 { umount2(path, CInt(MNT_DETACH)) }
        rmdir(path)
    }

    deinit { unmount() }

    /// A mount or fill that did not work, with the system's reason.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

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

/// A disk that answers `EIO`, for real: an ext2 file system mounted `sync,errors=continue` on a
/// loop device whose backing file lives on a ``SmallDisk``. Once ``startFailing()`` fills that
/// tmpfs, the loop device cannot allocate blocks of its (sparse) backing file, and every write
/// of new data fails with "Input/output error" as on a dying disk.
///
/// Needs what ``SmallDisk`` needs plus `losetup` and `mkfs.ext2` and a free loop device;
/// ``unavailableReason`` says what is missing. Always ``unmount()`` in a `defer`.
public final class FailingDisk: @unchecked Sendable {
    /// The mount point of the ext2 file system (mode 0700).
    public let path: String
    private let backing: SmallDisk
    private var device: String?

    /// Why a failing disk cannot be made here, or `nil`.
    public static let unavailableReason: String? = {
        if let reason = SmallDisk.unavailableReason { return reason }
        for tool in ["/usr/sbin/losetup", "/usr/sbin/mkfs.ext2"] where access(tool, X_OK) != 0 {
            return "\(tool) is missing: the EIO tests need util-linux's losetup and e2fsprogs"
        }
        guard access("/dev/loop-control", F_OK) == 0 else { return "no /dev/loop-control: the EIO tests need loop devices" }
        return nil
    }()

    /// Makes and mounts an ext2 file system of `sizeKiB` KiB at `path`.
    /// - Throws: ``SmallDisk/Failure`` naming the step that failed.
    public init(at path: String, sizeKiB: Int = 8_192) throws {
        self.path = path
        backing = try SmallDisk(at: path + ".backing", sizeKiB: sizeKiB + 1_024)
        do {
            let image = backing.path + "/image"
            let fd = open(image, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            guard fd >= 0, ftruncate(fd, off_t(sizeKiB) * 1_024) == 0 else {
                if fd >= 0 { close(fd) }
                throw SmallDisk.Failure("create the sparse image \(image): \(String(cString: strerror(errno)))")
            }
            close(fd)
            let attached = try Self.run("/usr/sbin/losetup", ["-f", "--show", image]).trimmingCharacters(in: .whitespacesAndNewlines)
            device = attached
            _ = try Self.run("/usr/sbin/mkfs.ext2", ["-q", "-F", attached])
            if mkdir(path, 0o700) != 0, errno != EEXIST { throw SmallDisk.Failure("mkdir \(path): \(String(cString: strerror(errno)))") }
            guard mount(attached, path, "ext2", UInt(MS_SYNCHRONOUS), "errors=continue") == 0 else {
                throw SmallDisk.Failure("mount \(attached) \(path): \(String(cString: strerror(errno)))")
            }
            chmod(path, 0o700)
            // ext2 leaves lost+found: keep the root holding only what the test writes.
            rmdir(path + "/lost+found")
        } catch {
            unmount()
            throw error
        }
    }

    /// From now on, writes of new data answer `EIO` (the backing tmpfs is full).
    public func startFailing() throws { try backing.fill() }

    /// Writes work again.
    public func stopFailing() { backing.free() }

    /// Unmounts the file system, detaches the loop device and unmounts the backing tmpfs.
    /// Safe to call twice.
    public func unmount() {
        backing.free()
        if umount2(path, 0) != 0 { umount2(path, CInt(MNT_DETACH)) }
        rmdir(path)
        if let device {
            _ = try? Self.run("/usr/sbin/losetup", ["-d", device])
            self.device = nil
        }
        backing.unmount()
    }

    deinit { unmount() }

    private static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SmallDisk.Failure("\(tool) \(arguments.joined(separator: " ")): \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self)
    }
}

import Foundation
import KeywardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading and writing the holder line of a lock file: only the vault's lock files have one
/// (Core knows the line's format, never a lock file).
extension LockHolder {
    /// Records `self` in the open lock file `descriptor` (replacing what an earlier holder left).
    /// Best effort: the lock holds whether or not this succeeds.
    func record(in descriptor: Int32) {
        guard ftruncate(descriptor, 0) == 0 else { return }
        let bytes = Array(fileContents.utf8)
        _ = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    /// The holder recorded in the lock file at `path`, or `nil` when it says nothing usable.
    static func recorded(at path: String) -> LockHolder? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return LockHolder(fileContents: String(decoding: buffer[..<count], as: UTF8.self))
    }

    /// "held by a sync (pid 4242, since …)", or "held by another job" when the file says nothing.
    static func heldBy(path: String) -> String {
        recorded(at: path).map { "held by \($0)" } ?? "held by another job"
    }
}

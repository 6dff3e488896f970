import Foundation
import KeywardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The token locks beside the vault (DESIGN.md, "Files and defaults"): `<vault>.locks/<entity>.token.lock`
/// and `<vault>.locks/providers-<NAME>.user-token.lock`, each an exclusive `flock(2)` that the
/// kernel releases when the holder exits or dies, so a killed process never leaves one held.
extension Vault: MintCoordinator {
    public func withMintLock<T: Sendable>(_ key: MintLockKey, operation: String, timeout: Duration,
                                          _ body: (_ locked: Bool) async throws -> T) async throws -> T
    {
        let lock = try await MintLockFile.acquire(directory: path + ".locks", name: key.fileName, operation: operation,
                                                  timeout: timeout)
        defer { withExtendedLifetime(lock) {} }
        return try await body(lock != nil)
    }
}

/// One held token lock file; closing it (deinit) releases the lock.
final class MintLockFile: @unchecked Sendable {
    private let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        // The holder line describes a holder that no longer exists: clear it first.
        _ = ftruncate(descriptor, 0)
        close(descriptor)
    }

    /// Poll interval while another process holds the lock (milliseconds): a mint takes one
    /// round trip, so waiters learn of it within a few of these.
    static let pollMilliseconds = 20

    /// Takes the lock, waiting up to `timeout`; `nil` when the wait ran out.
    static func acquire(directory: String, name: String, operation: String, timeout: Duration) async throws -> MintLockFile? {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw KeywardError.operationFailed("cannot create the lock directory \(directory): \(String(cString: strerror(errno)))")
        }
        let path = directory + "/" + name
        // O_CLOEXEC: a hook or plugin started while the lock is held must not inherit it.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw KeywardError.operationFailed("cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        let deadline = ContinuousClock.now + max(.zero, timeout)
        while true {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
                LockHolder(operation: operation).record(in: descriptor)
                return MintLockFile(descriptor: descriptor)
            }
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else {
                close(descriptor)
                throw KeywardError.operationFailed("cannot lock \(path): \(String(cString: strerror(code)))")
            }
            if ContinuousClock.now >= deadline {
                close(descriptor)
                return nil
            }
            try? await Task.sleep(for: .milliseconds(pollMilliseconds))
        }
    }
}

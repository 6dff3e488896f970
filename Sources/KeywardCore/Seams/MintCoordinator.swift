import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One mint per expiry across processes (DESIGN.md, "Files and defaults"):
/// a process that finds a token due takes the token lock, reads the vault again (another
/// process may just have minted), and mints only when it is still due. Waiting is bounded:
/// the lock is waited on up to the provider's timeout, never a rotation lock.
///
/// The vault implements it with `flock(2)` on `<vault>.locks/…` (KeywardVault); Core knows
/// only this seam. A store without it mints without coordination.
public protocol MintCoordinator: Sendable {
    /// Runs `body` holding the token lock for `key`, after waiting for another holder for at
    /// most `timeout` (a `Duration`; polled, never blocking a thread). When the wait runs out, `body`
    /// runs anyway with `locked == false` (the holder is stuck or slow: the caller reads the
    /// vault again and mints only what is still due, so at worst there is one extra mint).
    ///
    /// - Parameters:
    ///   - operation: what the holder does, recorded in the lock file (``LockHolder``).
    /// - Throws: `body`'s error; an error of the lock directory or file.
    func withMintLock<T: Sendable>(_ key: MintLockKey, operation: String, timeout: Duration,
                                   _ body: (_ locked: Bool) async throws -> T) async throws -> T
}

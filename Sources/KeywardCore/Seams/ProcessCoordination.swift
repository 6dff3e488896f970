import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Who holds one of Keyward's lock files beside the vault (DESIGN.md, "Files and defaults"):
/// the holder writes it into the file once it has the lock, and a job that finds the lock held
/// reads it, so its message names what it met ("a sync, pid 4242, since …") instead of
/// "another job".
///
/// The file holds one line, `operation=<word> pid=<n> since=<seconds since 1970>`; the lock
/// itself is the `flock(2)` on the file, never its contents, so a line left by a process that
/// died is harmless (the kernel released its lock).
public struct LockHolder: Sendable, Equatable, CustomStringConvertible {
    /// What the holder is doing: `sync`, `rotation`, `recovery`, `token mint`, `user token mint`.
    public var operation: String
    /// The holder's process id.
    public var pid: Int32
    /// When it took the lock (UTC, whole seconds).
    public var since: Date

    public init(operation: String, pid: Int32 = getpid(), since: Date = Date()) {
        self.operation = operation
        self.pid = pid
        self.since = Date(timeIntervalSince1970: since.timeIntervalSince1970.rounded(.down))
    }

    /// The line written into the lock file.
    public var fileContents: String {
        "operation=\(operation.replacingOccurrences(of: " ", with: "-")) pid=\(pid) since=\(Int64(since.timeIntervalSince1970))\n"
    }

    /// Parses ``fileContents``; `nil` for an empty or foreign file.
    public init?(fileContents text: String) {
        var fields: [String: String] = [:]
        for pair in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let operation = fields["operation"], !operation.isEmpty, let pidText = fields["pid"], let pid = Int32(pidText),
            let sinceText = fields["since"], let seconds = Int64(sinceText)
        else { return nil }
        self.operation = operation.replacingOccurrences(of: "-", with: " ")
        self.pid = pid
        self.since = Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// `a sync (pid 4242, since 2026-12-06T21:30:00Z)`.
    public var description: String {
        // Every operation Keyward records takes "a": sync, rotation, recovery, (user) token mint.
        "a \(operation) (pid \(pid), since \(Timestamps.format(since)))"
    }
}

/// What one mint at a time is about: an entity's access token or a provider's user token.
public enum MintLockKey: Sendable, Hashable, CustomStringConvertible {
    case entityToken(EntityID)
    case userToken(provider: String)

    /// The lock file's name in `<vault>.locks` (DESIGN.md, "Files and defaults"):
    /// `<entity>.token.lock` and `providers-<NAME>.user-token.lock`.
    public var fileName: String {
        switch self {
        case .entityToken(let id): return "\(id.rawValue).token.lock"
        case .userToken(let provider):
            let safe = String(provider.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
            return "providers-\(safe).user-token.lock"
        }
    }

    public var description: String {
        switch self {
        case .entityToken(let id): return "\(id)'s entity token"
        case .userToken(let provider): return "provider \(provider)'s user token"
        }
    }
}

/// One mint per expiry across processes (DESIGN.md, "Files and defaults"):
/// a process that finds a token due takes the token lock, reads the vault again (another
/// process may just have minted), and mints only when it is still due. Waiting is bounded:
/// the lock is waited on up to the provider's timeout, never a rotation lock.
///
/// The vault implements it with `flock(2)` on `<vault>.locks/…` (KeywardVault); Core knows
/// only this seam. A store without it mints without coordination.
public protocol MintCoordinator: Sendable {
    /// Runs `body` holding the token lock for `key`, after waiting for another holder for at
    /// most `timeoutSeconds` (polled, never blocking a thread). When the wait runs out, `body`
    /// runs anyway with `locked == false` (the holder is stuck or slow: the caller reads the
    /// vault again and mints only what is still due, so at worst there is one extra mint).
    ///
    /// - Parameters:
    ///   - operation: what the holder does, recorded in the lock file (``LockHolder``).
    /// - Throws: `body`'s error; an error of the lock directory or file.
    func withMintLock<T: Sendable>(_ key: MintLockKey, operation: String, timeoutSeconds: Double,
                                   _ body: (_ locked: Bool) async throws -> T) async throws -> T
}

/// Sinks whose `onChange` has not succeeded since their output last changed:
/// a hook that failed, timed out or was interrupted is run again by the next `sync` or
/// `schedule run` cycle, even when the file did not change again, until it succeeds.
///
/// An entry is recorded before the hook runs (so a process killed in between leaves it
/// pending) and cleared when it succeeds. The vault keeps them beside itself (KeywardVault);
/// a store without this seam retries nothing.
public protocol HookLedger: Sendable {
    /// The sinks whose hook is pending, sorted.
    func pendingHooks() -> [String]
    /// Records that `sink`'s hook must run (again); `reason` says why (never a secret).
    func markHookPending(sink: String, reason: String) throws
    /// Clears `sink`'s pending hook.
    func clearPendingHook(sink: String)
    /// Runs `body` holding `sink`'s lock (one process at a time writes the sink and runs its
    /// hook), after waiting for another holder for at most `timeoutSeconds` (polled). When the
    /// wait runs out, `body` runs anyway with `locked == false` (at worst one extra hook run).
    /// So concurrent syncs run one hook per change of the file: the second finds the file
    /// unchanged and the marker cleared by the first.
    ///
    /// - Throws: `body`'s error; an error of the lock directory or file.
    func withSinkLock<T: Sendable>(sink: String, timeoutSeconds: Double,
                                   _ body: (_ locked: Bool) async throws -> T) async throws -> T
}

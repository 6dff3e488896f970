import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// hook), after waiting for another holder for at most `timeout` (a `Duration`; polled). When the
    /// wait runs out, `body` runs anyway with `locked == false` (at worst one extra hook run).
    /// So concurrent syncs run one hook per change of the file: the second finds the file
    /// unchanged and the marker cleared by the first.
    ///
    /// - Throws: `body`'s error; an error of the lock directory or file.
    func withSinkLock<T: Sendable>(sink: String, timeout: Duration,
                                   _ body: (_ locked: Bool) async throws -> T) async throws -> T
}

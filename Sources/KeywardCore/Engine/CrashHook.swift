import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The named steps at which debug builds may kill themselves (DESIGN.md, "Rotation", item 8:
/// `KEYWARD_CRASH_AT=<step>`): one list for the engine, the sinks and the vault, so a name
/// that is not here is reported (``CrashHook/problems(in:)``) instead of silently disabling a
/// crash test.
public enum CrashStep: String, Sendable, CaseIterable {
    /// Rotation: under the lock, before the journal's intent is written.
    case beforeJournal = "before-journal"
    /// Rotation: the intent (`pending`) is committed; reset not called.
    case afterJournal = "after-journal"
    /// Rotation: a fresh user token is in hand; the lease is about to advance to `sent`, the
    /// fence checked right before a reset (DESIGN.md, "Fencing the reset").
    case beforeSent = "before-sent"
    /// Rotation: the reset's answer (or the read that replaced it) is in memory, not stored.
    case afterResetAnswer = "after-reset-answer"
    /// Rotation: the new secret is stored `pending` and the journal is `stored`.
    case afterStore = "after-store"
    /// Rotation: the new secret was tested (entity token minted), not yet current.
    case afterToken = "after-token"
    /// A sync or rotation with a shared store: the service's secret is read and stored; its
    /// publication is next (a slow host, paused here, must not publish a stale secret).
    case beforePublish = "before-publish"
    /// Rotation with a shared store: the new secret is published; the sinks are not written.
    case afterPublish = "after-publish"
    /// Rotation or recovery: the new secret is current; the sinks are being written.
    case duringSinks = "during-sinks"
    /// A file sink: the temporary file is written, not yet renamed over the old one.
    case sinkBeforeRename = "sink-before-rename"
    /// The vault: a write transaction is about to commit.
    case vaultCommit = "vault.commit"
    /// The vault: `vault rekey` has re-sealed half of the entries.
    case vaultRekeyMidway = "vault.rekey-midway"
}

/// Debug builds' crash hook (DESIGN.md, "Rotation", item 8): `KEYWARD_CRASH_AT=<step>` kills
/// the process with SIGKILL at that step, so tests can prove recovery; `KEYWARD_PAUSE_AT=<step>`
/// stops it there with SIGSTOP (a holder paused past its lease, resumed with SIGCONT). Release
/// builds ignore both.
public enum CrashHook {
    /// The step names, in the order a rotation passes them, then the vault's.
    public static var steps: [String] { CrashStep.allCases.map(\.rawValue) }

    /// What is wrong with the debug hooks' variables (DESIGN.md, "Rotation", item 8), for a
    /// warning: an unknown step would silently disable a crash test. Release builds ignore
    /// both variables and report nothing. The CLI reports these once, at start.
    public static func problems(in environment: [String: String]) -> [String] {
        var problems: [String] = []
        #if DEBUG
        for variable in ["KEYWARD_CRASH_AT", "KEYWARD_PAUSE_AT"] {
            if let step = environment[variable], !step.isEmpty, CrashStep(rawValue: step) == nil {
                problems.append("\(variable): unknown step '\(step)' is ignored (steps: \(steps.joined(separator: ", ")))")
            }
        }
        if let raw = environment["KEYWARD_CLOCK_OFFSET_SECONDS"], !raw.isEmpty, SystemClock.offset(raw) == nil {
            problems.append("KEYWARD_CLOCK_OFFSET_SECONDS: '\(raw)' is ignored: expected a number of seconds within 100 years")
        }
        #endif
        return problems
    }

    /// Kills the process when `KEYWARD_CRASH_AT` names `step` (debug builds only).
    ///
    /// - Parameter environment: where to read the variable (the dispatcher's environment);
    ///   `nil` reads the process's with `getenv` (no dictionary built on a hot path).
    public static func at(_ step: CrashStep, environment: [String: String]? = nil) {
        #if DEBUG
        let named = environment.map { $0["KEYWARD_CRASH_AT"] } ?? getenv("KEYWARD_CRASH_AT").map { String(cString: $0) }
        if named == step.rawValue {
            kill(getpid(), SIGKILL)
        }
        let paused = environment.map { $0["KEYWARD_PAUSE_AT"] } ?? getenv("KEYWARD_PAUSE_AT").map { String(cString: $0) }
        if paused == step.rawValue {
            kill(getpid(), SIGSTOP)
        }
        #endif
    }
}

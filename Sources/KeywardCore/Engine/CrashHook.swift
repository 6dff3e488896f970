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
    /// Rotation: the reset's answer (or the read that replaced it) is in memory, not stored.
    case afterResetAnswer = "after-reset-answer"
    /// Rotation: the new secret is stored `pending` and the journal is `stored`.
    case afterStore = "after-store"
    /// Rotation: the new secret was tested (entity token minted), not yet current.
    case afterToken = "after-token"
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
/// the process with SIGKILL at that step, so tests can prove recovery. Release builds ignore it.
public enum CrashHook {
    /// The step names, in the order a rotation passes them, then the vault's.
    public static var steps: [String] { CrashStep.allCases.map(\.rawValue) }

    /// What is wrong with the debug hooks' variables (DESIGN.md, "Rotation", item 8), for a
    /// warning: an unknown step would silently disable a crash test. Release builds ignore
    /// both variables and report nothing. The CLI reports these once, at start.
    public static func problems(in environment: [String: String]) -> [String] {
        var problems: [String] = []
        #if DEBUG
        if let step = environment["KEYWARD_CRASH_AT"], !step.isEmpty, CrashStep(rawValue: step) == nil {
            problems.append("KEYWARD_CRASH_AT: unknown step '\(step)' is ignored (steps: \(steps.joined(separator: ", ")))")
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
        #endif
    }
}

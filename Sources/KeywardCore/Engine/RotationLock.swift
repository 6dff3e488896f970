import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An entity's rotation lock (DESIGN.md, "Rotation", item 2): an exclusive `flock(2)` on
/// `<vault>.locks/<entity>.lock`, held while the value lives. The kernel releases it when the
/// descriptor closes, so a process that dies never leaves it held.
///
/// `flock` locks belong to an open file description: a second `acquire` in the same process
/// fails like one in another process, which is what tests of concurrent jobs rely on.
///
/// The holder writes a ``LockHolder`` line into the file (what it does, its pid, since when) so
/// that a job which finds the lock held can name it (issue 12, item 8); the line is cleared on
/// release.
public final class RotationLock: @unchecked Sendable {
    /// The lock file.
    public let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        _ = ftruncate(descriptor, 0)
        close(descriptor)
    }

    /// The lock file of `entity` in `directory`.
    public static func path(directory: String, entity: EntityID) -> String {
        directory + "/" + entity.rawValue + ".lock"
    }

    /// "held by a sync (pid 4242, since …)": who holds `entity`'s lock, as its holder recorded it.
    public static func holder(directory: String, entity: EntityID) -> String {
        LockHolder.heldBy(path: path(directory: directory, entity: entity))
    }

    /// Takes the lock without waiting.
    ///
    /// - Parameter operation: what the caller does with it (`sync`, `rotation`, `recovery`),
    ///   recorded in the file for the message of a job that finds it held.
    /// - Returns: the held lock, or `nil` when another job holds it.
    /// - Throws: ``KeywardError`` (operation failed) when the lock file cannot be made or opened.
    public static func acquire(directory: String, entity: EntityID, operation: String = "rotation") throws -> RotationLock? {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw KeywardError.operationFailed("cannot create the rotation lock directory \(directory): \(String(cString: strerror(errno)))")
        }
        let path = Self.path(directory: directory, entity: entity)
        // O_CLOEXEC: an onChange command started while the lock is held must not inherit it.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw KeywardError.operationFailed("cannot open the rotation lock \(path): \(String(cString: strerror(errno)))")
        }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(descriptor)
            if code == EWOULDBLOCK { return nil }
            throw KeywardError.operationFailed("cannot lock \(path): \(String(cString: strerror(code)))")
        }
        LockHolder(operation: operation).record(in: descriptor)
        return RotationLock(path: path, descriptor: descriptor)
    }
}

/// Debug builds' crash hook (DESIGN.md, "Rotation", item 8): `KEYWARD_CRASH_AT=<step>` kills
/// the process with SIGKILL at that step, so tests can prove recovery. Release builds ignore it.
public enum CrashHook {
    /// The steps, in the order a rotation passes them.
    public static let steps = ["before-journal", "after-journal", "after-reset-answer", "after-store", "after-token", "during-sinks",
                               "sink-before-rename"]

    /// What is wrong with the debug hooks' variables (DESIGN.md, "Rotation", item 8), for a
    /// warning: an unknown step would silently disable a crash test. Release builds ignore
    /// both variables and report nothing.
    public static func problems(in environment: [String: String]) -> [String] {
        var problems: [String] = []
        #if DEBUG
        if let step = environment["KEYWARD_CRASH_AT"], !step.isEmpty, !steps.contains(step) {
            problems.append("KEYWARD_CRASH_AT: unknown step '\(step)' is ignored (steps: \(steps.joined(separator: ", ")))")
        }
        if let raw = environment["KEYWARD_CLOCK_OFFSET_SECONDS"], !raw.isEmpty, SystemClock.offset(raw) == nil {
            problems.append("KEYWARD_CLOCK_OFFSET_SECONDS: '\(raw)' is ignored: expected a number of seconds within 100 years")
        }
        #endif
        return problems
    }

    /// Kills the process when `KEYWARD_CRASH_AT` names `step` (debug builds only).
    public static func at(_ step: String, environment: [String: String]) {
        #if DEBUG
        if environment["KEYWARD_CRASH_AT"] == step {
            kill(getpid(), SIGKILL)
        }
        #endif
    }
}

/// How long this process has been running, for "did another job rotate while we started?"
/// checks; 0 where the kernel does not say.
enum ProcessAge {
    static func seconds() -> TimeInterval {
        #if os(Linux)
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"),
            let uptimeText = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8),
            let uptime = uptimeText.split(separator: " ").first.flatMap({ Double($0) })
        else { return 0 }
        // Fields after the command name start at field 3 (state); starttime is field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]) else { return 0 }
        let perSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard perSecond > 0 else { return 0 }
        return max(0, uptime - ticks / perSecond)
        #else
        return 0
        #endif
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a sink's `onChange` command the way DESIGN.md's "Plugins" runs every hook and plugin:
/// argv form (no shell), in the configuration file's directory, with the scrubbed environment
/// (`PATH`, `HOME`, `LANG`, `TMPDIR` only: never Keyward's `KEYWARD_*` unlock variables), in
/// its own process group, stdin from `/dev/null` and stdout onto Keyward's stderr (stdout is
/// for results). After `onChangeTimeout` (default 60 s) the whole group gets SIGTERM, and
/// SIGKILL 5 s later.
///
/// Waiting polls `waitpid(WNOHANG)` and sleeps the task in between: no thread of Swift's
/// cooperative pool is blocked while a hook runs.
public enum HookRunner {
    /// The default `onChangeTimeout`: 60 s (DESIGN.md, "Plugins").
    public static let defaultTimeout: Duration = .seconds(60)
    /// Between SIGTERM and SIGKILL to the hook's process group, in seconds (DESIGN.md, "Plugins").
    public static let killGraceSeconds: Int64 = 5
    /// The variables a hook inherits (DESIGN.md, "Plugins"); everything else is dropped.
    public static let inheritedVariables = ["PATH", "HOME", "LANG", "TMPDIR"]

    /// The environment a hook sees: ``inheritedVariables`` taken from `environment`.
    public static func scrubbedEnvironment(_ environment: [String: String]) -> [String: String] {
        environment.filter { inheritedVariables.contains($0.key) }
    }

    /// Runs `command` and waits for it.
    ///
    /// - Parameters:
    ///   - directory: the working directory (the configuration file's); `nil` keeps Keyward's.
    ///   - timeout: how long it may run before its process group is stopped (a `Duration`,
    ///     at least 1 s; `onChangeTimeout`, DESIGN.md "Plugins").
    ///   - environment: Keyward's environment, scrubbed here.
    /// - Throws: ``KeywardError`` (operation failed) naming the command (the caller names the
    ///   sink) when it cannot start, exits non-zero, is killed by a signal, or outlives its timeout.
    public static func run(_ command: [String], directory: String?, timeout: Duration,
                           environment: [String: String]) async throws
    {
        guard let executable = command.first, !executable.isEmpty else { return }
        let what = "onChange command \(executable)"
        let pid = try spawn(command, directory: directory, environment: scrubbedEnvironment(environment), what: what)

        let deadline = ContinuousClock.now + max(.seconds(1), timeout)
        if let status = await wait(pid, until: deadline) {
            try check(status, what: what)
            return
        }
        // Too slow: the whole group (the hook and what it started) is stopped.
        kill(-pid, SIGTERM)
        if await wait(pid, until: ContinuousClock.now + .seconds(killGraceSeconds)) == nil {
            kill(-pid, SIGKILL)
            _ = await wait(pid, until: nil)
        }
        // Children that ignored SIGTERM (the hook itself exited on it) go too.
        kill(-pid, SIGKILL)
        throw KeywardError.operationFailed(
            "\(what) did not finish within \(DurationParser.format(seconds: timeout.components.seconds)): stopped (SIGTERM to its process group, SIGKILL \(killGraceSeconds)s later); raise onChangeTimeout if it needs longer")
    }

    private static func check(_ status: Int32, what: String) throws {
        // WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out: the C macros are not imported.
        let signal = status & 0x7f
        if signal == 0 {
            let code = (status >> 8) & 0xff
            guard code == 0 else { throw KeywardError.operationFailed("\(what) failed with status \(code)") }
            return
        }
        throw KeywardError.operationFailed("\(what) was killed by signal \(signal)")
    }

    /// The raw wait status once `pid` has exited, or `nil` when `deadline` passed first.
    private static func wait(_ pid: pid_t, until deadline: ContinuousClock.Instant?) async -> Int32? {
        var delay = 5
        while true {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return status }
            if result < 0 && errno != EINTR { return 0 }
            if let deadline, ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(delay))
            delay = min(delay * 2, 50)
        }
    }

    private static func spawn(_ command: [String], directory: String?, environment: [String: String], what: String) throws -> pid_t {
        // stdin from /dev/null, stdout onto Keyward's stderr (stdout is for results);
        // posix_spawnp: a name without a slash is looked up on PATH, as a shell would.
        let started = ChildProcess.spawn(command, directory: directory, environment: environment, searchPath: true) { actions in
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, 2, 1)
        }
        switch started {
        case .success(let pid): return pid
        case .failure(let failure): throw KeywardError.operationFailed("\(what) could not be started: \(failure.reason)")
        }
    }
}

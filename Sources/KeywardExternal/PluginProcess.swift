import Foundation
import KeywardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One run of a plugin executable as protocol 1 wants it (DESIGN.md, "Plugins"): argv (no
/// shell), the configuration's directory, exactly the given environment, its own process group,
/// the request on stdin (then closed), stdout read fully up to ``stdoutLimit``, stderr drained
/// completely with the first ``stderrKept`` bytes kept, and a timeout (SIGTERM to the group,
/// SIGKILL ``killGrace`` later).
///
/// Hand-written `posix_spawn` (as ``HookRunner`` in Core) rather than `Foundation.Process`:
/// `Process` can neither start the child in its own process group nor signal a group, so a
/// plugin's own children would outlive its timeout; and swift-subprocess is not a dependency.
/// The three pipes are served by one `poll(2)` loop on the calling thread; ``run()`` moves that
/// loop onto a dedicated `Thread` so no thread of Swift's cooperative pool ever blocks.
struct PluginProcess: Sendable {
    /// stdout beyond this many bytes (16 MiB) stops the plugin (DESIGN.md, "Plugins").
    static let stdoutLimit = 16 * 1024 * 1024
    /// At most this much of stderr (64 KiB) is kept; the rest is read and dropped.
    static let stderrKept = 64 * 1024
    /// Between SIGTERM and SIGKILL to the process group.
    static let killGrace: Duration = .seconds(5)

    /// How a run ended.
    enum Ending: Sendable, Equatable {
        /// The process exited (or was killed by a signal): the raw wait status.
        case exited(status: Int32)
        /// The timeout passed: the group got SIGTERM, then SIGKILL.
        case timedOut
        /// stdout passed ``stdoutLimit``: the group got SIGKILL.
        case stdoutTooLarge
        /// `posix_spawn` (or a pipe) failed: the reason.
        case couldNotStart(String)
    }

    struct Result: Sendable {
        var ending: Ending
        var stdout: [UInt8]
        /// The first ``stderrKept`` bytes of stderr.
        var stderr: [UInt8]
    }

    var command: [String]
    var directory: String?
    var environment: [String: String]
    var timeout: Duration
    var input: [UInt8]

    /// Runs the process on a dedicated thread and resumes when it has ended.
    func run() async -> Result {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result, Never>) in
            let thread = Thread { continuation.resume(returning: runBlocking()) }
            thread.name = "keyward-plugin"
            thread.start()
        }
    }

    /// Runs the process on the calling thread (blocks it until the process ended).
    func runBlocking() -> Result {
        Self.ignoreSIGPIPE
        guard let executable = command.first, !executable.isEmpty else {
            return Result(ending: .couldNotStart("no command"), stdout: [], stderr: [])
        }
        var stdinPipe: [Int32] = [-1, -1], stdoutPipe: [Int32] = [-1, -1], stderrPipe: [Int32] = [-1, -1]
        defer { for fd in stdinPipe + stdoutPipe + stderrPipe where fd >= 0 { close(fd) } }
        for index in 0..<3 {
            var fds: [Int32] = [-1, -1]
            guard Self.makePipe(&fds) else {
                return Result(ending: .couldNotStart("no pipe: \(String(cString: strerror(errno)))"), stdout: [], stderr: [])
            }
            switch index {
            case 0: stdinPipe = fds
            case 1: stdoutPipe = fds
            default: stderrPipe = fds
            }
        }

        // dup2 clears close-on-exec on the child's 0, 1, 2; every pipe end itself is
        // close-on-exec, so neither the child nor anything else spawned meanwhile keeps one.
        // posix_spawn, not posix_spawnp: command[0] is the resolved path, never looked up again.
        let started = ChildProcess.spawn(command, directory: directory, environment: environment, searchPath: false) { actions in
            posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
            posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
            posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        }
        let pid: pid_t
        switch started {
        case .success(let started): pid = started
        case .failure(let failure): return Result(ending: .couldNotStart(failure.reason), stdout: [], stderr: [])
        }
        RunningPlugins.started(pid)
        defer {
            RunningPlugins.ended(pid)
            RunningPlugins.parkIfInterrupted()
        }
        // The child's ends belong to the child now.
        close(stdinPipe[0]); stdinPipe[0] = -1
        close(stdoutPipe[1]); stdoutPipe[1] = -1
        close(stderrPipe[1]); stderrPipe[1] = -1
        return serve(pid: pid, stdin: &stdinPipe[1], stdout: &stdoutPipe[0], stderr: &stderrPipe[0])
    }

    /// The poll loop: writes the request, reads both outputs, watches the clock and the child.
    private func serve(pid: pid_t, stdin: inout Int32, stdout: inout Int32, stderr: inout Int32) -> Result {
        for fd in [stdin, stdout, stderr] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        var output: [UInt8] = []
        var errors: [UInt8] = []
        var written = 0
        if input.isEmpty { close(stdin); stdin = -1 }
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        var exitStatus: Int32?
        var exitBackoff: useconds_t = 50

        func drain(_ fd: inout Int32, into sink: inout [UInt8], limit: Int) -> Bool {
            // Reads what is there now; false on EOF (fd closed).
            while fd >= 0 {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    let room = max(0, limit - sink.count)
                    sink.append(contentsOf: buffer[0..<min(count, room)])
                    if count > room { return true }  // over the limit: the caller decides
                    continue
                }
                if count == 0 { close(fd); fd = -1; return false }
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return true }
                close(fd); fd = -1
                return false
            }
            return false
        }

        while true {
            if exitStatus == nil, let status = Self.reap(pid) { exitStatus = status }
            if let exitStatus {
                // Exited: what it wrote is in the pipes; a child it left behind that still
                // holds them must not make us wait. Its group goes.
                var overflow = false
                if stdout >= 0 {
                    _ = drain(&stdout, into: &output, limit: Self.stdoutLimit + 1)
                    overflow = output.count > Self.stdoutLimit
                }
                if stderr >= 0 { _ = drain(&stderr, into: &errors, limit: Self.stderrKept) }
                kill(-pid, SIGKILL)
                if overflow { return Result(ending: .stdoutTooLarge, stdout: [], stderr: errors) }
                return Result(ending: .exited(status: exitStatus), stdout: output, stderr: errors)
            }
            let now = ContinuousClock.now
            if now >= deadline {
                return stop(pid, gracefully: true, ending: .timedOut, stderr: errors)
            }
            var fds: [pollfd] = []
            if stdin >= 0 { fds.append(pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0)) }
            if stdout >= 0 { fds.append(pollfd(fd: stdout, events: Int16(POLLIN), revents: 0)) }
            if stderr >= 0 { fds.append(pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)) }
            if fds.isEmpty {
                // All pipes closed: the plugin is exiting (closing them is usually its exit).
                // Only the exit is awaited, by short sleeps growing from 50 µs to 10 ms: a
                // fixed 10 ms slice here once added 10 ms to every call (measured by
                // `make bench-external`).
                usleep(exitBackoff)
                exitBackoff = min(exitBackoff * 2, 10_000)
                continue
            }
            // Pipes open: wait for them (a 100 ms slice also notices a child that exited while
            // something it started holds the pipes).
            let remaining = deadline - now
            let remainingMs = Int(remaining.components.seconds) * 1000 + Int(remaining.components.attoseconds / 1_000_000_000_000_000) + 1
            let slice = Int32(min(remainingMs, 100))
            let ready = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), slice) }
            if ready < 0 && errno != EINTR {
                return stop(pid, gracefully: false, ending: .couldNotStart("poll failed: \(String(cString: strerror(errno)))"), stderr: errors)
            }
            if ready <= 0 { continue }
            for entry in fds where entry.revents != 0 {
                if entry.fd == stdin {
                    if entry.revents & Int16(POLLOUT) != 0 {
                        let count = input.withUnsafeBytes { bytes in
                            write(stdin, bytes.baseAddress! + written, bytes.count - written)
                        }
                        if count > 0 {
                            written += count
                            if written == input.count { close(stdin); stdin = -1 }
                        } else if count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                            // EPIPE: the plugin does not read its stdin. Not our failure.
                            close(stdin); stdin = -1
                        }
                    } else {
                        close(stdin); stdin = -1  // POLLERR / POLLHUP: the reader is gone
                    }
                } else if entry.fd == stdout {
                    _ = drain(&stdout, into: &output, limit: Self.stdoutLimit + 1)
                    if output.count > Self.stdoutLimit {
                        return stop(pid, gracefully: false, ending: .stdoutTooLarge, stderr: errors)
                    }
                } else if entry.fd == stderr {
                    _ = drain(&stderr, into: &errors, limit: Self.stderrKept)
                }
            }
        }
    }

    /// Stops the process group: SIGTERM and up to ``killGrace`` (when `gracefully`), then
    /// SIGKILL, reaps the child, and SIGKILL once more for what ignored SIGTERM.
    private func stop(_ pid: pid_t, gracefully: Bool, ending: Ending, stderr: [UInt8]) -> Result {
        if gracefully {
            kill(-pid, SIGTERM)
            let grace = ContinuousClock.now + Self.killGrace
            while Self.reap(pid) == nil {
                if ContinuousClock.now >= grace {
                    kill(-pid, SIGKILL)
                    Self.reapBlocking(pid)
                    break
                }
                usleep(10_000)
            }
        } else {
            kill(-pid, SIGKILL)
            Self.reapBlocking(pid)
        }
        kill(-pid, SIGKILL)
        return Result(ending: ending, stdout: [], stderr: stderr)
    }

    /// The raw wait status once `pid` has exited, without waiting; `nil` while it runs.
    private static func reap(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return status }
            if result < 0 && errno == EINTR { continue }
            if result < 0 { return 0 }  // ECHILD: someone else reaped it
            return nil
        }
    }

    private static func reapBlocking(_ pid: pid_t) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// A pipe whose two ends are close-on-exec from the start (`pipe2` on Linux): a process
    /// another thread spawns meanwhile must not inherit an end (it would hold stdout open).
    private static func makePipe(_ fds: inout [Int32]) -> Bool {
        if let pipe2 = Self.pipe2 {
            return fds.withUnsafeMutableBufferPointer { pipe2($0.baseAddress!, Int32(O_CLOEXEC)) } == 0
        }
        guard fds.withUnsafeMutableBufferPointer({ pipe($0.baseAddress) }) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    /// `pipe2` (Linux, not imported by the Swift module), looked up at run time.
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private static let pipe2: Pipe2? = {
        #if os(Linux)
        guard let symbol = dlsym(nil, "pipe2") else { return nil }
        return unsafeBitCast(symbol, to: Pipe2.self)
        #else
        return nil
        #endif
    }()

    /// Writing to a plugin that closed its stdin must give EPIPE, not kill Keyward: SIGPIPE is
    /// ignored process-wide once (the `keyward` executable ignores it already).
    private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()
}

import Foundation
import KeywardCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `keyward exec --mask`: runs CMD as a child whose stdout and stderr pass through a
/// ``StreamMasker`` each on their way to Keyward's own (DESIGN.md, "Leak scanning and masked
/// output", second bullet).
///
/// - Each of CMD's output streams is a pseudo-terminal when Keyward's matching stream is a
///   terminal (so CMD still sees a terminal: colours, line buffering), otherwise a pipe. The
///   pseudo-terminal gets the terminal's window size (again on SIGWINCH) and no output
///   processing (`OPOST` off: the real terminal does its own), and is not CMD's controlling
///   terminal. CMD's stdin is Keyward's, untouched, and CMD stays in Keyward's process group,
///   as it would after `execve`: it reads the terminal, and the terminal's Ctrl-C, Ctrl-\ and
///   Ctrl-Z reach it directly (and Keyward, which survives them).
/// - SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to Keyward by a process (`kill`) are forwarded
///   to CMD; one the terminal generated is not, since CMD, in the same foreground process
///   group, has it already (one sent with `kill` to the whole group reaches CMD twice). A
///   signal Keyward was started with ignored stays ignored in CMD, as across `execve`.
/// - Output is read until both streams end; once CMD has exited, until they end or stay silent
///   for 100 ms (a background process CMD left holding them is not waited for).
/// - Keyward's exit status is CMD's: its exit code, or 128 + the signal that killed it.
enum MaskedExec {
    /// Runs `path` with `arguments` (argv, `arguments[0]` as typed) and `environment`, its
    /// output masked by `patterns`. Blocks until CMD has exited and its output is written.
    ///
    /// - Returns: the status Keyward exits with: CMD's, 128 + a signal, or 126 / 127 when CMD
    ///   could not be started (the reason already on stderr).
    static func run(path: String, arguments: [String], environment: [String: String], patterns: LeakPatternSet,
                    updates: MaskUpdates? = nil) -> Int32 {
        let streams: [Stream]
        do {
            streams = try [Stream(target: STDOUT_FILENO), Stream(target: STDERR_FILENO)]
        } catch {
            Output.writeError("keyward: --mask: \(error)\n")
            return ExitCodes.execOwnFailure
        }
        let wake = makePipe()
        guard let wake else {
            Output.writeError("keyward: --mask: cannot create a pipe: \(String(cString: strerror(errno)))\n")
            return ExitCodes.execOwnFailure
        }
        setNonBlocking(wake.read)
        setNonBlocking(wake.write)
        SignalRelay.install(wake: wake.write)

        let spawned = spawn(path: path, arguments: arguments, environment: environment,
                            stdout: streams[0].childEnd, stderr: streams[1].childEnd)
        for stream in streams { close(stream.childEnd) }
        guard case .success(let child) = spawned, child > 0 else { return startFailure(spawned, path: path) }
        SignalRelay.started(child)

        var maskers = streams.map { _ in StreamMasker(patterns: patterns) }
        var generations = [0, 0]
        // With updates: each read lands here before it is masked.
        var scratch = [UInt8](repeating: 0, count: updates == nil ? 0 : 65_536)
        var open = [true, true]
        for stream in streams { setNonBlocking(stream.reader) }
        var status: Int32?
        var quietSince: UInt64?  // after CMD exited: when output last arrived
        var writeFailures: [(target: Int32, code: Int32)] = []

        func emit(_ index: Int) -> (UnsafeRawBufferPointer) -> Void {
            { buffer in
                guard open[index] else { return }
                if !writeAll(buffer, to: streams[index].target) {
                    // Keyward's own stream is gone (`| head`, a full disk): CMD gets EPIPE or
                    // SIGPIPE next, as it would writing there itself; a reason other than a
                    // closed pipe is said on stderr once CMD is done.
                    if errno != EPIPE { writeFailures.append((streams[index].target, errno)) }
                    open[index] = false
                    close(streams[index].reader)
                }
            }
        }
        func drain(_ index: Int, now: UInt64) -> Bool {
            var sawData = false
            var reads = 0
            // A few reads per round, so a stream that never pauses cannot starve the other one,
            // the release deadlines or CMD's exit.
            while open[index], reads < 16 {
                reads += 1
                let result: Int
                if let updates {
                    // Read first, then take the values added meanwhile (a token the endpoint
                    // served): each is added before CMD can have it, so whatever of it this read
                    // returns is masked with it. (Looked at before the read, a value added between
                    // the look and the read escaped.)
                    result = scratch.withUnsafeMutableBytes { read(streams[index].reader, $0.baseAddress, $0.count) }
                    if result > 0 {
                        if let (generation, fresh) = updates.newer(than: generations[index]) {
                            let masker = StreamMasker(patterns: fresh)
                            maskers[index].handOver(to: masker, now: now, output: emit(index))
                            maskers[index] = masker
                            generations[index] = generation
                        }
                        scratch.withUnsafeBytes { maskers[index].write(UnsafeRawBufferPointer(rebasing: $0[0..<result]), now: now, to: emit(index)) }
                    }
                } else {
                    result = maskers[index].append(now: now, reading: { space in
                        read(streams[index].reader, space.baseAddress, space.count)
                    }, to: emit(index))
                }
                if result > 0 {
                    sawData = true
                    continue
                }
                if result < 0, errno == EINTR { continue }
                if result < 0, errno == EAGAIN || errno == EWOULDBLOCK { break }
                // End of the stream (0), or EIO from a pseudo-terminal nobody holds any more.
                maskers[index].finish(to: emit(index))
                if open[index] {
                    open[index] = false
                    close(streams[index].reader)
                }
            }
            return sawData
        }

        while open[0] || open[1] {
            var now = monotonicNanoseconds()
            var deadline: UInt64? = quietSince.map { $0 + StreamMasker.defaultHoldNanoseconds }
            for index in 0..<2 where open[index] {
                if let due = maskers[index].releaseDeadline { deadline = min(deadline ?? due, due) }
            }
            let timeout: Int32 = deadline.map { $0 <= now ? 0 : Int32(min(($0 - now + 999_999) / 1_000_000, 60_000)) } ?? -1
            var fds = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            for index in 0..<2 where open[index] {
                fds.append(pollfd(fd: streams[index].reader, events: Int16(POLLIN), revents: 0))
            }
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0, errno != EINTR { break }
            now = monotonicNanoseconds()
            if fds[0].revents != 0 {
                for event in drainWake(wake.read) {
                    switch event {
                    case SignalRelay.childEvent:
                        if status == nil, let exited = reap(child, block: false) {
                            status = exited
                            quietSince = now
                        }
                    case SignalRelay.resizeEvent:
                        for stream in streams where stream.isTerminal { copyWindowSize(from: stream.target, to: stream.reader) }
                    default: break
                    }
                }
            }
            var sawData = false
            for index in 0..<2 where open[index] {
                if drain(index, now: now) { sawData = true }
                maskers[index].releaseIfDue(now: now, to: emit(index))
            }
            if status != nil {
                if sawData { quietSince = now }
                if let quiet = quietSince, now >= quiet + StreamMasker.defaultHoldNanoseconds {
                    for index in 0..<2 where open[index] {
                        maskers[index].finish(to: emit(index))
                        open[index] = false
                        close(streams[index].reader)
                    }
                }
            }
        }
        let final = status ?? reap(child, block: true) ?? 1
        SignalRelay.finished()
        for failure in writeFailures {
            let name = failure.target == STDOUT_FILENO ? "standard output" : "standard error"
            Output.warn("--mask: cannot write CMD's output to \(name): \(String(cString: strerror(failure.code)))")
        }
        return final
    }

    /// Runs `path` as ``run(path:arguments:environment:patterns:)`` does (Keyward stays CMD's
    /// parent, forwarding SIGINT, SIGTERM, SIGHUP and SIGQUIT sent by a process), but with
    /// Keyward's own stdout and stderr, unmasked: for `exec --serve-tokens` without `--mask`,
    /// where Keyward must outlive CMD to serve its tokens. Blocks until CMD has exited.
    ///
    /// - Returns: CMD's status, 128 + a signal, or 126 / 127 when CMD could not be started.
    static func runUnmasked(path: String, arguments: [String], environment: [String: String]) -> Int32 {
        guard let wake = makePipe() else {
            Output.writeError("keyward: cannot create a pipe: \(String(cString: strerror(errno)))\n")
            return ExitCodes.execOwnFailure
        }
        setNonBlocking(wake.read)
        setNonBlocking(wake.write)
        SignalRelay.install(wake: wake.write)
        let spawned = spawn(path: path, arguments: arguments, environment: environment, stdout: STDOUT_FILENO, stderr: STDERR_FILENO)
        guard case .success(let child) = spawned, child > 0 else { return startFailure(spawned, path: path) }
        SignalRelay.started(child)
        var status: Int32?
        while status == nil {
            // SIGCHLD writes to `wake`; the timeout only bounds a wake-up that was missed.
            var entry = pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 1_000)
            _ = drainWake(wake.read)
            status = reap(child, block: false)
        }
        SignalRelay.finished()
        return status ?? 1
    }

    // MARK: - Streams

    /// Values added to a masked run while it runs (`exec --serve-tokens --mask`: each token the
    /// endpoint serves), published before the token leaves Keyward; the output loop picks them up
    /// before its next read. Thread-safe.
    final class MaskUpdates: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [(source: LeakPatternSet.Source, value: SecretValue)]
        private var generation = 0
        private var patterns: LeakPatternSet?

        init(values: [(source: LeakPatternSet.Source, value: SecretValue)]) {
            self.values = values
        }

        /// Adds `value` under `name` (`entities/<ID>/token`) unless it is already masked.
        func add(name: String, value: SecretValue) {
            lock.withLock {
                guard !values.contains(where: { $0.value == value }) else { return }
                values.append((.init(name: name), value))
                patterns = LeakPatternSet(values: values, wrappedAt: LeakPatternSet.wrappedBase64Widths)
                generation += 1
            }
        }

        /// The current set when it changed after `seen`, with its generation.
        func newer(than seen: Int) -> (Int, LeakPatternSet)? {
            lock.withLock { generation > seen ? patterns.map { (generation, $0) } : nil }
        }
    }

    /// One of CMD's output streams: the end CMD writes and the end Keyward reads.
    private struct Stream {
        /// Keyward's descriptor the masked output goes to (1 or 2).
        let target: Int32
        /// Whether CMD's end is a pseudo-terminal (else a pipe).
        let isTerminal: Bool
        /// What Keyward reads: the pseudo-terminal's master or the pipe's read end.
        let reader: Int32
        /// What CMD gets as its descriptor `target`: the slave or the pipe's write end.
        let childEnd: Int32

        init(target: Int32) throws {
            self.target = target
            if isatty(target) == 1 {
                (reader, childEnd) = try Self.openTerminal(sizedLike: target)
                isTerminal = true
            } else {
                guard let pipe = makePipe() else { throw MaskError("cannot create a pipe: \(String(cString: strerror(errno)))") }
                (reader, childEnd) = (pipe.read, pipe.write)
                #if os(Linux)
                // 1 MiB (the unprivileged maximum by default) rather than 64 KiB: a quarter of the
                // reads, wake-ups and matcher calls for a chatty CMD. A refusal keeps the default.
                _ = fcntl(reader, 1031 /* F_SETPIPE_SZ */, 1 << 20)
                #endif
                isTerminal = false
            }
        }

        /// A pseudo-terminal pair (posix_openpt), both ends close-on-exec (the slave is dup2'd
        /// onto CMD's descriptor), output processing off, the window size of `terminal`.
        static func openTerminal(sizedLike terminal: Int32) throws -> (master: Int32, slave: Int32) {
            let master = PseudoTerminal.openMaster(O_RDWR | O_NOCTTY)
            guard master >= 0 else { throw MaskError("cannot open a pseudo-terminal: \(String(cString: strerror(errno)))") }
            _ = fcntl(master, F_SETFD, FD_CLOEXEC)
            guard PseudoTerminal.grant(master) == 0, PseudoTerminal.unlock(master) == 0, let name = PseudoTerminal.slaveName(master) else {
                let reason = String(cString: strerror(errno))
                close(master)
                throw MaskError("cannot set up a pseudo-terminal: \(reason)")
            }
            let slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)
            guard slave >= 0 else {
                let reason = String(cString: strerror(errno))
                close(master)
                throw MaskError("cannot open \(name): \(reason)")
            }
            var settings = termios()
            if tcgetattr(slave, &settings) == 0 {
                settings.c_oflag &= ~tcflag_t(OPOST)
                _ = tcsetattr(slave, TCSANOW, &settings)
            }
            copyWindowSize(from: terminal, to: master)
            return (master, slave)
        }

    }

    /// posix_openpt, grantpt, unlockpt and ptsname_r: glibc declares them only for
    /// `_XOPEN_SOURCE`, which Swift's Glibc module is not built with, so on Linux they are
    /// looked up in libc at run time (as ``ChildProcess`` looks up its `_np` functions).
    private enum PseudoTerminal {
        #if os(Linux)
        private typealias OpenMaster = @convention(c) (Int32) -> Int32
        private typealias Control = @convention(c) (Int32) -> Int32
        private typealias Name = @convention(c) (Int32, UnsafeMutablePointer<CChar>, Int) -> Int32
        private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
            dlsym(nil, name).map { unsafeBitCast($0, to: type) }
        }
        private static let openMasterFunction = symbol("posix_openpt", as: OpenMaster.self)
        private static let grantFunction = symbol("grantpt", as: Control.self)
        private static let unlockFunction = symbol("unlockpt", as: Control.self)
        private static let nameFunction = symbol("ptsname_r", as: Name.self)

        static func openMaster(_ flags: Int32) -> Int32 {
            guard let openMasterFunction else { return open("/dev/ptmx", flags) }
            return openMasterFunction(flags)
        }
        static func grant(_ master: Int32) -> Int32 { grantFunction.map { $0(master) } ?? 0 }
        static func unlock(_ master: Int32) -> Int32 {
            guard let unlockFunction else {
                errno = ENOSYS
                return -1
            }
            return unlockFunction(master)
        }
        static func slaveName(_ master: Int32) -> String? {
            guard let nameFunction else { return nil }
            var buffer = [CChar](repeating: 0, count: 256)
            guard nameFunction(master, &buffer, buffer.count) == 0 else { return nil }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        #else
        static func openMaster(_ flags: Int32) -> Int32 { posix_openpt(flags) }
        static func grant(_ master: Int32) -> Int32 { grantpt(master) }
        static func unlock(_ master: Int32) -> Int32 { unlockpt(master) }
        static func slaveName(_ master: Int32) -> String? { ptsname(master).map { String(cString: $0) } }
        #endif
    }

    struct MaskError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: - The child

    /// Starts CMD in Keyward's process group with `stdout` and `stderr` as its descriptors 1
    /// and 2, stdin inherited, nothing else open, SIGPIPE at its default (Keyward ignores it)
    /// and no signal blocked. Other dispositions are as across `execve`: caught ones become
    /// default, ignored ones stay ignored.
    private static func spawn(path: String, arguments: [String], environment: [String: String],
                              stdout: Int32, stderr: Int32) -> Result<pid_t, SpawnFailure> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdout, STDOUT_FILENO)
        posix_spawn_file_actions_adddup2(&actions, stderr, STDERR_FILENO)
        #if os(Linux)
        if let addCloseFrom { _ = addCloseFrom(&actions, 3) }
        let flags = Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        #else
        let flags = Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_CLOEXEC_DEFAULT)
        #endif
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, flags)

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        return code == 0 ? .success(pid) : .failure(SpawnFailure(code: code))
    }

    /// The status Keyward exits with when CMD did not start: 127 when it is not found, else 126,
    /// the reason said on stderr (as a shell does).
    private static func startFailure(_ spawned: Result<pid_t, SpawnFailure>, path: String) -> Int32 {
        guard case .failure(let failure) = spawned else { return 126 }
        Output.writeError("keyward: \(path): cannot execute: \(String(cString: strerror(failure.code)))\n")
        return failure.code == ENOENT ? 127 : 126
    }

    private struct SpawnFailure: Error {
        var code: Int32
    }

    #if os(Linux)
    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34), looked up at run time as
    /// ``ChildProcess`` does; on an older glibc only close-on-exec descriptors are closed, as
    /// with the plain `execve` of `keyward exec`.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()
    #endif

    /// CMD's status as Keyward's exit status, once it has exited: its code, or 128 + signal.
    /// `nil` while it runs (when not blocking).
    private static func reap(_ child: pid_t, block: Bool) -> Int32? {
        var status: Int32 = 0
        while true {
            let result = waitpid(child, &status, block ? 0 : WNOHANG)
            if result == child { break }
            if result < 0, errno == EINTR { continue }
            return nil
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    // MARK: - Plumbing

    private static func makePipe() -> (read: Int32, write: Int32)? {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    private static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    private static func copyWindowSize(from terminal: Int32, to master: Int32) {
        var size = winsize()
        if ioctl(terminal, UInt(TIOCGWINSZ), &size) == 0 { _ = ioctl(master, UInt(TIOCSWINSZ), &size) }
    }

    private static func drainWake(_ fd: Int32) -> [UInt8] {
        var events: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count > 0 { events += buffer[0..<count]; continue }
            if count < 0, errno == EINTR { continue }
            return events
        }
    }

    /// Writes all of `buffer` to `fd` (waiting while a non-blocking descriptor is full);
    /// `false` when the descriptor refuses (EPIPE, EBADF, ENOSPC…).
    private static func writeAll(_ buffer: UnsafeRawBufferPointer, to fd: Int32) -> Bool {
        var offset = 0
        while offset < buffer.count {
            let count = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if count >= 0 {
                offset += count
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK:
                var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&entry, 1, -1)
            default: return false
            }
        }
        return true
    }

    /// A monotonic clock in nanoseconds, for ``StreamMasker``'s hold.
    static func monotonicNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

/// The signal handlers of a masked `exec`. Handlers run with no context, so the state they read
/// is in these globals, written before a handler can read them.
private enum SignalRelay {
    static let childEvent = UInt8(ascii: "C")
    static let resizeEvent = UInt8(ascii: "W")
    static let forwarded: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// Installs the handlers: SIGCHLD and SIGWINCH become a byte on `wake`; the forwarded
    /// signals are passed to CMD (one that arrives before CMD starts is passed once it has).
    /// A forwarded signal Keyward was started with ignored stays ignored.
    static func install(wake: Int32) {
        // Swift initialises globals lazily: touch them all here, not first in a handler.
        relayWake = wake
        relayChild = 0
        relayPending = 0
        setHandler(SIGCHLD) { _, _, _ in
            var byte: UInt8 = 0x43  // childEvent; a literal, as nothing lazy may run in a handler
            _ = write(relayWake, &byte, 1)
        }
        setHandler(SIGWINCH) { _, _, _ in
            var byte: UInt8 = 0x57  // resizeEvent
            _ = write(relayWake, &byte, 1)
        }
        for signal in forwarded {
            var current = sigaction()
            sigaction(signal, nil, &current)
            if handlerAddress(current) == unsafeBitCast(SIG_IGN, to: Int.self) { continue }
            setHandler(signal) { signal, info, _ in
                guard let info, info.pointee.si_code <= 0 else { return }  // see sentByAProcess
                if relayChild > 0 { kill(relayChild, signal) } else { relayPending = signal }
            }
        }
    }

    /// CMD has started: a forwarded signal that came before is passed now.
    static func started(_ child: pid_t) {
        relayChild = child
        if relayPending != 0 { kill(child, relayPending) }
    }

    /// CMD has exited: a signal now is for Keyward itself, which is about to exit.
    static func finished() {
        relayChild = -1
    }

    /// Sent by a process (kill, sigqueue, tgkill), not generated by the kernel: the terminal's
    /// Ctrl-C reaches CMD itself (it shares Keyward's process group), so that one is not passed.
    static func sentByAProcess(_ info: UnsafeMutablePointer<siginfo_t>) -> Bool {
        info.pointee.si_code <= 0
    }

    private typealias Handler = @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void

    private static func setHandler(_ signal: Int32, _ handler: Handler) {
        var action = sigaction()
        #if canImport(Glibc)
        action.__sigaction_handler.sa_sigaction = handler
        #else
        action.__sigaction_u.__sa_sigaction = handler
        #endif
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_SIGINFO | SA_RESTART
        sigaction(signal, &action, nil)
    }

    private static func handlerAddress(_ action: sigaction) -> Int {
        #if canImport(Glibc)
        return unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self)
        #else
        return unsafeBitCast(action.__sigaction_u.__sa_handler, to: Int.self)
        #endif
    }
}

nonisolated(unsafe) private var relayWake: Int32 = -1
nonisolated(unsafe) private var relayChild: pid_t = 0
nonisolated(unsafe) private var relayPending: Int32 = 0

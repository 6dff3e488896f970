import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process groups of the plugins running now, and what becomes of them when Keyward is
/// interrupted. A plugin runs in a process group of its own (DESIGN.md, "Plugins"), so a
/// terminal's Ctrl-C (SIGINT to the foreground group) or a SIGTERM to Keyward alone would leave
/// it running, unsupervised, past its timeout.
///
/// When the first plugin starts, SIGINT, SIGTERM and SIGHUP that still have their default
/// action get a handler that stops every running plugin's group (SIGTERM, then SIGKILL to what
/// is left after ``stopGrace``) and then lets the signal take its default action (Keyward ends
/// by it, as before). A signal the program already handles or ignores is left alone; a program
/// that handles them itself for a while (`rotate` on a shared store releases its leases) calls
/// ``handleSignalsElsewhere(_:)`` and ``stopAll()`` from its own handler.
public enum RunningPlugins {
    /// Between SIGTERM and SIGKILL to the running plugins' groups when Keyward is interrupted.
    public static let stopGrace: Duration = .seconds(2)

    private static let lock = NSLock()
    nonisolated(unsafe) private static var groups: Set<pid_t> = []
    nonisolated(unsafe) private static var sources: [Int32: any DispatchSourceSignal] = [:]
    nonisolated(unsafe) private static var elsewhere = false
    nonisolated(unsafe) private static var interrupted = false

    /// Records a started plugin (its pid is its process group id) and installs the handlers
    /// once.
    static func started(_ pid: pid_t) {
        lock.withLock {
            groups.insert(pid)
            if sources.isEmpty { installHandlers() }
        }
    }

    /// Forgets a plugin whose group was stopped and whose process was reaped.
    static func ended(_ pid: pid_t) {
        _ = lock.withLock { groups.remove(pid) }
    }

    /// Stops every running plugin's process group: SIGTERM, then SIGKILL after ``stopGrace``
    /// to the groups still there. Blocks the calling thread up to ``stopGrace``.
    public static func stopAll() {
        let running = lock.withLock { groups }
        guard !running.isEmpty else { return }
        for group in running { kill(-group, SIGTERM) }
        let deadline = ContinuousClock.now + stopGrace
        while ContinuousClock.now < deadline, running.contains(where: { kill(-$0, 0) == 0 }) { usleep(20_000) }
        for group in running { kill(-group, SIGKILL) }
    }

    /// Parks the calling thread for good when Keyward is being interrupted: a plugin call that
    /// ended because the handler stopped its group must not let the program go on (and exit
    /// with a code of its own) before the signal ends it.
    static func parkIfInterrupted() {
        while lock.withLock({ interrupted }) { sleep(1) }
    }

    /// `true` while the program handles SIGINT and SIGTERM itself (and calls ``stopAll()``):
    /// these handlers then do nothing. `false` again hands the signals back to them.
    public static func handleSignalsElsewhere(_ value: Bool) {
        lock.withLock {
            elsewhere = value
            // The program's own handling ended (its handlers reset the default action): these
            // handlers need the signals ignored again to receive them.
            if !value { for number in sources.keys { signal(number, SIG_IGN) } }
        }
    }

    /// Called with `lock` held.
    private static func installHandlers() {
        for number in [SIGINT, SIGTERM, SIGHUP] {
            // Only a signal nobody handles or ignores: its default action ends the process.
            let previous = signal(number, SIG_IGN)
            if previous != nil {
                signal(number, previous)
                continue
            }
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                guard lock.withLock({ () -> Bool in
                    if elsewhere { return false }
                    interrupted = true
                    return true
                }) else { return }
                stopAll()
                signal(number, SIG_DFL)
                // To the process, not `raise` (to this thread): a dispatch thread blocks the
                // signal, and a signal pending on a thread is lost when the pool retires it.
                kill(getpid(), number)
            }
            source.resume()
            sources[number] = source
        }
    }
}

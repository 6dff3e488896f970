import Foundation
import KeywardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// When this process started, for ``OperationContext/processStartedAt`` (DESIGN.md, "Rotation",
/// item 2: a rotation another job finished after this process started counts as this run's).
/// The composition root reads it, so Core reads no /proc.
enum ProcessStart {
    /// The start in `clock`'s time: its `now` less the process's age; `now` where the kernel
    /// does not say (Linux reads /proc; elsewhere the age is taken as 0).
    static func date(clock: any KeywardClock) -> Date {
        clock.now.addingTimeInterval(-ageSeconds())
    }

    /// How long this process has been running, in seconds; 0 where the kernel does not say.
    static func ageSeconds() -> TimeInterval {
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

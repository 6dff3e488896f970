import Foundation
import Logging

/// What every seam call receives besides its own arguments: one value, so a field can be added
/// without breaking any plugin (STYLE.md, "Seams").
public struct OperationContext: Sendable {
    /// Where diagnostics go. Libraries never create loggers; the CLI bootstraps one to stderr.
    public var logger: Logger
    /// The clock for every expiry decision.
    public var clock: any KeywardClock
    /// `true` for `--dry-run`: read-only calls only, nothing minted, reset or written.
    public var dryRun: Bool
    /// The latest time (UTC) by which the operation should finish, if any.
    public var deadline: Date?
    /// When this process started, in ``clock``'s time (UTC), filled by the program that owns
    /// the process (the CLI reads it from the kernel). A rotation another job finished after
    /// it counts as this run's (DESIGN.md, "Rotation", item 2: sixteen `rotate --force`
    /// started together reset once). `nil`: the operation's own start.
    public var processStartedAt: Date?
    /// What the caller does (`sync`, `rotation`, `recovery`, `schedule run`), recorded by the
    /// locks and leases it takes so that a job which finds one held can name the holder.
    /// `nil`: the operation's own word.
    public var operation: String?

    public init(
        logger: Logger = Logger(label: "keyward", factory: { _ in SwiftLogNoOpLogHandler() }),
        clock: any KeywardClock = SystemClock(),
        dryRun: Bool = false,
        deadline: Date? = nil,
        processStartedAt: Date? = nil,
        operation: String? = nil
    ) {
        self.logger = logger
        self.clock = clock
        self.dryRun = dryRun
        self.deadline = deadline
        self.processStartedAt = processStartedAt
        self.operation = operation
    }

    /// The same context, recording `operation` in the locks and leases taken with it.
    public func doing(_ operation: String) -> OperationContext {
        var context = self
        context.operation = operation
        return context
    }
}

/// A source of the current time, injected wherever expiry is decided.
public protocol KeywardClock: Sendable {
    /// The current time (UTC).
    var now: Date { get }
}

/// The system clock, optionally running `offsetSeconds` ahead.
///
/// The offset exists for tests: debug builds read `KEYWARD_CLOCK_OFFSET_SECONDS` (DESIGN.md,
/// "Rotation", item 8) through ``SystemClock/fromEnvironment(_:)`` so Keyward can follow a
/// simulator whose clock was moved. Release builds ignore the variable.
public struct SystemClock: KeywardClock {
    /// Seconds added to the system time.
    public var offsetSeconds: TimeInterval

    /// Debug builds only: a file holding an offset in seconds, read again at every ``now``
    /// (it then replaces ``offsetSeconds``; an unreadable or invalid file counts as
    /// ``offsetSeconds``). Lets a test move a running process's clock together with the
    /// simulator's (`KEYWARD_CLOCK_OFFSET_FILE`).
    public var offsetFile: String?

    public init(offsetSeconds: TimeInterval = 0, offsetFile: String? = nil) {
        self.offsetSeconds = offsetSeconds
        self.offsetFile = offsetFile
    }

    public var now: Date {
        #if DEBUG
        if let offsetFile, let data = FileManager.default.contents(atPath: offsetFile),
            let offset = Self.offset(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        {
            return Date().addingTimeInterval(offset)
        }
        #endif
        return Date().addingTimeInterval(offsetSeconds)
    }

    /// The clock for this process: in debug builds, shifted by `KEYWARD_CLOCK_OFFSET_SECONDS`,
    /// and by the seconds in the file `KEYWARD_CLOCK_OFFSET_FILE` names (read at every ``now``,
    /// so a test can move a running `schedule run`'s clock; it takes precedence while readable).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> SystemClock {
        #if DEBUG
        let file = environment["KEYWARD_CLOCK_OFFSET_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let raw = environment["KEYWARD_CLOCK_OFFSET_SECONDS"], let offset = offset(raw) {
            return SystemClock(offsetSeconds: offset, offsetFile: file)
        }
        return SystemClock(offsetFile: file)
        #else
        return SystemClock()
        #endif
    }

    /// A usable offset: a finite number of seconds within 100 years either way.
    static func offset(_ raw: String) -> TimeInterval? {
        guard let offset = TimeInterval(raw), offset.isFinite, abs(offset) <= 100 * 365 * 86_400 else { return nil }
        return offset
    }
}

/// A clock that only moves when told to: for tests.
public final class ManualClock: KeywardClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    public init(now: Date = Date()) {
        self.current = now
    }

    public var now: Date {
        lock.withLock { current }
    }

    /// Moves the clock forward by `seconds`.
    public func advance(by seconds: TimeInterval) {
        lock.withLock { current = current.addingTimeInterval(seconds) }
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Who holds one of Keyward's lock files beside the vault (DESIGN.md, "Files and defaults"):
/// the holder writes it into the file once it has the lock, and a job that finds the lock held
/// reads it, so its message names what it met ("a sync, pid 4242, since …") instead of
/// "another job".
///
/// The file holds one line, `operation=<word> pid=<n> since=<seconds since 1970>`; the lock
/// itself is the `flock(2)` on the file, never its contents, so a line left by a process that
/// died is harmless (the kernel released its lock).
public struct LockHolder: Sendable, Equatable, CustomStringConvertible {
    /// What the holder is doing: `sync`, `rotation`, `recovery`, `token mint`, `user token mint`.
    public var operation: String
    /// The holder's process id.
    public var pid: Int32
    /// When it took the lock (UTC, whole seconds).
    public var since: Date

    public init(operation: String, pid: Int32 = getpid(), since: Date = Date()) {
        self.operation = operation
        self.pid = pid
        self.since = Date(timeIntervalSince1970: since.timeIntervalSince1970.rounded(.down))
    }

    /// The line written into the lock file.
    public var fileContents: String {
        "operation=\(operation.replacingOccurrences(of: " ", with: "-")) pid=\(pid) since=\(Int64(since.timeIntervalSince1970))\n"
    }

    /// Parses ``fileContents``; `nil` for an empty or foreign file.
    public init?(fileContents text: String) {
        var fields: [String: String] = [:]
        for pair in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let operation = fields["operation"], !operation.isEmpty, let pidText = fields["pid"], let pid = Int32(pidText),
            let sinceText = fields["since"], let seconds = Int64(sinceText)
        else { return nil }
        self.operation = operation.replacingOccurrences(of: "-", with: " ")
        self.pid = pid
        self.since = Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// `a sync (pid 4242, since 2026-12-06T21:30:00Z)`.
    public var description: String {
        // Every operation Keyward records takes "a": sync, rotation, recovery, (user) token mint.
        "a \(operation) (pid \(pid), since \(Timestamps.format(since)))"
    }
}

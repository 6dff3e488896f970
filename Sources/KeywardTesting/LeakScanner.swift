import Foundation
import KeywardCore
import Logging

/// Captures log records in memory so a test can assert that no secret reached a message or
/// metadata (STYLE.md, "Tests": each module has a leak test).
public final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init() {}

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "\(event.level) \(event.message)"
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in all.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        lock.withLock { lines.append(line) }
    }

    /// Every record so far, one line each.
    public var captured: [String] { lock.withLock { lines } }

    /// A logger at trace level writing here.
    public func logger(label: String = "test") -> Logger {
        Logger(label: label) { _ in self }
    }
}

/// Finds secret values in text: what a command printed, a log, an error's description.
public enum LeakScanner {
    /// The secrets (by index into `secrets`) that occur in `text`. Secrets shorter than 4 bytes
    /// are skipped (they would match by chance).
    public static func leaks(in text: String, of secrets: [SecretValue]) -> [Int] {
        secrets.indices.filter { secrets[$0].count >= 4 && secrets[$0].occurs(in: text) }
    }

    /// Same, for plain strings (what a test used as a password or secret).
    public static func leaks(in text: String, of secrets: [String]) -> [String] {
        secrets.filter { $0.utf8.count >= 4 && text.contains($0) }
    }
}

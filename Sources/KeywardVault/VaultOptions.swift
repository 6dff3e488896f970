import Foundation
import KeywardCore
import Logging

/// Settings for opening or creating a vault.
public struct VaultOptions: Sendable {
    /// Versions kept per entry when a vault is created (labelled versions are never pruned).
    public var retention: Int
    /// How long audit rows and closed (`done`, `aborted`) journal entries are kept when a
    /// vault is created (``Vault/setAuditRetention(_:)`` changes it later): 90 days by
    /// default (`vault.auditRetention` in keyward.yaml).
    public var auditRetention: Duration
    /// Where rollback anchors live; `nil` means `$XDG_STATE_HOME/keyward/anchors`
    /// (`~/.local/state/keyward/anchors`).
    public var anchorDirectory: String?
    /// How long a write waits for another process's transaction (a `Duration`; SQLite's busy
    /// timeout). Default 10 s.
    public var busyTimeout: Duration
    /// Where diagnostics go (no-op by default). Never receives a value or key.
    public var logger: Logger
    /// The clock for `createdAt` and audit times.
    public var clock: any KeywardClock

    public init(
        retention: Int = 10, auditRetention: Duration = VaultOptions.defaultAuditRetention, anchorDirectory: String? = nil,
        busyTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "keyward.vault", factory: { _ in SwiftLogNoOpLogHandler() }),
        clock: any KeywardClock = SystemClock()
    ) {
        self.retention = retention
        self.auditRetention = auditRetention
        self.anchorDirectory = anchorDirectory
        self.busyTimeout = busyTimeout
        self.logger = logger
        self.clock = clock
    }

    /// 90 days.
    public static let defaultAuditRetention: Duration = .seconds(90 * 86_400)

    /// `$XDG_STATE_HOME/keyward/anchors`, or `~/.local/state/keyward/anchors`.
    public static func defaultAnchorDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") {
            return state + "/keyward/anchors"
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.local/state/keyward/anchors"
    }

    /// `$XDG_DATA_HOME/keyward/vault.db`, or `~/.local/share/keyward/vault.db` (DESIGN.md,
    /// "Files and defaults").
    public static func defaultVaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let data = environment["XDG_DATA_HOME"], data.hasPrefix("/") {
            return data + "/keyward/vault.db"
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.local/share/keyward/vault.db"
    }
}

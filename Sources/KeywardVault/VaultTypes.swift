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
    /// How long a write waits for another process's transaction, in seconds.
    public var busyTimeout: TimeInterval
    /// Where diagnostics go (no-op by default). Never receives a value or key.
    public var logger: Logger
    /// The clock for `createdAt` and audit times.
    public var clock: any KeywardClock

    public init(
        retention: Int = 10, auditRetention: Duration = VaultOptions.defaultAuditRetention, anchorDirectory: String? = nil,
        busyTimeout: TimeInterval = 10,
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

/// Metadata sealed with each version of an entry.
public struct VaultRecordMetadata: Sendable, Equatable {
    /// When the value was created (UTC); `nil` means now by the vault's clock.
    public var createdAt: Date?
    /// When the value stops working (UTC), if it expires.
    public var expiresAt: Date?
    /// Where the value came from (`user` for `vault put`, a provider name, `login`).
    public var source: String
    /// The token service's `txnId` of the call that produced it.
    public var txnId: String?

    public init(createdAt: Date? = nil, expiresAt: Date? = nil, source: String = "user", txnId: String? = nil) {
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.source = source
        self.txnId = txnId
    }
}

/// One version of an entry as `history` shows it: never the value, only its fingerprint.
public struct VaultVersionInfo: Sendable, Equatable {
    public var version: Int
    /// The labels this version carries (at most one of each across the entry).
    public var labels: [VersionLabel]
    public var createdAt: Date
    public var expiresAt: Date?
    public var source: String
    public var txnId: String?
    /// Keyed HMAC of the value, first 8 hex digits.
    public var fingerprint: String
    /// The value's length in bytes.
    public var byteCount: Int
}

/// An unlock slot: one way to open the data key.
public struct VaultKeySlot: Sendable, Equatable {
    public var id: Int
    /// `passphrase` or `key-file`.
    public var kind: String
    public var createdAt: Date
    /// For passphrase slots, the Argon2id parameters (`t=3, m=65536 KiB, p=2`).
    public var kdf: String?
    /// `true` for the slot this process unlocked with.
    public var unlockedThisSession: Bool
}

/// What `verify` checked.
public struct VaultVerifyReport: Sendable, Equatable {
    public var generation: Int64
    /// When the vault was last written (UTC).
    public var updatedAt: Date
    public var entries: Int
    public var versions: Int
    public var keySlots: Int
    public var journalEntries: Int
    public var auditEvents: Int
}

/// What `acceptRestore` found and re-anchored.
public struct VaultRestoreInfo: Sendable, Equatable {
    /// The generation and last-write time of the file as restored.
    public var fileGeneration: Int64
    public var fileUpdatedAt: Date
    /// What the anchor on this machine held before, if there was one.
    public var anchorGeneration: Int64?
    public var anchorUpdatedAt: Date?
}

/// What `rekey` did.
public struct VaultRekeyReport: Sendable, Equatable {
    /// The new data key's id.
    public var keyID: Int
    /// Versions re-sealed under the new key.
    public var versionsResealed: Int
    /// Slots that wrap the new key.
    public var slotsRewrapped: [Int]
    /// Slots removed because no key source given could open them.
    public var slotsRemoved: [Int]
}

/// The state of a rotation journal entry (DESIGN.md, "Rotation", item 7):
/// `pending` → `sent` → `stored` → `done`, or `aborted`.
public enum VaultJournalState: String, Sendable, Codable, CaseIterable {
    case pending, sent, stored, done, aborted

    /// `true` for `done` and `aborted`.
    public var isClosed: Bool { self == .done || self == .aborted }

    /// Whether moving from `self` to `next` follows the state machine.
    public func canAdvance(to next: VaultJournalState) -> Bool {
        switch (self, next) {
        case (.pending, .sent), (.pending, .stored), (.sent, .stored), (.stored, .done): true
        case (.pending, .aborted), (.sent, .aborted), (.stored, .aborted): true
        case (.pending, .done), (.sent, .done): true  // recovery may find nothing to store
        default: false
        }
    }
}

/// One rotation journal entry.
public struct VaultJournalEntry: Sendable, Equatable {
    public var id: Int64
    public var entity: EntityID
    public var txnId: String?
    public var state: VaultJournalState
    public var createdAt: Date
    public var updatedAt: Date
}

/// One audit log row: time, operation, entity, outcome, txnId. Never a value.
public struct VaultAuditEvent: Sendable, Equatable {
    /// The row's id once stored; `nil` for an event to append.
    public var id: Int64?
    public var time: Date
    /// `vault get`, `sync`, `rotate`, `export`, …
    public var operation: String
    public var entity: String?
    /// `ok`, `failed`, `unchanged`, …
    public var outcome: String
    public var txnId: String?

    public init(id: Int64? = nil, time: Date, operation: String, entity: String? = nil, outcome: String, txnId: String? = nil) {
        self.id = id
        self.time = time
        self.operation = operation
        self.entity = entity
        self.outcome = outcome
        self.txnId = txnId
    }
}

/// How Argon2id parameters are policed. Production enforces ``Argon2Parameters/floor`` on
/// creation and on unlock; the weak setting exists only at `package` level so this module's
/// tests run fast, and no public API or command can reach it.
package enum KDFPolicy: Sendable {
    case production
    case testingOnly(Argon2Parameters)

    var creationParameters: Argon2Parameters {
        switch self {
        case .production: .standard
        case .testingOnly(let parameters): parameters
        }
    }

    func check(_ parameters: Argon2Parameters) throws {
        do {
            try parameters.checkBounds()
        } catch {
            throw VaultError.integrity("an unlock slot asks for Argon2id parameters outside the accepted bounds (\(parameters))")
        }
        if case .production = self, !parameters.meetsFloor {
            throw VaultError.integrity(
                "an unlock slot uses Argon2id parameters below the floor (\(parameters); the floor is t=2, m=65536 KiB); refusing it")
        }
    }
}

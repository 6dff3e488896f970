import Foundation

/// What `keyward sync` did, per entity and per sink; the `--output json` document of DESIGN.md
/// ("Output for scripts"). Fields are only ever added.
public struct SyncReport: Sendable, Codable, Equatable {
    public var version = 1
    public var dryRun: Bool
    public var entities: [EntityOutcome]
    public var sinks: [SinkOutcome]
    /// `--dry-run` only: the actions a real run would take, with fingerprints.
    public var plan: [PlanAction]?

    public init(dryRun: Bool, entities: [EntityOutcome], sinks: [SinkOutcome], plan: [PlanAction]? = nil) {
        self.dryRun = dryRun
        self.entities = entities
        self.sinks = sinks
        self.plan = plan
    }

    /// What happened to one entity (DESIGN.md, "Output for scripts"); the raw values are the
    /// words scripts read, so they never change.
    public enum Outcome: String, Sendable, Codable, Equatable, CustomStringConvertible {
        /// Something changed (see ``EntityOutcome/changes``).
        case ok
        case unchanged
        case failed
        /// Another job holds the entity (its rotation lease): not a failure.
        case skipped

        public var description: String { rawValue }
    }

    /// What changed for an entity (``EntityOutcome/changes``); the raw values are the words
    /// scripts read.
    public enum Change: String, Sendable, Codable, Equatable, CustomStringConvertible {
        /// A new secret version was stored.
        case secret
        /// An entity token was minted.
        case token
        /// The same secret, with the expiry the service reports now.
        case expiry
        /// An interrupted rotation was finished.
        case recovered
        /// A reset's lost answer was read back with `secret/read`.
        case readBack
        /// An open rotation whose reset was never sent (`pending`) was closed `aborted`.
        case abortedUnsent
        /// An open rotation whose reset the service never applied was closed `aborted`.
        case abortedUnapplied

        public var description: String { rawValue }
    }

    /// One entity's outcome: `ok` (something changed), `unchanged`, `failed`, `skipped`.
    public struct EntityOutcome: Sendable, Codable, Equatable {
        public var id: String
        public var outcome: Outcome
        public var error: ErrorInfo?
        /// Notices from the provider or the engine (an expired secret, a shortened validity …).
        public var warnings: [String]
        /// The current secret's version in the vault after the run.
        public var secretVersion: Int?
        /// The current secret's fingerprint (keyed HMAC, 8 hex digits).
        public var secretFingerprint: String?
        /// The secret's expiry (UTC), `nil` for none or unknown.
        public var secretExpiresAt: Date?
        /// The entity token's expiry (UTC), if one is held.
        public var tokenExpiresAt: Date?
        /// What changed: `secret` (a new version stored), `token` (minted), ….
        public var changes: [Change]
    }

    /// What happened to one sink; the raw values are the words scripts read.
    public enum SinkResult: String, Sendable, Codable, Equatable, CustomStringConvertible {
        case written
        case unchanged
        case failed
        /// Not written: a dry run, or nothing it holds changed.
        case skipped

        public var description: String { rawValue }

        /// What a sink's write answered.
        public init(_ write: SinkWriteOutcome) {
            switch write {
            case .written: self = .written
            case .unchanged: self = .unchanged
            }
        }
    }

    /// One sink's outcome: `written`, `unchanged`, `failed`, `skipped`.
    public struct SinkOutcome: Sendable, Codable, Equatable {
        public var name: String
        public var outcome: SinkResult
        public var path: String?
        public var error: ErrorInfo?
    }

    /// An error, safe to print: a category code and a message.
    public struct ErrorInfo: Sendable, Codable, Equatable {
        public var code: String
        public var message: String
        /// The service's `Retry-After`, in seconds, when it sent one (429); absent otherwise.
        public var retryAfterSeconds: Int?

        init(_ error: any Error) {
            retryAfterSeconds = (error as? any RetryAfterReporting)?.retryAfterSeconds
            if let categorized = error as? any CategorizedError {
                code = categorized.category.rawValue
                message = categorized.description
            } else {
                code = FailureCategory.operationFailed.rawValue
                message = "unexpected error: \(type(of: error))"
            }
        }
    }

    /// The kinds of planned action (DESIGN.md, "Commands", `--dry-run`: each plan line begins
    /// with its word); the raw values are the words scripts read.
    public enum Action: String, Sendable, Codable, Equatable, CustomStringConvertible {
        case storeNewVersion = "store new version"
        case storeExpiry = "store expiry"
        case keep
        case mintToken = "mint token"
        case writeSink = "write sink"
        case keepSink = "keep sink"
        case reset
        case recover
        case closeAborted = "close aborted"
        /// Take the entity's rotation lease in the shared store.
        case takeLease = "take lease"
        /// Publish the secret to the shared store.
        case publish

        public var description: String { rawValue }
    }

    /// One planned action of a dry run.
    public struct PlanAction: Sendable, Codable, Equatable {
        /// `store new version`, `keep`, `mint token`, `write sink`, `reset`, ….
        public var action: Action
        public var target: String
        public var oldFingerprint: String?
        public var newFingerprint: String?
        /// Why the action is planned, in words (DESIGN.md, "Commands", `--dry-run`:
        /// `"plan":[{"action","target","reason"}]`); never empty.
        public var reason: String
        /// The same text as `reason` (the field's first name, kept: fields are only ever
        /// added); absent where an action had no detail before `reason` existed.
        public var detail: String?

        public init(action: Action, target: String, oldFingerprint: String?, newFingerprint: String?, detail: String?) {
            self.action = action
            self.target = target
            self.oldFingerprint = oldFingerprint
            self.newFingerprint = newFingerprint
            self.detail = detail
            reason = detail ?? action.rawValue
        }
    }

    /// The failure category for the whole run: `nil` when nothing failed; ``FailureCategory/partial``
    /// when something failed and something succeeded (an entity synced, or a sink written);
    /// otherwise the failures' common category (authentication when every failure was one, else
    /// operation failed).
    public var failureCategory: FailureCategory? {
        let failedEntities = entities.filter { $0.outcome == .failed }
        let failedSinks = sinks.filter { $0.outcome == .failed }
        guard !failedEntities.isEmpty || !failedSinks.isEmpty else { return nil }
        // A sink left unchanged did nothing: when every entity failed it is no success to
        // report, and an outage must not look partial to monitoring.
        let succeeded = entities.contains { $0.outcome == .ok || $0.outcome == .unchanged }
            || sinks.contains { $0.outcome == .written }
        if succeeded { return .partial }
        let codes = Set((failedEntities.compactMap(\.error?.code)) + failedSinks.compactMap(\.error?.code))
        if codes.count == 1, let only = codes.first, let category = FailureCategory(rawValue: only) { return category }
        return .operationFailed
    }
}

extension AuditEntry {
    /// An audit row whose outcome is one of the engine's: the stored word is its raw value.
    init(time: Date, operation: String, entity: String? = nil, outcome: SyncReport.Outcome, txnId: String? = nil) {
        self.init(time: time, operation: operation, entity: entity, outcome: outcome.rawValue, txnId: txnId)
    }

    /// One row for an operation on all of `entities`, with one of the engine's outcomes.
    init(time: Date, operation: String, entities: [String], outcome: SyncReport.Outcome, txnId: String? = nil) {
        self.init(time: time, operation: operation, entities: entities, outcome: outcome.rawValue, txnId: txnId)
    }
}

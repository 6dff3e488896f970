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

    /// One entity's outcome: `ok` (something changed), `unchanged`, `failed`, `skipped`.
    public struct EntityOutcome: Sendable, Codable, Equatable {
        public var id: String
        public var outcome: String
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
        /// What changed: `secret` (a new version stored), `token` (minted).
        public var changes: [String]
    }

    /// One sink's outcome: `written`, `unchanged`, `failed`, `skipped`.
    public struct SinkOutcome: Sendable, Codable, Equatable {
        public var name: String
        public var outcome: String
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

    /// One planned action of a dry run.
    public struct PlanAction: Sendable, Codable, Equatable {
        /// `read`, `store new version`, `keep`, `mint token`, `write sink`.
        public var action: String
        public var target: String
        public var oldFingerprint: String?
        public var newFingerprint: String?
        /// Why the action is planned, in words (DESIGN.md, "Commands", `--dry-run`:
        /// `"plan":[{"action","target","reason"}]`); never empty.
        public var reason: String
        /// The same text as `reason` (the field's first name, kept: fields are only ever
        /// added); absent where an action had no detail before `reason` existed.
        public var detail: String?

        public init(action: String, target: String, oldFingerprint: String?, newFingerprint: String?, detail: String?) {
            self.action = action
            self.target = target
            self.oldFingerprint = oldFingerprint
            self.newFingerprint = newFingerprint
            self.detail = detail
            reason = detail ?? action
        }
    }

    /// The failure category for the whole run: `nil` when nothing failed; ``FailureCategory/partial``
    /// when something failed and something succeeded (an entity synced, or a sink written);
    /// otherwise the failures' common category (authentication when every failure was one, else
    /// operation failed).
    public var failureCategory: FailureCategory? {
        let failedEntities = entities.filter { $0.outcome == "failed" }
        let failedSinks = sinks.filter { $0.outcome == "failed" }
        guard !failedEntities.isEmpty || !failedSinks.isEmpty else { return nil }
        // A sink left unchanged did nothing: when every entity failed it is no success to
        // report, and an outage must not look partial to monitoring.
        let succeeded = entities.contains { $0.outcome == "ok" || $0.outcome == "unchanged" }
            || sinks.contains { $0.outcome == "written" }
        if succeeded { return .partial }
        let codes = Set((failedEntities.compactMap(\.error?.code)) + failedSinks.compactMap(\.error?.code))
        if codes.count == 1, let only = codes.first, let category = FailureCategory(rawValue: only) { return category }
        return .operationFailed
    }
}

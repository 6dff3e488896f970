import Foundation

/// The per-entity gauges of DESIGN.md ("Operability"), computed from `keyward status`'s report
/// (``Dispatcher/status(entities:failWithin:context:)``): the one code path behind both
/// `keyward status --output prometheus` and `schedule run`'s `/metrics` (refreshed after every
/// cycle). Every sample has the label `entity`; a gauge whose value is unknown (a secret
/// without expiry, no token, nothing published, a shared store that could not be read) has no
/// sample for that entity, rather than a made-up 0.
///
/// Timestamps are Unix seconds (UTC, fractional), as Prometheus' `time()` compares them.
public enum StatusGauges {
    /// `keyward_secret_expiry_timestamp_seconds{entity}`: when the vault's current secret expires.
    public static let secretExpiry = "keyward_secret_expiry_timestamp_seconds"
    /// `keyward_token_expiry_timestamp_seconds{entity}`: when the held entity access token expires.
    public static let tokenExpiry = "keyward_token_expiry_timestamp_seconds"
    /// `keyward_rotation_due_timestamp_seconds{entity}`: when the current secret falls due for
    /// rotation: `expiresAt - rotateBefore` (capped at a third of its lifetime; DESIGN.md,
    /// "Rotation", item 1), never before the secret was first held. Without `schedule run`'s
    /// per-process jitter (at most `--jitter`), which only delays the rotation.
    public static let rotationDue = "keyward_rotation_due_timestamp_seconds"
    /// `keyward_last_rotation_success_timestamp_seconds{entity}`: when the last rotation of the
    /// entity finished (its journal entry closed `done`, by any job on this vault).
    public static let lastRotationSuccess = "keyward_last_rotation_success_timestamp_seconds"
    /// `keyward_shared_lease_held{entity}`: 1 while some job (on any host) holds the entity's
    /// rotation lease in the shared store, else 0; only with a `shared:` store that answered.
    public static let sharedLeaseHeld = "keyward_shared_lease_held"
    /// `keyward_shared_publication_lag_seconds{entity}`: how long this host has been behind the
    /// shared store: when the publication holds another, newer secret than this host's vault
    /// (`status`'s "behind"), the seconds from its `publishedAt` to the report's time (at least
    /// 0); 0 when this host holds the published secret. No sample when nothing is published or
    /// the store could not be read.
    public static let sharedPublicationLag = "keyward_shared_publication_lag_seconds"

    /// Every gauge name, in exposition order.
    public static let names = [secretExpiry, tokenExpiry, rotationDue, lastRotationSuccess, sharedLeaseHeld, sharedPublicationLag]

    /// One gauge value.
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var entity: String
        public var value: Double
    }

    /// The samples of `report`, by gauge (in ``names`` order) then entity (in report order).
    public static func samples(_ report: StatusReport) -> [Sample] {
        var samples: [Sample] = []
        for name in names {
            for entity in report.entities {
                if let value = value(name, entity, now: report.generatedAt) {
                    samples.append(Sample(name: name, entity: entity.id, value: value))
                }
            }
        }
        return samples
    }

    private static func value(_ name: String, _ entity: StatusReport.Entity, now: Date) -> Double? {
        switch name {
        case secretExpiry: return entity.secret?.expiresAt?.timeIntervalSince1970
        case tokenExpiry: return entity.token?.expiresAt?.timeIntervalSince1970
        case rotationDue: return entity.secret?.rotationDueAt?.timeIntervalSince1970
        case lastRotationSuccess: return entity.lastRotation?.timeIntervalSince1970
        case sharedLeaseHeld:
            guard let shared = entity.shared, shared.error == nil else { return nil }
            return shared.leaseHolder == nil ? 0 : 1
        case sharedPublicationLag:
            guard let shared = entity.shared, shared.error == nil, shared.publishedGeneration != nil, let behind = shared.behind else { return nil }
            guard behind else { return 0 }
            return max(0, now.timeIntervalSince(shared.publishedAt ?? now))
        default: return nil
        }
    }
}

import Foundation

/// `vault:` section.
public struct VaultSettings: Sendable, Equatable {
    /// The vault file, resolved; `nil` when the configuration does not say (then `$KEYWARD_VAULT`
    /// or `$XDG_DATA_HOME/keyward/vault.db` applies).
    public var path: String?
    /// Versions kept per entry (labelled versions are always kept). Default 10.
    public var retention: Int
    /// How long the vault keeps audit rows and finished rotation journal entries
    /// (`vault.auditRetention`, a duration of 1d to 36500d). Default 90 days.
    public var auditRetention: Duration

    public init(path: String? = nil, retention: Int = 10, auditRetention: Duration = .seconds(90 * 86_400)) {
        self.path = path
        self.retention = retention
        self.auditRetention = auditRetention
    }
}

import Foundation
import KeywardCore
import Logging

/// The `shared:` section, validated (DESIGN.md, "Beyond one machine").
public struct SharedStoreSettings: Sendable, Equatable {
    /// The server and how to reach it.
    public var server: OpenBaoServerSettings
    /// The KV v2 mount (`secret`).
    public var mount: String
    /// Keyward's records live under `<mount>/data/<prefix>/` (`leases/<ID>`, `entities/<ID>`).
    public var prefix: String
    /// How long a lease lasts unless renewed (at least 5 s; renewed every `leaseTTL / 3`).
    public var leaseTTL: Duration

    public init(server: OpenBaoServerSettings, mount: String, prefix: String, leaseTTL: Duration) {
        self.server = server
        self.mount = mount
        self.prefix = prefix
        self.leaseTTL = leaseTTL
    }

    /// The `shared:` section's settings. - Throws: ``ConfigurationError`` naming each key and line.
    public static func parse(_ configuration: SharedStoreConfiguration) throws -> SharedStoreSettings { fatalError("wtC implements") }
}

/// ``SharedSecretStore`` on an OpenBao/Vault KV v2 mount: rotation leases at
/// `<prefix>/leases/<ID>` (check-and-set, the record's KV version as the fencing token, expiry
/// judged by the server's clock), publication records at `<prefix>/entities/<ID>`.
public final class OpenBaoSharedStore: SharedSecretStore {
    public let settings: SharedStoreSettings

    /// - Parameters:
    ///   - local: this host's coordinator (the vault's file lock), taken first and held with the lease.
    ///   - resetMargin: the least lease left, after advancing to `sent`, for a reset to be sent:
    ///     the longest provider timeout plus 5 s (DESIGN.md, "Fencing the reset").
    public init(settings: SharedStoreSettings, client: OpenBaoClient, local: any RotationCoordinator, resetMargin: Duration, logger: Logger) {
        self.settings = settings
        fatalError("wtC implements")
    }

    public var location: String { fatalError("wtC implements") }
    public func checkReady(context: OperationContext) async throws { fatalError("wtC implements") }
    public func acquire(_ entity: EntityID, context: OperationContext) async throws -> RotationGrant { fatalError("wtC implements") }
    public func publication(of entity: EntityID, context: OperationContext) async throws -> SecretPublication? { fatalError("wtC implements") }
    public func publish(_ entity: EntityID, secret: SecretRecord, fingerprint: String, txnId: String?, replacing: SecretPublication?,
                        context: OperationContext) async throws -> SecretPublication { fatalError("wtC implements") }
    public func leaseStatus(of entity: EntityID, context: OperationContext) async throws -> SharedLeaseStatus? { fatalError("wtC implements") }
    public func digest(_ value: SecretValue) -> String { fatalError("wtC implements") }
    public func credential(mount: String, path: String, key: String, context: OperationContext) async throws -> SecretValue { fatalError("coordinator implements") }
    public func releaseHeldLeases() async { fatalError("coordinator implements") }
}

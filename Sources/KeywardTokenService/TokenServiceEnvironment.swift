import Foundation

/// A named token service environment (token-service-contract.md, "Environments"), as a
/// provider's `baseURL` may name it.
public enum TokenServiceEnvironment: String, Sendable, CaseIterable {
    case production
    case uat
    case sandbox

    /// The environment's base URL, ending in `/iam/v1`.
    public var baseURL: URL {
        switch self {
        case .production: URL(string: "https://api.sahamati.org.in/iam/v1")!
        case .uat: URL(string: "https://api.uat.sahamati.org.in/iam/v1")!
        case .sandbox: URL(string: "https://api.sandbox.sahamati.org.in/iam/v1")!
        }
    }
}

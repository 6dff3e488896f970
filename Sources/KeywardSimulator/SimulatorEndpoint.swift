/// The four calls of `token-service-contract.md`, as the simulator counts them and as faults
/// are aimed at them. The raw values are the names the admin HTTP API uses.
public enum SimulatorEndpoint: String, Sendable, Codable, CaseIterable {
    /// `POST /user/token/generate`
    case userToken
    /// `POST /entity/secret/read`
    case secretRead
    /// `POST /entity/secret/reset`
    case secretReset
    /// `POST /entity/token/generate`
    case entityToken

    /// The path below the base URL (`…/iam/v1`).
    public var path: String {
        switch self {
        case .userToken: "/user/token/generate"
        case .secretRead: "/entity/secret/read"
        case .secretReset: "/entity/secret/reset"
        case .entityToken: "/entity/token/generate"
        }
    }
}

/// The unit of `expiresOn` in secret read/reset answers. Published examples use both
/// (token-service-contract.md, "POST /entity/secret/read and /entity/secret/reset").
public enum ExpiresOnUnit: String, Sendable, Codable, CaseIterable {
    /// Unix time in seconds, e.g. `1725010763`.
    case seconds = "s"
    /// Unix time in milliseconds, e.g. `1733226041466` (the default).
    case milliseconds = "ms"
}

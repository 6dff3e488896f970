import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one mint at a time is about: an entity's access token or a provider's user token.
public enum MintLockKey: Sendable, Hashable, CustomStringConvertible {
    case entityToken(EntityID)
    case userToken(provider: String)

    /// The lock file's name in `<vault>.locks` (DESIGN.md, "Files and defaults"):
    /// `<entity>.token.lock` and `providers-<NAME>.user-token.lock`.
    public var fileName: String {
        switch self {
        case .entityToken(let id): return "\(id.rawValue).token.lock"
        case .userToken(let provider):
            let safe = String(provider.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
            return "providers-\(safe).user-token.lock"
        }
    }

    public var description: String {
        switch self {
        case .entityToken(let id): return "\(id)'s entity token"
        case .userToken(let provider): return "provider \(provider)'s user token"
        }
    }
}

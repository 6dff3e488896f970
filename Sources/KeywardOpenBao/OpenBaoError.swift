import Foundation
import KeywardCore

/// A failed call to an OpenBao/Vault server. Its message names the server, the path and the
/// HTTP status, never a value or a token (DESIGN.md, "Beyond one machine": "Errors").
public struct OpenBaoError: CategorizedError, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// 403: the token expired or the policy denies the path (exit 3).
        case forbidden
        /// 404 on a mount: no such mount (exit 2).
        case mountNotFound
        /// The mount is KV version 1 (exit 2).
        case kvVersion1
        /// Check-and-set failed: another writer wrote the entry since it was read (exit 1).
        case casConflict
        /// The server is sealed or has no active node (exit 1).
        case sealed
        /// No answer within the timeout, or the connection failed (exit 1).
        case unreachable
        /// An answer this client cannot use (exit 1).
        case badResponse
        /// A request this client refused to make: bad path segment, plain http:// off loopback (exit 2).
        case usage
    }

    public var kind: Kind
    /// The server's address.
    public var server: String
    /// The API path called (`secret/data/keyward/prod/leases/FIU-1`), never a value.
    public var path: String
    /// The HTTP status, when there was an answer.
    public var status: Int?
    /// What went wrong, in words (the server's `errors` when they name no value).
    public var detail: String

    public init(_ kind: Kind, server: String, path: String, status: Int? = nil, detail: String) {
        self.kind = kind
        self.server = server
        self.path = path
        self.status = status
        self.detail = detail
    }

    public var category: FailureCategory {
        switch kind {
        case .forbidden: .authentication
        case .mountNotFound, .kvVersion1, .usage: .usage
        case .casConflict, .sealed, .unreachable, .badResponse: .operationFailed
        }
    }

    public var description: String {
        "OpenBao \(server): \(path)" + (status.map { ": HTTP \($0)" } ?? "") + ": \(detail)"
    }
}

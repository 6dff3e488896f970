import Foundation

/// An error that can say for certain that the service did not act on the request (400, 401,
/// 429): a reset failing so needs no recovery and its journal entry is `aborted`. Any other
/// failure of a reset leaves its outcome unknown, and rotation recovers by reading the secret,
/// never by a second reset (token-service-contract.md, "Reset semantics").
public protocol ServiceActionReporting: Error {
    var serviceDidNotAct: Bool { get }
}

/// An error that carries the service's own answer to "when may I try again" (HTTP
/// `Retry-After`, RFC 9110 section 10.2.3), in seconds. Schedulers wait at least that long.
public protocol RetryAfterReporting: Error {
    var retryAfterSeconds: Int? { get }
}

/// An error that carries the `txnId` of the service call that failed, so that the audit row of
/// a failed operation names it.
public protocol TransactionReporting: Error {
    var txnId: String? { get }
}

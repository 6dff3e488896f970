import Foundation
import KeywardCore

/// The conformance suite for ``RotationCoordinator`` implementations (the
/// contract is the one the protocol documents): plain Swift, returning the failed cases.
///
/// ```swift
/// #expect(await RotationCoordinatorConformance.run(FileRotationCoordinator(directory: dir)) == [])
/// ```
///
/// Each case uses its own entity (`CONFORMANCE-<CASE>`, or `entityPrefix` + the case), so a
/// coordinator backed by shared state should be given a fresh prefix per run. Every lease a
/// case takes is released before it returns.
public enum RotationCoordinatorConformance {
    /// The cases, by name, in the order they run.
    public static let cases = ["held-names-holder", "release-lets-next-in", "advance-is-inherited", "fencing-never-decreases"]

    /// Runs every case against `coordinator`.
    ///
    /// - Parameters:
    ///   - entityPrefix: the prefix of each case's entity id (a valid ``EntityID`` once the
    ///     case's upper-case name is appended).
    ///   - context: the context of every call; its `operation` is replaced by the suite's.
    /// - Returns: the failed cases; empty when the coordinator conforms.
    public static func run(_ coordinator: any RotationCoordinator, entityPrefix: String = "CONFORMANCE-",
                           context: OperationContext = OperationContext()) async -> [ConformanceFailure] {
        var failures: [ConformanceFailure] = []
        for name in cases {
            guard let entity = EntityID(entityPrefix + name.uppercased()) else {
                failures.append(ConformanceFailure(testCase: name, message: "'\(entityPrefix)' does not make a valid entity id"))
                continue
            }
            do {
                if let message = try await check(name, coordinator: coordinator, entity: entity, context: context) {
                    failures.append(ConformanceFailure(testCase: name, message: message))
                }
            } catch {
                failures.append(ConformanceFailure(testCase: name, message: "threw \(describe(error))"))
            }
        }
        return failures
    }

    /// The holder's word every case records; a `.held` answer must name it.
    static let holderWord = "conformance"

    private static func check(_ name: String, coordinator: any RotationCoordinator, entity: EntityID,
                              context: OperationContext) async throws -> String? {
        let holderContext = context.doing(holderWord)
        let otherContext = context.doing("contender")
        switch name {
        case "held-names-holder":
            guard case .granted(let lease) = try await coordinator.acquire(entity, context: holderContext) else {
                return "the first acquire of a free entity was answered held"
            }
            let second = try await coordinator.acquire(entity, context: otherContext)
            await lease.release()
            switch second {
            case .granted(let other):
                await other.release()
                return "a second acquire while the lease is held was granted"
            case .held(let holder):
                return holder.contains(holderWord) ? nil : "held(by: \"\(holder)\") does not name the holder's operation '\(holderWord)'"
            }
        case "release-lets-next-in":
            guard case .granted(let lease) = try await coordinator.acquire(entity, context: holderContext) else {
                return "the first acquire of a free entity was answered held"
            }
            await lease.release()
            await lease.release()  // idempotent
            guard case .granted(let next) = try await coordinator.acquire(entity, context: otherContext) else {
                return "after release, the next acquire was answered held"
            }
            await next.release()
            do {
                try await lease.advance(to: .sent, txnId: nil, secretHash: nil)
                return "advance on a released lease did not throw"
            } catch {
                return nil
            }
        case "advance-is-inherited":
            let recorded = RotationProgress(state: .sent, txnId: "conformance-txn-1", secretHash: "0123abcd")
            guard case .granted(let lease) = try await coordinator.acquire(entity, context: holderContext) else {
                return "the first acquire of a free entity was answered held"
            }
            try await lease.advance(to: .pending, txnId: nil, secretHash: recorded.secretHash)
            try await lease.advance(to: recorded.state, txnId: recorded.txnId, secretHash: recorded.secretHash)
            try await lease.renew()
            await lease.release()
            guard case .granted(let next) = try await coordinator.acquire(entity, context: otherContext) else {
                return "after release, the next acquire was answered held"
            }
            let inherited = next.inherited
            await next.release()
            return inherited == recorded ? nil : "the next holder inherited \(inherited.map { "\($0) (hash \($0.secretHash ?? "none"))" } ?? "nothing"), expected \(recorded) (hash 0123abcd)"
        case "fencing-never-decreases":
            var tokens: [UInt64] = []
            for _ in 0..<3 {
                guard case .granted(let lease) = try await coordinator.acquire(entity, context: holderContext) else {
                    return "an acquire of a released entity was answered held"
                }
                tokens.append(lease.fencingToken)
                await lease.release()
            }
            return zip(tokens, tokens.dropFirst()).allSatisfy { $0 <= $1 } ? nil : "fencing tokens of successive leases decreased: \(tokens)"
        default:
            return "unknown case"
        }
    }

    private static func describe(_ error: any Error) -> String {
        (error as? any CategorizedError)?.description ?? String(describing: type(of: error))
    }
}

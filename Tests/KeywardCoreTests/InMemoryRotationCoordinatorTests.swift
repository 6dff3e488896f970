import KeywardCore
import KeywardTesting
import Testing

@Suite("the in-memory fake coordinator")
struct InMemoryRotationCoordinatorTests {
    @Test("passes the coordinator conformance suite")
    func conforms() async {
        let failures = await RotationCoordinatorConformance.run(InMemoryRotationCoordinator())
        #expect(failures == [], "\(failures)")
    }

    @Test("the suite reports a coordinator that never says held, naming the case")
    func suiteCatchesABrokenCoordinator() async {
        struct AlwaysGrants: RotationCoordinator {
            func acquire(_ entity: EntityID, context: OperationContext) async throws -> RotationGrant {
                .granted(try await InMemoryRotationCoordinator().acquire(entity, context: context).lease!)
            }
        }
        let failures = await RotationCoordinatorConformance.run(AlwaysGrants())
        #expect(failures.map(\.testCase) == ["held-names-holder", "advance-is-inherited"], "\(failures)")
    }
}

extension RotationGrant {
    var lease: (any RotationLease)? {
        if case .granted(let lease) = self { return lease }
        return nil
    }
}

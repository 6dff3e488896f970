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

@Suite("crash steps: one list for the engine, the sinks and the vault")
struct CrashStepTests {
    @Test("the vault's steps are known; an unknown step is one warning naming the list")
    func oneList() {
        #expect(CrashHook.problems(in: ["KEYWARD_CRASH_AT": "vault.commit"]) == [])
        #expect(CrashHook.problems(in: ["KEYWARD_CRASH_AT": "vault.rekey-midway"]) == [])
        #expect(CrashHook.problems(in: ["KEYWARD_CRASH_AT": "after-store"]) == [])
        let problems = CrashHook.problems(in: ["KEYWARD_CRASH_AT": "after-stor"])
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("KEYWARD_CRASH_AT: unknown step 'after-stor' is ignored (steps: before-journal, after-journal, ") == true)
        #expect(CrashStep.allCases.count == Set(CrashStep.allCases.map(\.rawValue)).count)
    }
}

extension RotationGrant {
    var lease: (any RotationLease)? {
        if case .granted(let lease) = self { return lease }
        return nil
    }
}

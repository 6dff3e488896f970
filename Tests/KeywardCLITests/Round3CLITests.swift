import Foundation
import KeywardSimulator
import KeywardTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Round 3 of issue 12: what a fresh user found next. The built binary against the in-process
/// simulator; each test failed on the code before its fix.
@Suite("round 3: a refused user token is renewed once; the lock names a schedule run", .serialized)
struct Round3CLITests {
    @Test("the service forgets the cached user token: sync mints one fresh user token from the stored password and exits 0")
    func refusedUserTokenRenewed() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.run(["sync"])
        #expect(first.status == 0, "\(first.all)")
        // As a restarted service would: every user token minted so far is refused with 401.
        #expect(fixture.simulator.revokeUserTokens() >= 1)
        fixture.simulator.resetCounters()
        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 0, "\(sync.all)")
        #expect(!sync.all.contains("unauthorized"), "\(sync.all)")
        #expect(fixture.counter(.userToken) == 1, "one new user token, minted from the stored password")
        // The new token was kept: the next run needs none.
        let again = try await fixture.run(["sync"])
        #expect(again.status == 0, "\(again.all)")
        #expect(fixture.counter(.userToken) == 1)
        let secrets = try await DeliveryCLITests.secrets(fixture)
        #expect(LeakScanner.leaks(in: first.all + sync.all + again.all, of: secrets + [EngineFixture.password]).isEmpty)
    }
}

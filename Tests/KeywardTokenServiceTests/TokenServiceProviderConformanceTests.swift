import Foundation
import KeywardCore
import KeywardSimulator
import KeywardTesting
import KeywardTokenService
import Testing

@Suite("the token-service provider against the simulator: conformance and descriptor")
struct TokenServiceProviderConformanceTests {
    /// The provider as the registry builds it from a section naming the harness's simulator.
    static func provider(_ harness: Harness) throws -> (TokenServiceProvider, options: [String]) {
        let baseURL = harness.client.configuration.baseURL.absoluteString
        let configuration = ProviderConfiguration(name: "sim", type: TokenServiceProvider.type, options: [
            "baseURL": .string(baseURL), "username": .string(Harness.username), "password": .credential(.environment("SIM_PASSWORD")),
        ])
        let credentials = CredentialResolver(environment: ["SIM_PASSWORD": Harness.password.revealUTF8()], store: nil)
        let provider = try TokenServiceProvider(configuration: configuration, credentials: credentials)
        return (provider, ["baseURL: \(baseURL)", "username: \(Harness.username)", "password: env:SIM_PASSWORD"])
    }

    @Test("the token-service provider passes the provider conformance suite")
    func conformance() async throws {
        let harness = try await Harness.start()
        defer { Task { await harness.stop() } }
        let (provider, options) = try Self.provider(harness)
        let failures = await ProviderConformance(provider: provider, descriptor: TokenServiceProvider.descriptor, entity: Harness.entity,
                                                 options: options).run(context: harness.context)
        #expect(failures.isEmpty, "\(failures)")
        #expect(harness.counter(.secretReset) == 1, "one reset, never repeated")
    }

    @Test("its descriptor holds the service's rules: 180 days granted at most and by default, 5 days of grace, its options and timeout")
    func descriptorRules() throws {
        let descriptor = TokenServiceProvider.descriptor
        #expect(descriptor.type == "token-service")
        #expect(descriptor.options?.map(\.name) == ["baseURL", "username", "password", "timeout"])
        #expect(descriptor.secretValidity.grantedDays(asked: nil) == 180)
        #expect(descriptor.secretValidity.grantedDays(asked: 365) == 180)
        #expect(descriptor.secretValidity.grantedDays(asked: 90) == 90)
        #expect(descriptor.accessTokenLifetime == .seconds(86_400))
        let expired = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(descriptor.expiryNotices(expired, expired.addingTimeInterval(86_400)) == [
            "the secret EXPIRED at 2027-01-15T08:00:00Z; tokens are issued only during the grace period, until 2027-01-20T08:00:00Z: rotate now",
        ])
        #expect(descriptor.expiryNotices(expired, expired.addingTimeInterval(6 * 86_400)) == [
            "the secret EXPIRED at 2027-01-15T08:00:00Z and its grace period ended 2027-01-20T08:00:00Z: reset it",
        ])
        let section = ProviderConfiguration(name: "uat", type: "token-service", options: ["baseURL": .string("uat"), "username": .string("a@b.c"),
                                                                                          "timeout": .duration(.seconds(30))])
        #expect(descriptor.settings(section) == ProviderSettings(callTimeout: .seconds(30), credential: .vault("providers/uat/password"),
                                                                 endpoint: "https://api.uat.sahamati.org.in/iam/v1", account: "a@b.c"))
        #expect(throws: KeywardError.self) {
            try TokenServiceOptions(ProviderConfiguration(name: "uat", type: "token-service", options: ["username": .string("a@b.c")]))
        }
    }
}

import Foundation
import KeywardCore
import KeywardOpenBao
import Testing

/// Settings parsing needs no server.
@Suite("OpenBao shared store: the shared: section is validated")
struct SharedStoreSettingsTests {
    private func configuration(_ options: [String: ConfigurationValue], lines: [String: Int]) -> SharedStoreConfiguration {
        var all = options
        all["address"] = all["address"] ?? .string("http://127.0.0.1:8200")
        all["auth"] = all["auth"] ?? .map(["token": .string("env:BAO_TOKEN")])
        return SharedStoreConfiguration(type: "openbao", options: all, optionLines: lines.merging(["address": 3, "auth": 4]) { a, _ in a },
                                        line: 2, directory: "/tmp")
    }

    @Test("mount defaults to secret, leaseTTL to 60s")
    func defaults() throws {
        let settings = try SharedStoreSettings.parse(configuration(["prefix": .string("keyward/prod")], lines: ["prefix": 5]))
        #expect(settings.mount == "secret")
        #expect(settings.prefix == "keyward/prod")
        #expect(settings.leaseTTL == .seconds(60))
        let custom = try SharedStoreSettings.parse(configuration(["prefix": .string("k"), "mount": .string("kv/team"), "leaseTTL": .string("5s")],
                                                                 lines: [:]))
        #expect(custom.mount == "kv/team")
        #expect(custom.leaseTTL == .seconds(5))
    }

    @Test("errors name the key and its line: unknown key, bad prefix, short leaseTTL, bad mount; a missing prefix names shared:'s line")
    func errors() throws {
        let bad = configuration(["prefix": .string("keyward/../x"), "leaseTTL": .string("4s"), "mount": .string("/secret"), "bogus": .string("x")],
                                lines: ["prefix": 5, "leaseTTL": 6, "mount": 7, "bogus": 8])
        let error = try #require(throws: ConfigurationError.self) { try SharedStoreSettings.parse(bad) }
        let found = error.problems.map { "\($0.keyPath)@\($0.line ?? 0)" }
        #expect(found == ["shared.prefix@5", "shared.leaseTTL@6", "shared.mount@7", "shared.bogus@8"], "\(error.problems)")
        #expect(error.problems[1].message == "must be between 5s and 1h (a dead holder's lease blocks every host's rotations for that long)")

        let missing = try #require(throws: ConfigurationError.self) { try SharedStoreSettings.parse(configuration([:], lines: [:])) }
        #expect(missing.problems.map(\.keyPath) == ["shared.prefix"])
        #expect(missing.problems.first?.line == 2)

        let garbled = try #require(throws: ConfigurationError.self) {
            try SharedStoreSettings.parse(configuration(["prefix": .string("k"), "leaseTTL": .string("soon")], lines: ["leaseTTL": 9]))
        }
        #expect(garbled.problems.map { "\($0.keyPath)@\($0.line ?? 0)" } == ["shared.leaseTTL@9"])
    }

    @Test("the connection's problems (from OpenBaoServerSettings.parse) come with the store's, in line order")
    func connectionProblemsJoin() throws {
        let options: [String: ConfigurationValue] = ["auth": .map(["token": .string("env:BAO_TOKEN")]), "prefix": .string("a//b"),
                                                     "leaseTTL": .duration(.seconds(3))]
        let configuration = SharedStoreConfiguration(type: "openbao", options: options, optionLines: ["auth": 3, "prefix": 5, "leaseTTL": 6],
                                                     line: 2, directory: "/tmp")
        let error = try #require(throws: ConfigurationError.self) { try SharedStoreSettings.parse(configuration) }
        #expect(error.problems.map(\.keyPath) == ["shared.address", "shared.prefix", "shared.leaseTTL"], "\(error.problems)")
        #expect(error.problems.first?.line == 2)
    }
}

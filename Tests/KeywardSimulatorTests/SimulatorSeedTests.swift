import Foundation
import KeywardSimulator
import Testing
import Yams

@Suite struct SimulatorSeedTests {
    @Test("a seed in DESIGN.md's format loads, with durations and token lifetimes")
    func goodSeed() throws {
        let seed = try SimulatorSeed.load(yaml: """
            userTokenLifetime: 24h
            entityTokenLifetime: 15m
            users:
              - username: ops@example.com
                password: "pa$$ word"
                entities: [FIU-EXAMPLE-1, FIU-EXAMPLE-2]
            entities:
              - id: FIU-EXAMPLE-1
                secret: "s3cr+t/=="
                expiresIn: 180d
              - id: FIU-EXAMPLE-2
                expiresIn: 90s
              - id: LEGACY
            """)
        #expect(seed.userTokenLifetime == 86_400)
        #expect(seed.entityTokenLifetime == 900)
        #expect(seed.users == [.init(username: "ops@example.com", password: "pa$$ word", entities: ["FIU-EXAMPLE-1", "FIU-EXAMPLE-2"])])
        #expect(seed.entities == [
            .init(id: "FIU-EXAMPLE-1", secret: "s3cr+t/==", expiresIn: 180 * 86_400),
            .init(id: "FIU-EXAMPLE-2", secret: nil, expiresIn: 90),
            .init(id: "LEGACY", secret: nil, expiresIn: nil),
        ])
    }

    @Test("a bad seed names the field and its line, and never quotes a secret", arguments: [
        ("users:\n  - username: a\n    password: hunter2\n    colour: red\n", "users[0].colour", 4),
        ("entities:\n  - id: X\n    expiresIn: 3 weeks\n", "entities[0].expiresIn", 3),
        ("entities:\n  - id: X\n    expiresIn: 0d\n", "entities[0].expiresIn", 3),
        ("users:\n  - username: a\n    password: hunter2\n    entities: [NOPE]\n", "users[0].entities[0]", 4),
        ("users:\n  - username: a\n    entities: []\n", "users[0].password", 2),
        ("entities:\n  - id: X\n  - id: X\n", "entities[1].id", 3),
        ("entities:\n  - secret: hunter2\n", "entities[0].id", 2),
        ("userTokenLifetime: forever\n", "userTokenLifetime", 1),
        ("entities: {id: X}\n", "entities", 1),
    ] as [(String, String, Int)])
    func badSeed(yaml: String, field: String, line: Int) throws {
        let error = try #require(throws: SimulatorSeedError.self) { try SimulatorSeed.load(yaml: yaml) }
        #expect(error.field == field)
        #expect(error.line == line)
        #expect(error.description.contains(field))
        #expect(error.description.contains("line \(line)"))
        #expect(!error.description.contains("hunter2"))
    }

    @Test("YAML that does not parse is reported with its line")
    func brokenYAML() throws {
        let error = try #require(throws: SimulatorSeedError.self) {
            try SimulatorSeed.load(yaml: "users:\n  - username: a\n   password: [unclosed\n")
        }
        #expect(error.line != nil)
        #expect(error.description.contains("YAML"))
        #expect(throws: SimulatorSeedError.self) { try SimulatorSeed.load(yaml: "") }
    }

    @Test("the seed also decodes through Decodable (YAMLDecoder)")
    func decodable() throws {
        let seed = try YAMLDecoder().decode(SimulatorSeed.self, from: """
            entityTokenLifetime: 2h
            users: [{username: u, password: p, entities: [E]}]
            entities: [{id: E, expiresIn: 15m}]
            """)
        #expect(seed.entityTokenLifetime == 7_200)
        #expect(seed.entities.first?.expiresIn == 900)
        #expect(seed.users.first?.entities == ["E"])
    }

    @Test("the demo seed has one user for two entities")
    func demo() {
        let seed = SimulatorSeed.demo(password: "pw")
        #expect(seed.users.map(\.username) == ["ops@example.com"])
        #expect(seed.entities.map(\.id) == ["FIU-EXAMPLE-1", "FIU-EXAMPLE-2"])
    }
}

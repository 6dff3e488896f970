import Foundation
import KeywardCore
import KeywardTesting
import Testing

/// The plain-data parts of issue 12's process items: lock holder lines, token lock names, the
/// hook environment and the `onChangeTimeout` key. The behaviour across processes is tested end
/// to end in KeywardCLITests' ProcessCLITests.
@Suite("lock holders, token lock names, hook environment, onChangeTimeout")
struct ProcessCoordinationTests {
    static let registry = recordingRegistry()

    static let base = """
        version: 1
        providers:
          uat:
            baseURL: uat
            username: ops@example.com
        entities:
          FIU-1:
            provider: uat
        sinks:
          env:
            type: recording
            path: a.env
            entities: [FIU-1]

        """

    @Test("a lock holder line reads back as written and names the holder")
    func holderRoundTrip() throws {
        let holder = LockHolder(operation: "token mint", pid: 4242, since: Date(timeIntervalSince1970: 1_765_056_600.7))
        #expect(holder.fileContents == "operation=token-mint pid=4242 since=1765056600\n")
        let read = try #require(LockHolder(fileContents: holder.fileContents))
        #expect(read == holder)
        #expect(read.description == "a token mint (pid 4242, since 2025-12-06T21:30:00Z)")
        #expect(LockHolder(operation: "user token mint", pid: 1).description.hasPrefix("a user token mint (pid 1, since "))
        #expect(LockHolder(fileContents: "") == nil)
        #expect(LockHolder(fileContents: "operation=sync pid=x since=1\n") == nil)
    }

    @Test("token locks are named as DESIGN.md's 'Files and defaults' says; a provider name cannot leave the directory")
    func lockNames() throws {
        let id = try #require(EntityID("FIU-EXAMPLE-1"))
        #expect(MintLockKey.entityToken(id).fileName == "FIU-EXAMPLE-1.token.lock")
        #expect(MintLockKey.userToken(provider: "uat").fileName == "providers-uat.user-token.lock")
        #expect(MintLockKey.userToken(provider: "../x/y").fileName == "providers-___x_y.user-token.lock")
    }

    @Test("a hook sees PATH, HOME, LANG and TMPDIR only")
    func scrubbedEnvironment() {
        let environment = ["PATH": "/bin", "HOME": "/h", "LANG": "C", "TMPDIR": "/t", "KEYWARD_PASSPHRASE": "p", "KEYWARD_KEY_FILE": "/k",
                           "AWS_SECRET_ACCESS_KEY": "s", "USER": "u"]
        #expect(HookRunner.scrubbedEnvironment(environment) == ["PATH": "/bin", "HOME": "/h", "LANG": "C", "TMPDIR": "/t"])
    }

    @Test("onChangeTimeout defaults to 60s, takes a duration, and is refused without onChange or out of range")
    func onChangeTimeout() throws {
        let loader = ConfigurationLoader(registry: Self.registry)
        let plain = try loader.parse(yaml: Self.base + "    onChange: [true]\n", directory: "/")
        #expect(plain.sinks["env"]?.onChangeTimeout == .seconds(60))
        let set = try loader.parse(yaml: Self.base + "    onChange: [true]\n    onChangeTimeout: 2m\n", directory: "/")
        #expect(set.sinks["env"]?.onChangeTimeout == .seconds(120))
        for (yaml, fragment) in [(Self.base + "    onChangeTimeout: 2m\n", "there is no onChange command to time out"),
                                 (Self.base + "    onChange: [true]\n    onChangeTimeout: 2h\n", "expected between 1s and 1h"),
                                 (Self.base + "    onChange: [true]\n    onChangeTimeout: soon\n", "invalid duration 'soon'")] {
            let error = try #require(throws: ConfigurationError.self) { try loader.parse(yaml: yaml, file: "keyward.yaml", directory: "/") }
            #expect(error.problems.contains { $0.keyPath == "sinks.env.onChangeTimeout" && $0.message.contains(fragment) }, "\(error.problems)")
        }
    }
}

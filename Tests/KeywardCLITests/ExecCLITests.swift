import Foundation
import KeywardSimulator
import Testing

@Suite("keyward exec", .serialized)
struct ExecCLITests {
    @Test("CMD gets the variables, not the unlock variables; its status is Keyward's")
    func variablesAndStatus() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let alpha = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        let result = try await fixture.run(["exec", "FIU-ALPHA", "FIU-BETA", "--", "sh", "-c",
                                            "printf '%s|%s|%s' \"$FIU_ALPHA_SECRET\" \"$FIU_BETA_ENTITY_ID\" \"${KEYWARD_KEY_FILE-unset}\"; exit 7"])
        #expect(result.status == 7)
        #expect(result.stdout == "\(alpha)|FIU-BETA|unset")
        #expect(result.stderr.isEmpty)

        let pristine = try await fixture.run(["exec", "--pristine", "FIU-GAMMA", "--", "env"], extraEnvironment: ["UNRELATED": "1"])
        let names = pristine.stdout.split(separator: "\n").map { String($0.prefix { $0 != "=" }) }.sorted()
        #expect(names == ["FIU_GAMMA_ACCESS_TOKEN", "FIU_GAMMA_ENTITY_ID", "FIU_GAMMA_SECRET", "FIU_GAMMA_SECRET_EXPIRES_AT", "FIU_GAMMA_TOKEN_EXPIRES_AT", "HOME", "PATH"])

        let argv = try await fixture.run(["exec", "FIU-ALPHA", "--", "sh", "-c", "tr '\\0' ' ' < /proc/$$/cmdline"])
        #expect(argv.status == 0)
        #expect(!argv.stdout.contains(alpha), "secrets never on CMD's argv")
        #expect(argv.stdout.hasPrefix("sh -c "))
        #expect(try await fixture.run(["audit"]).stdout.contains("\texec\tFIU-ALPHA\tok"))
    }

    @Test("own failures exit 125, a CMD that cannot run 126, a CMD not found 127")
    func ownFailures() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        #expect(try await fixture.run(["exec", "FIU-ALPHA", "--", "no-such-command-xyz"]).status == 127)
        let notExecutable = fixture.directory.appendingPathComponent("script.sh")
        try "echo hi\n".write(to: notExecutable, atomically: true, encoding: .utf8)
        #expect(try await fixture.run(["exec", "FIU-ALPHA", "--", notExecutable.path]).status == 126)
        #expect(try await fixture.run(["exec", "FIU-NOPE", "--", "true"]).status == 125)
        #expect(try await fixture.run(["exec", "FIU-BETA", "--", "true"]).status == 125, "not synced yet")
        #expect(try await fixture.run(["exec", "FIU-ALPHA"]).status == 125, "no command")
        #expect(try await fixture.run(["exec", "--", "true"]).status == 125, "no entity")
        #expect(try await fixture.run(["exec", "--bogus", "FIU-ALPHA", "--", "true"]).status == 125)
        let locked = try await fixture.run(["exec", "FIU-ALPHA", "--", "true"], extraEnvironment: ["KEYWARD_KEY_FILE": ""])
        #expect(locked.status == 125)
        #expect(locked.stderr.contains("locked"))
    }

    @Test("SIGTERM reaches CMD, and CMD's exit status comes back")
    func signals() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = ["exec", "FIU-ALPHA", "--", "sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"]
        process.environment = fixture.environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]) { $1 }
        process.currentDirectoryURL = fixture.directory
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("ready") {
            let chunk = out.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            seen.append(chunk)
        }
        kill(process.processIdentifier, SIGTERM)
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { process.waitUntilExit(); continuation.resume() }
        }
        #expect(process.terminationStatus == 42)
    }
}

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KeywardSimulator
import Testing

@Suite("the keyward command, end to end")
struct CLITests {
    @Test("--version prints the version and exits 0")
    func version() async throws {
        let result = try await CommandRunner.run(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout == "0.1.0\n")
    }

    @Test("--help lists the commands and the exit codes")
    func help() async throws {
        let result = try await CommandRunner.run(["--help"])
        #expect(result.status == 0)
        for word in ["config", "vault", "simulator", "quickstart", "Exit codes"] {
            #expect(result.stdout.contains(word), "\(word)")
        }
    }

    @Test("usage errors exit 2, not ArgumentParser's 64", arguments: [["--bogus"], ["config", "check", "--output", "yaml"], ["nosuchcommand"], ["simulator", "--port", "70000"]])
    func usageErrors(arguments: [String]) async throws {
        let result = try await CommandRunner.run(arguments)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(!result.stderr.isEmpty)
    }

    @Test("config check accepts a valid file and summarises it without credentials")
    func configCheck() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
            version: 1
            providers:
              uat:
                baseURL: uat
                username: ops@example.com
                password: env:UAT_PASSWORD
            entities:
              FIU-EXAMPLE-1:
                secretExpiryDays: 365
            """.write(to: directory.appendingPathComponent("keyward.yaml"), atomically: true, encoding: .utf8)
        let result = try await CommandRunner.run(["config", "check"], environment: ["UAT_PASSWORD": "never-printed-pw"], directory: directory)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("provider uat: token-service https://api.uat.sahamati.org.in/iam/v1 as ops@example.com, password from env:UAT_PASSWORD"))
        #expect(result.stderr.contains("warning: line 9: entities.FIU-EXAMPLE-1.secretExpiryDays"))
        #expect(!result.all.contains("never-printed-pw"))

        let json = try await CommandRunner.run(["config", "check", "--output", "json", "--quiet"], directory: directory)
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["version"] as? Int == 1)
        #expect((object["entities"] as? [[String: Any]])?.first?["rotateBefore"] as? String == "15d")
        #expect(json.stderr.isEmpty)
    }

    @Test("a broken configuration exits 2 naming the key and line, and does not echo a literal password")
    func configBroken() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("custom.yaml")
        try """
            version: 1
            providers:
              uat:
                baseURL: http://10.1.2.3/iam/v1
                username: ops@example.com
                password: Sup3r-Secret-Literal
            entities:
              FIU-EXAMPLE-1:
                rotateBefore: fortnight
            """.write(to: path, atomically: true, encoding: .utf8)
        let before = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        let result = try await CommandRunner.run(["config", "check", "--config", path.path], directory: directory)
        #expect(result.status == 2)
        #expect(result.stderr.contains("line 4, column 14: providers.uat.baseURL: plain http:// is allowed only for loopback hosts"))
        #expect(result.stderr.contains("line 6, column 15: providers.uat.password: must be a reference"))
        #expect(result.stderr.contains("line 9, column 19: entities.FIU-EXAMPLE-1.rotateBefore: invalid duration 'fortnight'"))
        #expect(!result.all.contains("Sup3r-Secret-Literal"))
        #expect(result.stdout.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == before, "writes nothing")

        let missing = try await CommandRunner.run(["config", "check"], environment: ["KEYWARD_CONFIG": directory.appendingPathComponent("nope.yaml").path], directory: directory)
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("nope.yaml: the configuration file does not exist"))
    }

    @Test("quickstart runs the whole flow on the embedded simulator, prints no secret, and cleans up")
    func quickstart() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await CommandRunner.run(["quickstart"], environment: ["TMPDIR": directory.path], directory: directory)
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("login:         password for ops@example.com checked and stored in the vault"))
        #expect(result.stdout.contains("FIU-EXAMPLE-1: ok (new secret version, token minted); secret v1"))
        #expect(result.stdout.contains("FIU-EXAMPLE-2: ok (new secret version, token minted); secret v1"))
        #expect(result.stdout.contains("sink app-env: written"))
        #expect(result.stdout.contains("sink app-json: written"))
        #expect(result.stdout.contains("token service calls: userToken 1, secretRead 2, entityToken 2, secretReset 0"))
        #expect(!result.stdout.contains("eyJ"), "no token printed")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("keyward-quickstart-") }
        #expect(leftovers.isEmpty)
    }
}

@Suite("keyward simulator as a process")
struct SimulatorProcessTests {
    @Test("prints its address, serves the admin API, and stops on SIGTERM with exit 0")
    func lifecycle() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let seed = directory.appendingPathComponent("seed.yaml")
        try """
            users:
              - username: ops@example.com
                password: "seed-password-123"
                entities: [FIU-A]
            entities:
              - id: FIU-A
                secret: "seeded+secret/=="
                expiresIn: 30d
            """.write(to: seed, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = ["simulator", "--port", "0", "--seed", seed.path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.hasPrefix("listening on http://127.0.0.1:"))
        let root = try #require(URL(string: text.replacingOccurrences(of: "listening on ", with: "").trimmingCharacters(in: .whitespacesAndNewlines)))

        let (secretsData, _) = try await URLSession.shared.data(from: root.appendingPathComponent("_sim/secrets"))
        let secrets = try JSONSerialization.jsonObject(with: secretsData) as? [String: String]
        #expect(secrets?["FIU-A"] == "seeded+secret/==")

        var request = URLRequest(url: root.appendingPathComponent("iam/v1/user/token/generate"))
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data("username=ops%40example.com&password=seed-password-123".utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let (countersData, _) = try await URLSession.shared.data(from: root.appendingPathComponent("_sim/counters"))
        let counters = try JSONSerialization.jsonObject(with: countersData) as? [String: Int]
        #expect(counters?["userToken"] == 1)

        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let stderr = String(decoding: (try? err.fileHandleForReading.readToEnd()) ?? Data(), as: UTF8.self)
        #expect(!stderr.contains("seed-password-123"))
        #expect(!stderr.contains("seeded+secret/=="))
    }

    @Test("a bad seed file exits 2 naming the problem; a non-loopback host is refused")
    func badInput() async throws {
        let directory = try CommandRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let seed = directory.appendingPathComponent("seed.yaml")
        try "users:\n  - username: a@b.c\n    pasword: x\n".write(to: seed, atomically: true, encoding: .utf8)
        let bad = try await CommandRunner.run(["simulator", "--seed", seed.path])
        #expect(bad.status == 2, "\(bad.stderr)")
        #expect(bad.stderr.contains("line"))
        let missing = try await CommandRunner.run(["simulator", "--seed", directory.appendingPathComponent("none.yaml").path])
        #expect(missing.status == 2)
        let remote = try await CommandRunner.run(["simulator", "--host", "0.0.0.0"])
        #expect(remote.status == 2)
        #expect(remote.stderr.contains("loopback"))
    }
}

import Foundation
import KeywardSimulator
import Testing

/// Issue 12, items 1, 2, 8, 9 and 10 (the engine's truth about secrets and tokens): the built
/// binary against the in-process simulator. Each test failed on the code before the fix.
@Suite("delivery: the vault follows the service, and no dead credential leaves with exit 0", .serialized)
struct DeliveryCLITests {
    static let dotenvSink = """
        sinks:
          alpha-env:
            type: dotenv
            path: deploy/alpha.env
            entities: [FIU-ALPHA]
          gamma-env:
            type: dotenv
            path: deploy/gamma.env
            entities: [FIU-GAMMA]
        """

    static func withSinks(_ sinks: String = dotenvSink) async throws -> EngineFixture {
        let fixture = try await EngineFixture.start()
        let config = fixture.directory.appendingPathComponent("keyward.yaml")
        try (try String(contentsOf: config, encoding: .utf8) + sinks + "\n").write(to: config, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: fixture.directory.appendingPathComponent("deploy"), withIntermediateDirectories: true)
        return fixture
    }

    static func date(_ value: Any?) -> Date? {
        (value as? String).flatMap { text in
            let formatter = ISO8601DateFormatter()
            if let plain = formatter.date(from: text) { return plain }
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.date(from: text)
        }
    }

    /// `status --output json`'s entity object for `id`.
    static func statusEntity(_ fixture: EngineFixture, _ id: String, environment: [String: String] = [:]) async throws -> [String: Any] {
        let status = try await fixture.run(["status", "--output", "json", id], extraEnvironment: environment)
        #expect(status.status == 0, "\(status.all)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        return try #require((report["entities"] as? [[String: Any]])?.first)
    }

    /// The value of `key` in a dotenv file (quotes removed).
    static func dotenvValue(_ fixture: EngineFixture, _ path: String, _ key: String) throws -> String? {
        let text = try String(contentsOf: fixture.directory.appendingPathComponent(path), encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("\(key)=") }) else { return nil }
        var value = String(line.dropFirst(key.count + 1))
        if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
        if value.hasPrefix("'"), value.hasSuffix("'"), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
        return value
    }

    /// Every secret and token in play (for the leak scan): the fixture's, plus the vault's tokens.
    static func secrets(_ fixture: EngineFixture) async throws -> [String] {
        var secrets = fixture.secrets()
        for id in ["FIU-ALPHA", "FIU-BETA", "FIU-GAMMA"] {
            let token = try await fixture.run(["vault", "get", "entities/\(id)/token"])
            if token.status == 0, !token.stdout.isEmpty { secrets.append(token.stdout) }
        }
        return secrets
    }

    // MARK: - Item 1: follow the service, always

    @Test("the service changes a secret's expiry, not its bytes: one sync and the vault, status, rotation due date and a dotenv sink follow")
    func followsServiceExpiry() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.run(["sync"])
        #expect(first.status == 0, "\(first.all)")
        let before = try await Self.statusEntity(fixture, "FIU-ALPHA")
        let beforeDue = try #require(Self.date((before["secret"] as? [String: Any])?["rotationDueAt"]))
        let beforeExpiry = try #require(Self.date((before["secret"] as? [String: Any])?["expiresAt"]))

        // An operator extends FIU-ALPHA by 60 days; FIU-GAMMA (a legacy secret) gains an expiry.
        #expect(fixture.simulator.setSecretExpiry(for: "FIU-ALPHA", expiresIn: 150 * 86_400))
        #expect(fixture.simulator.setSecretExpiry(for: "FIU-GAMMA", expiresIn: 30 * 86_400))
        let alphaExpiry = try #require(fixture.simulator.secretExpiry(for: "FIU-ALPHA"))
        let gammaExpiry = try #require(fixture.simulator.secretExpiry(for: "FIU-GAMMA"))

        let sync = try await fixture.run(["sync"])
        #expect(sync.status == 0, "\(sync.all)")
        #expect(sync.stdout.contains("FIU-ALPHA: ok (expiry updated from the service)"), "\(sync.stdout)")
        #expect(sync.stdout.contains("FIU-GAMMA: ok (expiry updated from the service)"), "\(sync.stdout)")

        let alpha = try await Self.statusEntity(fixture, "FIU-ALPHA")
        let alphaSecret = try #require(alpha["secret"] as? [String: Any])
        let shown = try #require(Self.date(alphaSecret["expiresAt"]), "\(alpha)")
        #expect(abs(shown.timeIntervalSince(alphaExpiry)) < 1, "status follows the service: \(alpha)")
        #expect(alphaSecret["version"] as? Int == 1, "the same secret: no new version")
        let due = try #require(Self.date(alphaSecret["rotationDueAt"]))
        #expect(shown.timeIntervalSince(beforeExpiry) > 59 * 86_400)
        #expect(abs(due.timeIntervalSince(beforeDue) - shown.timeIntervalSince(beforeExpiry)) < 2, "the rotation due date moved with the expiry: \(alpha)")
        let gamma = try await Self.statusEntity(fixture, "FIU-GAMMA")
        let gammaShown = try #require(Self.date((gamma["secret"] as? [String: Any])?["expiresAt"]), "the legacy secret gained an expiry: \(gamma)")
        #expect(abs(gammaShown.timeIntervalSince(gammaExpiry)) < 1)

        let sinkAlpha = try #require(Self.date(try Self.dotenvValue(fixture, "deploy/alpha.env", "FIU_ALPHA_SECRET_EXPIRES_AT")))
        #expect(abs(sinkAlpha.timeIntervalSince(alphaExpiry)) < 1, "the sink's {entity.secretExpiresAt} follows")
        let sinkGamma = try #require(Self.date(try Self.dotenvValue(fixture, "deploy/gamma.env", "FIU_GAMMA_SECRET_EXPIRES_AT")))
        #expect(abs(sinkGamma.timeIntervalSince(gammaExpiry)) < 1)

        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        let again = try await fixture.run(["sync", "--output", "json"])
        let outcomes = (try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])?["entities"] as? [[String: Any]]
        #expect(outcomes?.map { $0["outcome"] as? String } == ["unchanged", "unchanged", "unchanged"], "recorded once: \(again.stdout)")
        let secrets = try await Self.secrets(fixture)
        #expect(secrets.filter { first.all.contains($0) || sync.all.contains($0) || again.all.contains($0) }.isEmpty)
    }

    // MARK: - Item 2: never deliver a dead credential with exit 0

    @Test("a day later the cached token is dead: exec and export mint a fresh one; status says it expired and --fail-within exits 6")
    func expiredTokenIsRenewed() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let oldToken = try await fixture.vaultGet("entities/FIU-ALPHA/token")
        let day = ["KEYWARD_CLOCK_OFFSET_SECONDS": "\(25 * 3_600)"]
        fixture.simulator.advanceClock(bySeconds: 25 * 3_600)

        let status = try await fixture.run(["status", "FIU-ALPHA"], extraEnvironment: day)
        #expect(status.status == 0, "\(status.all)")
        #expect(status.stdout.contains("token EXPIRED"), "status says the token expired: \(status.stdout)")
        let failing = try await fixture.run(["status", "--fail-within", "1h", "FIU-ALPHA"], extraEnvironment: day)
        #expect(failing.status == 6, "an expired token counts for --fail-within: \(failing.all)")
        #expect(failing.stderr.contains("FIU-ALPHA: the entity access token expired"), "\(failing.stderr)")

        let minted = fixture.counter(.entityToken)
        let exec = try await fixture.run(["exec", "FIU-ALPHA", "--", "env"], extraEnvironment: day)
        #expect(exec.status == 0, "\(exec.all)")
        let variables = Dictionary(exec.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
            guard let equals = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<equals]), String(line[line.index(after: equals)...]))
        }) { first, _ in first }
        let token = try #require(variables["FIU_ALPHA_ACCESS_TOKEN"])
        #expect(token != oldToken, "exec never hands out the expired token")
        let tokenExpiry = try #require(Self.date(variables["FIU_ALPHA_TOKEN_EXPIRES_AT"]))
        #expect(tokenExpiry > fixture.simulator.now, "the token CMD gets is valid")
        #expect(fixture.counter(.entityToken) == minted + 1)
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/token") == token, "the fresh token is kept")

        // Another day on, and the service refuses to mint: export refuses (exit 1), prints nothing.
        fixture.simulator.advanceClock(bySeconds: 25 * 3_600)
        fixture.simulator.inject(.status500, endpoint: .entityToken, count: 50)
        let twoDays = ["KEYWARD_CLOCK_OFFSET_SECONDS": "\(50 * 3_600)"]
        let export = try await fixture.run(["export", "FIU-ALPHA", "--format", "dotenv"], extraEnvironment: twoDays)
        fixture.simulator.clearFaults()
        #expect(export.status == 1, "\(export.all)")
        #expect(export.stdout.isEmpty, "nothing delivered: \(export.stdout)")
        #expect(export.stderr.contains("FIU-ALPHA") && export.stderr.contains("expired"), "says why: \(export.stderr)")
        let secrets = try await Self.secrets(fixture) + [oldToken]
        #expect(secrets.filter { status.all.contains($0) || failing.all.contains($0) || export.all.contains($0) }.isEmpty)
    }

    @Test("a sink naming an entity the run did not sync never gets its expired token: it is minted, or the sink is refused naming it")
    func sinkNeverGetsExpiredToken() async throws {
        let fixture = try await Self.withSinks("""
            sinks:
              both-env:
                type: dotenv
                path: deploy/both.env
                entities: [FIU-ALPHA, FIU-BETA]
            """)
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let oldBeta = try await fixture.vaultGet("entities/FIU-BETA/token")
        fixture.simulator.advanceClock(bySeconds: 25 * 3_600)
        let day = ["KEYWARD_CLOCK_OFFSET_SECONDS": "\(25 * 3_600)"]
        let sync = try await fixture.run(["sync", "FIU-ALPHA"], extraEnvironment: day)
        #expect(sync.status == 0, "\(sync.all)")
        let betaToken = try #require(try Self.dotenvValue(fixture, "deploy/both.env", "FIU_BETA_ACCESS_TOKEN"))
        #expect(betaToken != oldBeta, "the sink never holds FIU-BETA's expired token")
        let betaExpiry = try #require(Self.date(try Self.dotenvValue(fixture, "deploy/both.env", "FIU_BETA_TOKEN_EXPIRES_AT")))
        #expect(betaExpiry > fixture.simulator.now)

        // Another day, and FIU-BETA's mint fails: the sink is refused, naming it (exit 5: FIU-ALPHA
        // itself synced, the sink failed; DESIGN.md's partial).
        fixture.simulator.advanceClock(bySeconds: 25 * 3_600)
        let before = try String(contentsOf: fixture.directory.appendingPathComponent("deploy/both.env"), encoding: .utf8)
        let twoDays = ["KEYWARD_CLOCK_OFFSET_SECONDS": "\(50 * 3_600)"]
        #expect(try await fixture.run(["token", "FIU-ALPHA"], extraEnvironment: twoDays).status == 0)
        fixture.simulator.inject(.status500, endpoint: .entityToken, count: 50)
        let refused = try await fixture.run(["sync", "FIU-ALPHA"], extraEnvironment: twoDays)
        fixture.simulator.clearFaults()
        #expect(refused.status == 5, "\(refused.all)")
        #expect(refused.stderr.contains("sink both-env") && refused.stderr.contains("FIU-BETA") && refused.stderr.contains("expired"), "\(refused.stderr)")
        #expect(try String(contentsOf: fixture.directory.appendingPathComponent("deploy/both.env"), encoding: .utf8) == before, "nothing written")
        let secrets = try await Self.secrets(fixture) + [oldBeta]
        #expect(secrets.filter { sync.all.contains($0) || refused.all.contains($0) }.isEmpty)
    }

    @Test("status --fail-within exits 6 for an entity with no secret")
    func noSecretFails() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA", "FIU-GAMMA"]).status == 0)
        let status = try await fixture.run(["status", "--fail-within", "1d"])
        #expect(status.status == 6, "\(status.all)")
        #expect(status.stderr.contains("FIU-BETA: no secret"), "\(status.stderr)")
        #expect(!status.stderr.contains("FIU-ALPHA") && !status.stderr.contains("FIU-GAMMA"), "\(status.stderr)")
        #expect(try await fixture.run(["status", "--fail-within", "1d", "FIU-ALPHA"]).status == 0)
    }

    @Test("killed at after-reset-answer: export finishes the rotation and delivers the service's secret, never the superseded one with exit 0")
    func exportAfterCrash() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let old = try await fixture.vaultGet("entities/FIU-ALPHA/secret")
        let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-reset-answer"])
        #expect(RotateCLITests.killed.contains(crashed.status), "\(crashed.all)")
        let server = try #require(fixture.simulator.currentSecret(for: "FIU-ALPHA"))
        #expect(server != old)

        let export = try await fixture.run(["export", "FIU-ALPHA", "--format", "json"])
        #expect(export.status == 0, "\(export.all)")
        let exported = try #require(try JSONSerialization.jsonObject(with: Data(export.stdout.utf8)) as? [String: Any])
        #expect(exported["FIU_ALPHA_SECRET"] as? String == server, "export finished the rotation first")
        #expect(try await fixture.vaultGet("entities/FIU-ALPHA/secret") == server)
        #expect(try Self.dotenvValue(fixture, "deploy/alpha.env", "FIU_ALPHA_SECRET") != nil)
        #expect(fixture.counter(.secretReset) == 1, "finished by secret/read, never a second reset")
        let entity = try await Self.statusEntity(fixture, "FIU-ALPHA")
        #expect(entity["openJournal"] is NSNull, "\(entity)")
        #expect(!export.stderr.contains(server) && !export.stderr.contains(old))
    }

    @Test("an open rotation that cannot be finished (service down): export exits 1 and exec 125, naming the entity; nothing delivered")
    func openRotationRefused() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-reset-answer"])
        #expect(RotateCLITests.killed.contains(crashed.status), "\(crashed.all)")
        fixture.simulator.inject(.status500, endpoint: .secretRead, count: 200)
        let export = try await fixture.run(["export", "FIU-ALPHA", "--format", "json"])
        #expect(export.status == 1, "\(export.all)")
        #expect(export.stdout.isEmpty, "the superseded secret is never printed: \(export.stdout)")
        #expect(export.stderr.contains("FIU-ALPHA") && export.stderr.contains("rotation"), "\(export.stderr)")
        let exec = try await fixture.run(["exec", "FIU-ALPHA", "--", "sh", "-c", "echo ran"])
        #expect(exec.status == 125, "\(exec.all)")
        #expect(!exec.stdout.contains("ran"), "CMD never runs with the superseded secret")
        #expect(exec.stderr.contains("FIU-ALPHA"), "\(exec.stderr)")
        fixture.simulator.clearFaults()
        let audit = try await fixture.run(["audit"])
        #expect(audit.stdout.contains("\texport\tFIU-ALPHA\tfailed"), "a failed export is audited as failed: \(audit.stdout)")
        #expect(audit.stdout.contains("\texec\tFIU-ALPHA\tfailed"), "a failed exec is audited as failed: \(audit.stdout)")
        #expect(fixture.secrets().filter { export.all.contains($0) || exec.all.contains($0) }.isEmpty)
    }

    // MARK: - Item 8: say what happened

    @Test("failed export, exec and login are audited as failed; a failed login names the service's txnId")
    func failuresAudited() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["export", "FIU-BETA", "--format", "json"]).status == 1, "not synced yet")
        #expect(try await fixture.run(["exec", "FIU-BETA", "--", "true"]).status == 125, "not synced yet")
        let login = try await fixture.run(["login", "sim"], stdin: "wrong password\n")
        #expect(login.status == 3, "\(login.all)")
        let audit = try await fixture.run(["audit"])
        let rows = audit.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.contains { $0.count == 5 && $0[1] == "export" && $0[2] == "FIU-BETA" && $0[3] == "failed" }, "\(audit.stdout)")
        #expect(rows.contains { $0.count == 5 && $0[1] == "exec" && $0[2] == "FIU-BETA" && $0[3] == "failed" }, "\(audit.stdout)")
        let failedLogin = rows.last { $0.count == 5 && $0[1] == "login sim" }
        #expect(failedLogin?[3] == "failed", "\(audit.stdout)")
        #expect(failedLogin.map { $0[4] != "-" && !$0[4].isEmpty } == true, "the refused call's txnId: \(audit.stdout)")
    }

    @Test("a recovered rotation is reported as recovered, not as a minted token")
    func recoveredIsSaid() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        let crashed = try await fixture.run(["rotate", "--force", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CRASH_AT": "after-token"])
        #expect(RotateCLITests.killed.contains(crashed.status), "\(crashed.all)")
        let sync = try await fixture.run(["sync", "FIU-ALPHA"])
        #expect(sync.status == 0, "\(sync.all)")
        let line = try #require(sync.stdout.split(separator: "\n").first { $0.hasPrefix("FIU-ALPHA:") })
        #expect(line.contains("recovered an interrupted rotation"), "\(sync.stdout)")
        #expect(!line.contains("token minted"), "\(sync.stdout)")
    }

    @Test("sync --dry-run on a fresh vault shows the sinks it would write (exit 0), and no entity is `unchanged` beneath a plan that changes it")
    func dryRunOnFreshVault() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        let plan = try await fixture.run(["sync", "--dry-run"])
        #expect(plan.status == 0, "\(plan.all)")
        #expect(plan.stdout.contains("write sink alpha-env"), "\(plan.stdout)")
        #expect(plan.stdout.contains("write sink gamma-env"), "\(plan.stdout)")
        #expect(!plan.stdout.contains(": unchanged"), "\(plan.stdout)")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("deploy/alpha.env").path), "nothing written")
        let json = try await fixture.run(["sync", "--dry-run", "--output", "json"])
        #expect(json.status == 0, "\(json.all)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let outcomes = (report["entities"] as? [[String: Any]])?.map { $0["outcome"] as? String }
        #expect(outcomes == ["ok", "ok", "ok"], "\(json.stdout)")
        #expect(fixture.counter(.entityToken) == 0 && fixture.counter(.secretReset) == 0)

        // Synced: a token due and an expiry changed are changes too; the sink naming it would be written.
        #expect(try await fixture.run(["sync"]).status == 0)
        #expect(fixture.simulator.setSecretExpiry(for: "FIU-ALPHA", expiresIn: 120 * 86_400))
        let later = try await fixture.run(["sync", "--dry-run"])
        #expect(later.status == 0, "\(later.all)")
        #expect(later.stdout.contains("FIU-ALPHA: ok (would: record the service's new expiry)"), "\(later.stdout)")
        #expect(later.stdout.contains("write sink alpha-env"), "\(later.stdout)")
        #expect(later.stdout.contains("keep sink gamma-env"), "\(later.stdout)")
        #expect(later.stdout.contains("FIU-GAMMA: unchanged"), "\(later.stdout)")
        let rotatePlan = try await fixture.run(["rotate", "--dry-run", "--force", "FIU-ALPHA"])
        #expect(rotatePlan.status == 0, "\(rotatePlan.all)")
        #expect(!rotatePlan.stdout.contains("FIU-ALPHA: unchanged"), "\(rotatePlan.stdout)")
    }

    // MARK: - Item 9: exit codes that tell the truth

    @Test("sync while a reset's outcome is unknown exits 1 and says the sinks may hold a dead secret")
    func unknownResetOutcomeFailsSync() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync"]).status == 0)
        fixture.simulator.inject(.status500, endpoint: .secretReset)
        let rotate = try await fixture.run(["rotate", "--force", "FIU-ALPHA"])
        #expect(rotate.status == 1, "\(rotate.all)")
        let sync = try await fixture.run(["sync", "FIU-ALPHA"])
        #expect(sync.status == 1, "\(sync.all)")
        #expect(sync.stderr.contains("has no known outcome yet"), "\(sync.stderr)")
        #expect(sync.stderr.contains("dead secret"), "\(sync.stderr)")
        #expect(try await fixture.run(["audit"]).stdout.contains("\tsync\tFIU-ALPHA\tfailed"), "audited as failed too")
        let all = try await fixture.run(["sync", "--output", "json"])
        #expect(all.status == 5, "the others synced: partial: \(all.all)")
        #expect(fixture.counter(.secretReset) == 1)
    }

    // MARK: - Item 10: small things a user hit

    @Test("status rounds day counts to the nearest day")
    func daysRounded() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let status = try await fixture.run(["status", "FIU-ALPHA"])
        #expect(status.stdout.contains("(in 90 days)"), "90 days less a few seconds is 90 days: \(status.stdout)")
        let later = try await fixture.run(["status", "FIU-ALPHA"], extraEnvironment: ["KEYWARD_CLOCK_OFFSET_SECONDS": "\(10 * 86_400 + 7 * 3_600)"])
        #expect(later.stdout.contains("(in 80 days)"), "79 days and 17 hours is 80 days: \(later.stdout)")
    }

    @Test("a secret adopted inside its rotation window is due since it was first seen, never before")
    func dueNotBeforeFirstSeen() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        fixture.simulator.setSecret("adopted-with-ten-days-left", for: "FIU-BETA", expiresIn: 10 * 86_400)
        let started = Date()
        #expect(try await fixture.run(["sync", "FIU-BETA"]).status == 0)
        let entity = try await Self.statusEntity(fixture, "FIU-BETA")
        let due = try #require(Self.date((entity["secret"] as? [String: Any])?["rotationDueAt"]), "\(entity)")
        #expect(due >= started.addingTimeInterval(-2), "due since \(due), first seen \(started)")
        let warning = (entity["warnings"] as? [String])?.first { $0.hasPrefix("rotation due since") }
        #expect(warning != nil, "\(entity)")
    }

    @Test("sync --sink NAME reads, mints and audits only the entities that sink names")
    func syncOneSink() async throws {
        let fixture = try await Self.withSinks()
        defer { Task { await fixture.stop() } }
        let sync = try await fixture.run(["sync", "--sink", "alpha-env", "--output", "json"])
        #expect(sync.status == 0, "\(sync.all)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(sync.stdout.utf8)) as? [String: Any])
        #expect((report["entities"] as? [[String: Any]])?.map { $0["id"] as? String } == ["FIU-ALPHA"], "\(sync.stdout)")
        #expect((report["sinks"] as? [[String: Any]])?.map { $0["name"] as? String } == ["alpha-env"], "\(sync.stdout)")
        #expect(fixture.counter(.secretRead) == 1)
        #expect(fixture.counter(.entityToken) == 1)
        #expect(try await fixture.run(["vault", "get", "entities/FIU-BETA/secret"]).status != 0, "FIU-BETA untouched")
        let audit = try await fixture.run(["audit"])
        #expect(!audit.stdout.contains("sync\tFIU-BETA") && !audit.stdout.contains("sync\tFIU-GAMMA"), "\(audit.stdout)")
        #expect(audit.stdout.contains("sync\tFIU-ALPHA\tok"), "\(audit.stdout)")
    }

    @Test("an entity id in the service's message is shown as it is, never as <redacted>")
    func entityIdNotRedacted() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-BETA"]).status == 0)
        // FIU-BETA's secret expired a day ago: tokens still come, with the service's notice.
        fixture.simulator.advanceClock(bySeconds: 41 * 86_400)
        let sync = try await fixture.run(["sync", "FIU-BETA"], extraEnvironment: ["KEYWARD_CLOCK_OFFSET_SECONDS": "\(41 * 86_400)"])
        #expect(sync.stderr.contains("The secret of entity FIU-BETA expired"), "\(sync.all)")
        #expect(!sync.all.contains("<redacted>"), "\(sync.all)")
        #expect(fixture.secrets().filter { sync.all.contains($0) }.isEmpty)
    }
}

import Foundation
import Testing

@Suite("keyward schedule print")
struct ScheduleCLITests {
    @Test("cron, systemd and a CronJob that kubernetes-validate accepts; no secret printed")
    func printSchedules() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        let config = fixture.directory.appendingPathComponent("keyward.yaml").standardizedFileURL.path
        let keyFile = fixture.environment["KEYWARD_KEY_FILE"]!

        let cron = try await fixture.run(["schedule", "print", "--cron"])
        #expect(cron.status == 0, "\(cron.all)")
        let line = try #require(cron.stdout.split(separator: "\n").first { $0.hasPrefix("17 3 * * * ") })
        #expect(line.contains("keyward rotate --config \(config) --quiet; KEYWARD_KEY_FILE=\(keyFile) "))
        #expect(line.contains("keyward sync --config \(config) --quiet"))
        #expect(line.contains("KEYWARD_KEY_FILE=\(keyFile) \(CommandRunner.binary.resolvingSymlinksInPath().path) rotate"))

        let systemd = try await fixture.run(["schedule", "print", "--systemd"])
        #expect(systemd.status == 0)
        #expect(systemd.stdout.contains("Type=oneshot"))
        #expect(systemd.stdout.contains("OnCalendar=daily"))
        #expect(systemd.stdout.contains("Environment=KEYWARD_KEY_FILE=\(keyFile)"))
        #expect(systemd.stdout.components(separatedBy: "ExecStart=").count == 3)
        // systemd-analyze verify, where this machine has it (it needs no running systemd).
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") {
            let units = fixture.directory.appendingPathComponent("units")
            try FileManager.default.createDirectory(at: units, withIntermediateDirectories: true)
            let parts = systemd.stdout.components(separatedBy: "# /etc/systemd/system/keyward-rotate.timer")
            #expect(parts.count == 2)
            try parts[0].write(to: units.appendingPathComponent("keyward-rotate.service"), atomically: true, encoding: .utf8)
            try ("# timer" + parts[1]).write(to: units.appendingPathComponent("keyward-rotate.timer"), atomically: true, encoding: .utf8)
            _ = try runTool(["systemd-analyze", "verify", units.appendingPathComponent("keyward-rotate.service").path,
                             units.appendingPathComponent("keyward-rotate.timer").path])
        }

        let manifest = fixture.directory.appendingPathComponent("cronjob.yaml")
        let kubernetes = try await fixture.run(["schedule", "print", "--kubernetes", "--namespace", "payments", "--image", "registry.example.com/keyward:0.1.0"])
        #expect(kubernetes.status == 0)
        #expect(kubernetes.stdout.contains("concurrencyPolicy: Forbid"))
        try kubernetes.stdout.write(to: manifest, atomically: true, encoding: .utf8)
        _ = try runTool(["kubernetes-validate", "--strict", manifest.path])

        for output in [cron.all, systemd.all, kubernetes.all] {
            #expect(fixture.secrets().filter { output.contains($0) }.isEmpty)
        }
        #expect(try await fixture.run(["schedule", "print"]).status == 2)
        #expect(try await fixture.run(["schedule", "print", "--cron", "--systemd"]).status == 2)
        #expect(try await fixture.run(["schedule", "print", "--cron", "--config", "/nonexistent.yaml"]).status == 2)
    }
}

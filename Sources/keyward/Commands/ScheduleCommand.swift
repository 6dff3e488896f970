import ArgumentParser
import Foundation
import KeywardCore

/// `keyward schedule print --cron|--systemd|--kubernetes`.
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Schedule rotation: print a crontab line, a systemd timer or a Kubernetes CronJob.",
        subcommands: [Print.self]
    )

    struct Print: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "print",
            abstract: "Print a schedule that runs `keyward rotate` then `keyward sync` daily with this configuration.",
            discussion: """
                --cron: one crontab line. --systemd: a oneshot service and a daily timer. \
                --kubernetes: a batch/v1 CronJob (concurrencyPolicy: Forbid) that mounts \
                keyward.yaml and vault.key from a Secret (--secret-name) and keeps the vault on the \
                keyward-vault PersistentVolumeClaim. Nothing secret is printed: the key file \
                appears as its path.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "A crontab line.") var cron = false
        @Flag(name: .long, help: "A systemd service and timer.") var systemd = false
        @Flag(name: .long, help: "A Kubernetes CronJob.") var kubernetes = false

        @Option(name: .long, help: "--kubernetes: the image holding keyward.") var image = "keyward:latest"
        @Option(name: .long, help: "--kubernetes: the Secret holding keyward.yaml and vault.key.") var secretName = "keyward"
        @Option(name: .long, help: "--kubernetes: the namespace.") var namespace: String?

        func validate() throws {
            guard [cron, systemd, kubernetes].filter({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --cron, --systemd, --kubernetes")
            }
        }

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            // The configuration must load: a schedule for a broken file would fail every night.
            let path = ConfigurationLoader.locate(explicit: global.config, environment: environment)
            let loaded = try ConfigurationLoader(registry: BuiltInPlugins.registry()).load(path: path)
            let config = URL(fileURLWithPath: loaded.file ?? path).standardizedFileURL.path
            let keyward = Bundle.main.executableURL?.resolvingSymlinksInPath().path ?? CommandLine.arguments[0]
            let keyFile = environment["KEYWARD_KEY_FILE"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0).standardizedFileURL.path }
            if cron {
                Output.print(ScheduleTemplates.cron(keyward: keyward, config: config, keyFile: keyFile))
            } else if systemd {
                Output.print(ScheduleTemplates.systemd(keyward: keyward, config: config, keyFile: keyFile))
            } else {
                Output.print(ScheduleTemplates.kubernetes(image: image, namespace: namespace, secretName: secretName))
            }
        }
    }
}

import ArgumentParser
import Foundation
import KeywardCore
import KeywardExternal
import KeywardTesting

/// `keyward plugin test [--kind sink|provider] [--option NAME=VALUE…] [--env NAME…] [--entity ID]
/// -- COMMAND [ARG…]`: the conformance suite for external plugins (``ExternalPluginConformance``)
/// run against an executable (DESIGN.md, "Plugins"). Prints each case; exits 0 when every case
/// passes, 1 naming each failed case, 2 for a usage error.
struct PluginTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the conformance suite of protocol 1 against a plugin executable.",
        discussion: """
            Cases: describe answers protocol 1 with a valid description; every capability it \
            claims works (a sink: hostile values written and read back byte for byte, a second \
            identical write answers unchanged, a dry run changes nothing; a provider: fetch of \
            --entity, reset, token); bad JSON, an unknown operation and protocol 2 are each \
            answered with an invalid error; a call that cannot finish is stopped at its timeout \
            and leaves no process behind. The plugin runs in a temporary directory, removed \
            afterwards: give paths in --option as absolute paths. The provider cases reset the \
            entity's secret: use a test store or entity. Exits 0 when every case passes, 1 \
            naming each failed case, 2 for a usage error (among them a required option of the \
            plugin missing from --option, or an option it does not declare).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("sink or provider (default: what its describe answers).", valueName: "kind"))
    var kind: String?

    @Option(name: .customLong("option"), help: ArgumentHelp("One of the plugin's options, as NAME=VALUE (repeatable).", valueName: "name=value"))
    var options: [String] = []

    @Option(name: .customLong("env"), help: ArgumentHelp("A variable the plugin may see besides PATH, HOME, LANG, TMPDIR (repeatable).", valueName: "name"))
    var environmentNames: [String] = []

    @Option(name: .long, help: ArgumentHelp("A provider's test entity (its secret is reset when the plugin claims reset).", valueName: "id"))
    var entity: String?

    @Option(name: .long, help: ArgumentHelp("How long one call may run (default 30s).", valueName: "duration"))
    var timeout: String?

    @Argument(parsing: .postTerminator, help: ArgumentHelp("-- COMMAND [ARG…]: the plugin executable and its arguments.", valueName: "command"))
    var command: [String] = []

    /// The JSON document of `--output json`.
    struct Report: Encodable {
        struct Item: Encodable {
            var name: String
            var outcome: String
            var message: String?
        }
        var version = 1
        var command: [String]
        var passed: Bool
        var cases: [Item]
    }

    /// The value of a `secret` option given as `env:NAME` or `file:PATH` (a relative path against
    /// the current directory; the file private to the user, DESIGN.md's "Files and defaults").
    ///
    /// - Throws: ``CommandExit`` (exit 2) for any other form, an unset variable or a file that
    ///   is missing or open to others, naming the option, never a value.
    static func resolveSecretOption(_ name: String, _ value: String, here: String, environment: [String: String],
                                    context: OperationContext) async throws -> String {
        let parsed: CredentialReference?
        do {
            parsed = try CredentialReference.parseLocal(value) { path in path.hasPrefix("/") ? path : here + "/" + path }
        } catch {
            throw CommandExit(code: ExitCodes.usage, message: "--option \(name): \(error.message)")
        }
        // `vault:` and shared-store references need an unlocked vault or a `shared:` section,
        // which `plugin test` does not open.
        let reference: CredentialReference
        switch parsed {
        case .environment(let variable)?: reference = .environment(variable)
        case .file(let path)?: reference = .file(path)
        default:
            throw CommandExit(code: ExitCodes.usage,
                              message: "--option \(name) is a secret option: give env:NAME or file:PATH, never the value (a command line is visible to every user in ps)")
        }
        do {
            let secret = try await CredentialResolver(environment: environment, store: nil).resolve(reference, context: context)
            guard let text = String(validating: secret.revealBytes(), as: UTF8.self) else {
                throw CommandExit(code: ExitCodes.usage, message: "--option \(name): \(reference) is not valid UTF-8 (protocol 1 sends options as JSON strings)")
            }
            return text
        } catch let error as KeywardError {
            throw CommandExit(code: ExitCodes.usage, message: "--option \(name): \(error.message)")
        }
    }

    func run() async throws {
        let context = global.makeContext()
        let usage = "usage: keyward plugin test [--kind sink|provider] [--option NAME=VALUE…] [--env NAME…] [--entity ID] -- COMMAND [ARG…]"
        guard let program = command.first, !program.isEmpty else {
            throw CommandExit(code: ExitCodes.usage, message: "name the plugin after -- (\(usage))")
        }
        var pluginKind: PluginKind?
        if let kind {
            guard let parsed = PluginKind(rawValue: kind) else {
                throw CommandExit(code: ExitCodes.usage, message: "--kind must be sink or provider, not '\(kind)'")
            }
            pluginKind = parsed
        }
        var pluginOptions: [String: String] = [:]
        for option in options {
            guard let (name, value) = ExternalPluginConformance.parseOption(option) else {
                throw CommandExit(code: ExitCodes.usage, message: "--option takes NAME=VALUE, not '\(option)'")
            }
            pluginOptions[name] = value
        }
        if let forbidden = environmentNames.first(where: { $0.hasPrefix("KEYWARD_") || $0.isEmpty || $0.contains("=") }) {
            throw CommandExit(code: ExitCodes.usage, message: "--env may not name '\(forbidden)' (Keyward's own KEYWARD_* variables never reach a plugin)")
        }
        var callTimeout = ExternalPluginReference.defaultTimeout
        if let timeout {
            guard let seconds = DurationParser.seconds(timeout) else {
                throw CommandExit(code: ExitCodes.usage, message: "--timeout: '\(timeout)' is not \(DurationParser.formDescription)")
            }
            callTimeout = .seconds(seconds)
        }
        if pluginKind == .provider, entity == nil {
            throw CommandExit(code: ExitCodes.usage, message: "a provider's cases need a test entity: --entity ID")
        }
        let environment = ProcessInfo.processInfo.environment
        let here = FileManager.default.currentDirectoryPath
        let located: [String]
        do {
            located = try ExternalPlugin.locate(command, directory: here, environment: environment)
        } catch {
            switch error {
            case .notFound(let executable, let searched):
                let place = searched.isEmpty ? "PATH has no absolute directory" : "searched: \(searched.joined(separator: ", "))"
                throw CommandExit(code: ExitCodes.usage, message: "plugin '\(executable)' was not found on PATH (\(place))")
            case .unusable(let message):
                throw CommandExit(code: ExitCodes.usage, message: message)
            }
        }
        let executable = located[0]

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-plugin-test-\(UUID().uuidString)").path
        do {
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CommandExit(code: ExitCodes.operationFailed, message: "cannot create a temporary directory for the plugin")
        }
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        // Options checked against the plugin's own describe, as the configuration loader checks
        // an entry's (a describe that fails is left to the suite's first case to report).
        let probe = ExternalPlugin(command: [executable] + command.dropFirst(), directory: scratch, timeout: callTimeout,
                                   environmentNames: environmentNames, processEnvironment: environment)
        if let description = try? await offPool({ try probe.describe(expecting: nil) }) {
            let missing = description.options.filter { $0.value.required && pluginOptions[$0.key] == nil }.keys.sorted()
            let unknown = pluginOptions.keys.filter { description.options[$0] == nil }.sorted()
            if !missing.isEmpty || !unknown.isEmpty {
                let parts = (missing.isEmpty ? [] : ["it requires " + missing.map { "--option \($0)=VALUE" }.joined(separator: ", ")])
                    + (unknown.isEmpty ? [] : ["it declares no option " + unknown.joined(separator: ", ")])
                throw CommandExit(code: ExitCodes.usage, message: "plugin \(executable): " + parts.joined(separator: "; "))
            }
            // A `secret` option is a reference, as in keyward.yaml: a value on the command line
            // would be readable in `ps` by every user of the machine.
            for (name, value) in pluginOptions where description.options[name]?.kind == .credential {
                pluginOptions[name] = try await Self.resolveSecretOption(name, value, here: here, environment: environment, context: context)
            }
        }

        let suite = ExternalPluginConformance(
            command: [executable] + command.dropFirst(), kind: pluginKind, options: pluginOptions, environmentNames: environmentNames,
            processEnvironment: environment, entity: entity, directory: scratch, timeout: callTimeout, logger: context.logger)
        let cases = await suite.runCases()
        let failed = cases.filter { !$0.passed }

        switch global.output {
        case .json:
            try Output.printJSON(Report(command: [executable] + command.dropFirst(), passed: failed.isEmpty,
                                        cases: cases.map { Report.Item(name: $0.name, outcome: $0.passed ? "passed" : "failed", message: $0.failure) }))
        case .text:
            var lines = cases.map { item in item.failure.map { "FAIL  \(item.name): \($0)" } ?? "pass  \(item.name)" }
            lines.append("\(cases.count - failed.count) of \(cases.count) cases passed")
            Output.print(lines.joined(separator: "\n"))
        }
        if !failed.isEmpty {
            let names = failed.map(\.name).joined(separator: "; ")
            throw CommandExit(code: ExitCodes.operationFailed,
                              message: "plugin test: \(failed.count) of \(cases.count) cases failed: \(names)")
        }
    }
}

import ArgumentParser
import Foundation
import KeywardCore

/// The `keyward` command: the composition root. It parses, builds the dispatcher, makes one
/// call and renders the result; the exit code comes from ``ExitCodes`` and nowhere else.
@main
struct KeywardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyward",
        abstract: "Keep Account Aggregator entity credentials in an encrypted vault, rotate them, deliver them.",
        discussion: """
            Exit codes: 0 success, 1 an operation failed, 2 usage or configuration error, \
            3 authentication refused by the token service, 4 vault locked / wrong key / integrity failure, \
            5 partial success, 6 a secret expires within --fail-within.
            """,
        version: Keyward.version,
        subcommands: [
            ConfigCommand.self,
            VaultCommand.self,
            LoginCommand.self,
            SyncCommand.self,
            RotateCommand.self,
            TokenCommand.self,
            ExportCommand.self,
            ExecCommand.self,
            ScanCommand.self,
            StatusCommand.self,
            AuditCommand.self,
            ScheduleCommand.self,
            SimulatorCommand.self,
            QuickstartCommand.self,
            PluginCommand.self,
        ]
    )

    /// Runs the command and exits with the code DESIGN.md's table gives, instead of
    /// ArgumentParser's 64 for usage errors and 1 for everything else.
    static func main() async {
        Output.prepareStandardStreams()
        do {
            let arguments = Array(CommandLine.arguments.dropFirst())
            let split = ExecCommand.splitAtTerminator(arguments)
            var command = try parseAsRoot(split?.parsed ?? arguments)
            do {
                try OutputFormatRule.check(command)
            } catch where command is ExecCommand {
                // `exec` reports its own failures, usage included, as 125 (DESIGN.md, "Exit codes").
                throw CommandExit(code: ExitCodes.execOwnFailure, message: ExitCodes.execMessage(for: error))
            }
            if var exec = command as? ExecCommand, let split {
                exec.command = split.command
                command = exec
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
        if let failure = Output.writeFailure {
            Output.writeError("keyward: \(failure)\n")
            Foundation.exit(ExitCodes.code(afterOutputFailure: ExitCodes.success))
        }
    }

    static func exit(withError error: any Error) -> Never {
        if let code = ExitCodes.code(for: error) {
            let message = ExitCodes.message(for: error)
            if !message.isEmpty {
                Output.writeError("keyward: \(message)\n")
            }
            if let failure = Output.writeFailure {
                Output.writeError("keyward: \(failure)\n")
                Foundation.exit(ExitCodes.code(afterOutputFailure: code))
            }
            Foundation.exit(code)
        }
        // A mistyped command: say which one was meant.
        if let unknown = CommandSuggestion.unknownSubcommand(in: Array(CommandLine.arguments.dropFirst())) {
            // The whole command as it would be typed: `vault list`, not `list`.
            let hint = unknown.suggestion.map { "; did you mean '\((unknown.path.dropLast() + [$0]).joined(separator: " "))'?" } ?? ""
            let available = unknown.suggestion == nil ? " (commands: \(unknown.available.joined(separator: ", ")))" : ""
            Output.writeError("keyward: unknown command '\(unknown.path.joined(separator: " "))'\(hint)\(available)\n")
            Foundation.exit(ExitCodes.usage)
        }
        // Help, version and usage errors: ArgumentParser prints them; we choose the code.
        let code = Self.exitCode(for: error)
        let text = Self.fullMessage(for: error)
        if !text.isEmpty {
            if code == .success { Output.print(text) } else { Output.writeError(text + "\n") }
        }
        if let failure = Output.writeFailure {
            Output.writeError("keyward: \(failure)\n")
            Foundation.exit(ExitCodes.code(afterOutputFailure: ExitCodes.success))
        }
        // `exec` reserves 126 and 127 for CMD and reports its own failures, usage included, as 125.
        let usage = CommandLine.arguments.dropFirst().first == "exec" ? ExitCodes.execOwnFailure : ExitCodes.usage
        Foundation.exit(code == .success ? 0 : (code == .validationFailure ? usage : code.rawValue))
    }
}

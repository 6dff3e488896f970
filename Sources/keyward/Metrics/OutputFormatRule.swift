import ArgumentParser
import KeywardCore

/// Every format `--output` can name. Most commands print `text` or `json`; `status` also
/// prints `prometheus` (DESIGN.md, "Commands" and "Operability"), `scan` also `sarif`
/// (DESIGN.md, "Leak scanning and masked output"). Not `CaseIterable`: ArgumentParser would
/// list all four in every command's help, where each command's help names its own.
enum RequestedOutput: String, ExpressibleByArgument, Sendable {
    case text
    case json
    case prometheus
    case sarif
}

/// A command that accepts other `--output` formats than `text` and `json`.
protocol OutputFormatOffering {
    /// The formats the command prints.
    static var outputFormats: [RequestedOutput] { get }
}

/// The one rule for `--output`: a command accepts `text` and `json` unless it is an
/// ``OutputFormatOffering`` naming more. Checked once, after parsing and before the command
/// runs, so no command needs its own copy: a format the command does not print is a usage
/// error (exit 2) naming the formats it does.
enum OutputFormatRule {
    static let standard: [RequestedOutput] = [.text, .json]

    /// - Throws: ``KeywardError`` (usage) when `command`'s `--output` is not one it prints.
    static func check(_ command: any ParsableCommand) throws {
        // Every command's `--output` lives in GlobalOptions, or in ScanOptions for `scan`.
        guard let requested = Mirror(reflecting: command).children.lazy.compactMap({ child -> RequestedOutput? in
            (child.value as? OptionGroup<GlobalOptions>)?.wrappedValue.requestedOutput
                ?? (child.value as? OptionGroup<ScanOptions>)?.wrappedValue.output
        }).first
        else { return }
        let allowed = (type(of: command) as? any OutputFormatOffering.Type)?.outputFormats ?? standard
        guard allowed.contains(requested) else {
            let name = path(to: type(of: command), under: KeywardCommand.self)?.dropFirst().joined(separator: " ") ?? "this command"
            let list = allowed.map(\.rawValue)
            let words = list.dropLast().joined(separator: ", ") + (list.count > 1 ? " or " : "") + (list.last ?? "")
            let hint = switch requested {
            case .prometheus: " (prometheus is for `keyward status`)"
            case .sarif: " (sarif is for `keyward scan`)"
            default: ""
            }
            throw KeywardError.usage("--output \(requested.rawValue): `keyward \(name)` prints \(words)\(hint)")
        }
    }

    /// The command words from `root` to `target` (`["keyward", "schedule", "run"]`).
    static func path(to target: any ParsableCommand.Type, under root: any ParsableCommand.Type) -> [String]? {
        let name = root.configuration.commandName ?? ""
        if ObjectIdentifier(root) == ObjectIdentifier(target) { return [name] }
        for child in root.configuration.subcommands {
            if let rest = path(to: target, under: child) { return [name] + rest }
        }
        return nil
    }
}

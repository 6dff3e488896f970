import ArgumentParser
import KeywardCore

/// Finds a mistyped subcommand (`keyward synk`, `keyward vault lsit`) and the name closest to
/// it, so the error can say "did you mean 'sync'?" instead of only "unexpected argument".
enum CommandSuggestion {
    struct Unknown: Equatable {
        /// The command words as typed, the unknown one last, e.g. `["vault", "lsit"]`.
        var path: [String]
        /// The closest subcommand name, when one is close enough.
        var suggestion: String?
        /// Every subcommand name at that level.
        var available: [String]
    }

    /// The first word of `arguments` that stands where a subcommand is expected and names
    /// none; `nil` when every command word is known (the error is about something else) or an
    /// option comes first (ArgumentParser's own message is right then).
    static func unknownSubcommand(in arguments: [String], root: any ParsableCommand.Type = KeywardCommand.self) -> Unknown? {
        var command = root
        var path: [String] = []
        for argument in arguments {
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty, !argument.hasPrefix("-"), argument != "help" else { return nil }
            path.append(argument)
            if let next = subcommands.first(where: { $0._commandName == argument }) {
                command = next
                continue
            }
            let names = subcommands.map { $0._commandName }
            return Unknown(path: path, suggestion: closest(to: argument, among: names), available: names)
        }
        return nil
    }

    /// The name at the smallest edit distance from `word` (optimal string alignment: an
    /// insertion, deletion, substitution or swap of neighbours costs 1), when that distance is
    /// at most 2 and less than half the name; else the one name `word` is a prefix of, if any.
    static func closest(to word: String, among names: [String]) -> String? {
        let scored = names.map { (name: $0, distance: TypoSuggestion.distance(Array(word.lowercased()), Array($0))) }
        if let best = scored.min(by: { $0.distance < $1.distance }), best.distance <= 2, best.distance * 2 < best.name.count {
            return best.name
        }
        let prefixed = names.filter { $0.hasPrefix(word.lowercased()) }
        return prefixed.count == 1 ? prefixed[0] : nil
    }
}

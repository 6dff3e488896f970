import ArgumentParser
import Foundation
import KeywardCore

/// DESIGN.md's exit-code table, applied in this one place.
enum ExitCodes {
    static let success: Int32 = 0
    static let operationFailed: Int32 = 1
    static let usage: Int32 = 2
    static let authentication: Int32 = 3
    static let vault: Int32 = 4
    static let partial: Int32 = 5
    static let expiringSoon: Int32 = 6
    /// `scan`: a secret or one of its encodings was found.
    static let leakFound: Int32 = 7
    /// `exec`: Keyward's own failure before CMD ran (126 and 127 are CMD's, as in env(1)).
    static let execOwnFailure: Int32 = 125

    /// The exit code when writing stdout failed: 1 unless the command
    /// already failed with its own code.
    static func code(afterOutputFailure code: Int32) -> Int32 {
        code == success ? operationFailed : code
    }

    static func code(for category: FailureCategory) -> Int32 {
        switch category {
        case .operationFailed: operationFailed
        case .usage: usage
        case .authentication: authentication
        case .vault: vault
        case .partial: partial
        case .expiringSoon: expiringSoon
        }
    }

    /// The exit code for errors Keyward raised itself; `nil` for ArgumentParser's own
    /// (help, version, usage), which the caller handles.
    static func code(for error: any Error) -> Int32? {
        if let exit = error as? CommandExit { return exit.code }
        if let categorized = error as? any CategorizedError { return code(for: categorized.category) }
        if error is CleanExit || error is ExitCode || error is ValidationError { return nil }
        if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { return nil }
        return operationFailed
    }

    /// The text printed to stderr for an error Keyward raised itself: its `description`,
    /// which every Keyward error type keeps free of secrets.
    static func message(for error: any Error) -> String {
        if let exit = error as? CommandExit { return exit.message ?? "" }
        if let categorized = error as? any CategorizedError { return categorized.description }
        return "unexpected error: \(type(of: error))"
    }

    /// `exec`'s line for its own failure before CMD ran (exit 125): the message, naming the
    /// code the table would give (DESIGN.md, "Exit codes"), e.g. `… (code 4: vault)`.
    static func execMessage(for error: any Error) -> String {
        let text = message(for: error)
        guard let code = code(for: error) else { return text }
        let meaning = [1: "operation failed", 2: "usage or configuration", 3: "authentication", 4: "vault", 5: "partial"][code]
        return text + " (code \(code)" + (meaning.map { ": \($0)" } ?? "") + ")"
    }
}

/// Ends a command with a given exit code after it printed its own results (partial success,
/// `--fail-within`), optionally with one line for stderr.
struct CommandExit: Error {
    var code: Int32
    var message: String?
}

import ArgumentParser
import Foundation
import KeywardCore
import Logging

/// Flags every command takes (DESIGN.md, "Commands").
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The configuration file (default: $KEYWARD_CONFIG, else ./keyward.yaml).", valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("The vault file (default: $KEYWARD_VAULT, else vault.path, else $XDG_DATA_HOME/keyward/vault.db).", valueName: "path"))
    var vault: String?

    @Option(name: .long, help: "Result format: text or json.")
    var output: OutputFormat = .text

    @Flag(name: .long, help: "Print only errors on stderr; no progress.")
    var quiet = false

    @Flag(name: .long, help: "Print debug diagnostics on stderr (never secret values).")
    var verbose = false

    func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose cannot be used together") }
    }

    /// Bootstraps logging to stderr once and returns the context for this run.
    func makeContext(dryRun: Bool = false, defaultLevel: Logger.Level = .warning) -> OperationContext {
        let level: Logger.Level = verbose ? .debug : (quiet ? .error : defaultLevel)
        LoggingBootstrap.once(level: level)
        var logger = Logger(label: "keyward")
        logger.logLevel = level
        for problem in CrashHook.problems(in: ProcessInfo.processInfo.environment) { Output.warn(problem) }
        return OperationContext(logger: logger, clock: SystemClock.fromEnvironment(), dryRun: dryRun)
    }
}

enum OutputFormat: String, ExpressibleByArgument, Sendable {
    case text
    case json
}

/// swift-log may be bootstrapped once per process.
enum LoggingBootstrap {
    private static let done = NSLock()
    nonisolated(unsafe) private static var bootstrapped = false

    static func once(level: Logger.Level) {
        done.withLock {
            guard !bootstrapped else { return }
            bootstrapped = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// Writes a result to stdout.
enum Output {
    static func print(_ text: String) {
        FileHandle.standardOutput.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }

    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func warn(_ text: String) {
        FileHandle.standardError.write(Data("keyward: warning: \(text)\n".utf8))
    }
}

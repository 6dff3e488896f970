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
            LoggingSystem.bootstrap { _ in
                var handler = DiagnosticLogHandler()
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// Log records on stderr in the one style every diagnostic of the command line uses:
/// `keyward: warning: MESSAGE`, `keyward: error: MESSAGE`, `keyward: debug: MESSAGE key=value …`
/// (metadata sorted by key; `--verbose` shows debug records). Like ``Output/warn(_:)``, so a
/// warning reads the same whether the engine logged it or a command printed it.
struct DiagnosticLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "keyward: \(Self.name(event.level)): \(event.message)"
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in all.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        Output.writeDiagnostic(line + "\n")
    }

    static func name(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        case .critical: "critical"
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

    /// A warning on stderr: `keyward: warning: TEXT`, the one style (DiagnosticLogHandler's too).
    static func warn(_ text: String) {
        writeDiagnostic("keyward: warning: \(text)\n")
    }

    /// One diagnostic line on stderr, written whole (concurrent entities log from several threads).
    static func writeDiagnostic(_ line: String) {
        diagnostics.withLock { FileHandle.standardError.write(Data(line.utf8)) }
    }

    private static let diagnostics = NSLock()
}

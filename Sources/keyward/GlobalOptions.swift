import ArgumentParser
import Foundation
import KeywardCore
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Flags every command takes (DESIGN.md, "Commands").
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The configuration file (default: $KEYWARD_CONFIG, else ./keyward.yaml).", valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("The vault file (default: $KEYWARD_VAULT, else vault.path, else $XDG_DATA_HOME/keyward/vault.db).", valueName: "path"))
    var vault: String?

    /// `--output` as given; which formats a command accepts is ``OutputFormatRule``'s one rule.
    @Option(name: .customLong("output"), help: "Result format: text or json (status: also prometheus).")
    var requestedOutput: RequestedOutput = .text

    /// The format of a command that prints text or JSON: `--output prometheus` never reaches
    /// such a command (``OutputFormatRule`` refuses it first, exit 2).
    var output: OutputFormat { requestedOutput == .json ? .json : .text }

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
        let clock = SystemClock.fromEnvironment()
        return OperationContext(logger: logger, clock: clock, dryRun: dryRun, processStartedAt: ProcessStart.date(clock: clock))
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

/// Writes results to stdout and diagnostics to stderr, never crashing on a closed, full or
/// broken stream (`keyward sync | true`, `> /dev/full`, `>&-`).
///
/// The first failed write to stdout is remembered and later output is dropped, so the command
/// finishes what it was doing (vault commit, sink writes, clean-up); `KeywardCommand.main` then
/// exits 1 with one line naming the write error. A failed write to stderr is ignored: there is
/// nowhere left to say it.
enum Output {
    /// `errno` of the first failed write to stdout, if any.
    private static let stdoutFailure = Mutex<Int32?>(nil)

    /// What went wrong writing stdout, as one line for stderr; `nil` when nothing did.
    static var writeFailure: String? {
        stdoutFailure.withLock { $0 }.map { "cannot write to standard output: \(String(cString: strerror($0)))" }
    }

    static func print(_ text: String) {
        write(Array((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }

    /// Writes `bytes` to stdout as they are (a secret for `vault get`, `token`, `export`).
    static func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Writes `buffer` to stdout as it is.
    static func write(_ buffer: UnsafeRawBufferPointer) {
        stdoutFailure.withLock { failure in
            guard failure == nil else { return }
            if let code = writeAll(buffer, to: STDOUT_FILENO) { failure = code }
        }
    }

    /// Writes `text` to stderr; a failure is ignored.
    static func writeError(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { _ = writeAll(UnsafeRawBufferPointer($0), to: STDERR_FILENO) }
    }

    /// `nil` when every byte was written, else the `errno` that stopped it.
    private static func writeAll(_ buffer: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32? {
        var offset = 0
        while offset < buffer.count {
            #if canImport(Glibc)
            let count = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            #else
            let count = Darwin.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            #endif
            if count < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += count
        }
        return nil
    }

    /// Makes closed standard streams and SIGPIPE harmless, first thing in `main`: SIGPIPE is
    /// ignored (a write to a closed pipe fails with EPIPE instead of killing the process
    /// half-way), and a closed descriptor 0, 1 or 2 is reopened read-only on `/dev/null`, so
    /// the vault or a sink opened later can never get descriptor 1 and receive the output,
    /// while writes to a closed stdout still fail (EBADF) and are reported.
    static func prepareStandardStreams() {
        signal(SIGPIPE, SIG_IGN)
        for descriptor: Int32 in 0...2 where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
            let opened = open("/dev/null", O_RDONLY)
            if opened >= 0 && opened != descriptor {
                _ = dup2(opened, descriptor)
                close(opened)
            }
        }
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
        diagnostics.withLock { writeError(line) }
    }

    private static let diagnostics = NSLock()
}

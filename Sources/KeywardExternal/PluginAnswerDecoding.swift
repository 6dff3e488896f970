import Foundation
import KeywardCore
import Logging

/// Protocol 1's answer decoding (DESIGN.md, "Plugins"), reachable from bytes alone for the
/// fuzz targets in `Fuzz/` (issue 16, item 1): what Keyward makes of a plugin's stdout and exit
/// status, with no process run. Not API: `@_spi(Fuzzing)`.
@_spi(Fuzzing)
public enum PluginAnswerDecoding {
    /// The path failures name.
    public static let plugin = "/fuzz/keyward-plugin"

    /// A plugin that exited with `status` (a `waitpid` status) after writing `stdout` and
    /// `stderr`: the answer object, or the ``ExternalPluginError`` Keyward reports.
    /// - Parameter secrets: values the request carried, redacted from what is logged and from
    ///   the plugin's error message.
    public static func answer(stdout: [UInt8], stderr: [UInt8] = [], status: Int32 = 0, secrets: [[UInt8]] = [],
                              answerCarriesSecret: Bool = false) -> Result<[String: JSONValue], ExternalPluginError> {
        let result = PluginProcess.Result(ending: .exited(status: status), stdout: stdout, stderr: stderr)
        let caller = ExternalPlugin(command: [plugin], directory: nil, processEnvironment: [:])
        do {
            return .success(try caller.check(result, secrets: secrets, answerCarriesSecret: answerCarriesSecret, logger: logger))
        } catch {
            return .failure(error)
        }
    }

    /// An answer object checked as a `describe` answer.
    public static func description(of answer: [String: JSONValue], expecting kind: PluginKind?) throws(ExternalPluginError) -> ExternalPluginDescription {
        try ExternalPlugin.description(of: answer, expecting: kind, plugin: plugin)
    }

    /// An answer object checked as a provider's `fetch`/`reset` answer (`operation`).
    public static func secret(of answer: [String: JSONValue], operation: String, now: Date) throws -> ProvidedSecret {
        try ExternalProviderCalls.secret(answer, operation: operation, plugin: plugin, source: "fuzz", now: now)
    }

    /// An answer object checked as a provider's `token` answer.
    public static func token(of answer: [String: JSONValue], now: Date) throws -> ProvidedSecret {
        try ExternalProviderCalls.token(answer, plugin: plugin, source: "fuzz", now: now)
    }

    /// Where the plugin's stderr lines go: nowhere (a fuzz run would print millions).
    private static let logger = Logger(label: "keyward.fuzz") { _ in SwiftLogNoOpLogHandler() }
}

import CredentialsDirectorySink
import Foundation
import KeywardCore
import KeywardKit

// A program that embeds Keyward: the built-in plugins plus a sink type of its own, and the same
// session rules as the `keyward` command (configuration lookup, vault path precedence, unlock
// order), so `keyward.yaml` and the KEYWARD_* variables mean what they mean to `keyward`.
//
//   embedded-keyward [--config PATH] [--dry-run]
//
// prints the sync report as JSON; exit 0 when everything synced, 1 otherwise.

var registry = BuiltInPlugins.registry()
CredentialsDirectorySink.register(in: &registry)

let arguments = Array(CommandLine.arguments.dropFirst())
let configPath = arguments.firstIndex(of: "--config").flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
let context = OperationContext(dryRun: arguments.contains("--dry-run"))

do {
    let session = try KeywardSession.open(KeywardSession.Options(configPath: configPath, registry: registry), context: context,
                                          applyRetention: !context.dryRun,
                                          warn: { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) })
    let report = try await session.dispatcher.sync(SyncRequest(), context: context)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
} catch {
    // Keyward's errors describe themselves without secrets; anything else is named by type.
    let message = (error as? any CategorizedError)?.description ?? "unexpected error: \(type(of: error))"
    FileHandle.standardError.write(Data("embedded-keyward: \(message)\n".utf8))
    exit(1)
}

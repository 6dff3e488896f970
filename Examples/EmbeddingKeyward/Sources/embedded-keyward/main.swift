import CredentialsDirectorySink
import Foundation
import KeywardCore
import KeywardKit

// A program that embeds Keyward: the built-in plugins plus a sink type of its own, and the same
// session rules as the `keyward` command (configuration lookup, vault path precedence, unlock
// order), so `keyward.yaml` and the KEYWARD_* variables mean what they mean to `keyward`.
//
//   embedded-keyward [--config PATH] [--dry-run]        syncs; prints the sync report as JSON
//   embedded-keyward login PROVIDER [--config PATH]     checks the admin password read from stdin
//                                                       with the token service and keeps it in the vault
//
// Exit 0 when everything worked, 1 otherwise. The stock `keyward` cannot load a configuration
// that names this program's sink type, so this program also does what needs it (`login`).

var registry = BuiltInPlugins.registry()
CredentialsDirectorySink.register(in: &registry)

let arguments = Array(CommandLine.arguments.dropFirst())
let usage = "usage: embedded-keyward [--config PATH] [--dry-run] | embedded-keyward login PROVIDER [--config PATH] < password\n"
// Only the words above: anything else is a mistake, not a reason to sync.
var position = arguments.first == "login" ? 2 : 0
while position < arguments.count {
    switch arguments[position] {
    case "--dry-run": position += 1
    case "--config" where position + 1 < arguments.count: position += 2
    default:
        FileHandle.standardError.write(Data("embedded-keyward: unexpected argument '\(arguments[position])'; \(usage)".utf8))
        exit(2)
    }
}
let configPath = arguments.firstIndex(of: "--config").flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
let context = OperationContext(dryRun: arguments.contains("--dry-run"))

do {
    let session = try KeywardSession.open(KeywardSession.Options(configPath: configPath, registry: registry), context: context,
                                          applyRetention: !context.dryRun,
                                          warn: { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) })
    if arguments.first == "login" {
        guard arguments.count > 1, !arguments[1].hasPrefix("-") else {
            FileHandle.standardError.write(Data("embedded-keyward: \(usage)".utf8))
            exit(2)
        }
        // One line from stdin, without its newline; never echoed or logged.
        var password = FileHandle.standardInput.readDataToEndOfFile()
        if password.last == UInt8(ascii: "\n") { password.removeLast() }
        try await session.dispatcher.login(provider: arguments[1], password: SecretValue(bytes: Array(password)), context: context)
        FileHandle.standardOutput.write(Data("logged in: the password for \(arguments[1]) is in the vault\n".utf8))
        exit(0)
    }
    let report = try await session.dispatcher.sync(SyncRequest(), context: context)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
    // Exit 1 when an entity or a sink failed: the report says which.
    if report.entities.contains(where: { $0.outcome == .failed }) || report.sinks.contains(where: { $0.outcome == .failed }) {
        exit(1)
    }
} catch {
    // Keyward's errors describe themselves without secrets; anything else is named by type.
    let message = (error as? any CategorizedError)?.description ?? "unexpected error: \(type(of: error))"
    FileHandle.standardError.write(Data("embedded-keyward: \(message)\n".utf8))
    exit(1)
}

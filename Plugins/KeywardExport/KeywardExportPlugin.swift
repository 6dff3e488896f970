import Foundation
import PackagePlugin

/// `swift package --allow-writing-to-package-directory keyward-export [--config PATH] [--sink NAME…] [--dry-run] [ENTITY…]`
///
/// Writes a Swift service's development `.env` (or manifest) from the sinks of its own
/// `keyward.yaml` by running `keyward sync` with that configuration. The vault is unlocked the
/// usual way (KEYWARD_KEY_FILE, KEYWARD_PASSPHRASE, KEYWARD_PASSPHRASE_FILE); when it is locked
/// the plugin fails with a SwiftPM error saying how to unlock it.
@main
struct KeywardExportPlugin: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        var extractor = ArgumentExtractor(arguments)
        let packageDirectory = context.package.directoryURL
        let config = extractor.extractOption(named: "config").last ?? "keyward.yaml"
        let configPath = config.hasPrefix("/") ? config : packageDirectory.appendingPathComponent(config).path
        let sinks = extractor.extractOption(named: "sink")
        let dryRun = extractor.extractFlag(named: "dry-run") > 0

        var keywardArguments = ["sync", "--config", configPath]
        for sink in sinks { keywardArguments += ["--sink", sink] }
        if dryRun { keywardArguments.append("--dry-run") }
        keywardArguments += extractor.remainingArguments

        let keyward = try context.tool(named: "keyward")
        let process = Process()
        process.executableURL = keyward.url
        process.arguments = keywardArguments
        process.currentDirectoryURL = packageDirectory
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let diagnostics = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        let lines = diagnostics.split(separator: "\n").map { $0.hasPrefix("keyward: ") ? String($0.dropFirst(9)) : String($0) }
        switch process.terminationStatus {
        case 0:
            for line in lines where line.hasPrefix("warning: ") { Diagnostics.warning(String(line.dropFirst(9))) }
        case 4:
            Diagnostics.error("keyward-export: the vault is locked or cannot be opened (keyward exit 4): "
                + (lines.first ?? "") + ". Set KEYWARD_KEY_FILE, KEYWARD_PASSPHRASE or KEYWARD_PASSPHRASE_FILE and run again.")
            throw KeywardExportError(status: 4)
        default:
            for line in lines { Diagnostics.error("keyward-export: \(line)") }
            throw KeywardExportError(status: process.terminationStatus)
        }
    }
}

struct KeywardExportError: Error, CustomStringConvertible {
    var status: Int32
    var description: String { "keyward sync exited \(status) (see the errors above)" }
}

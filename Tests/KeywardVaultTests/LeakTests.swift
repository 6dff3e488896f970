import Foundation
import GRDB
import KeywardCore
import Logging
import Testing

@testable import KeywardVault

/// Records every log event at trace level (KeywardTesting has the same; this copy keeps the
/// vault's tests free of the simulator's dependencies).
private final class TraceCapture: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "\(event.level) \(event.message)"
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { line += " \(key)=\(value)" }
        lock.withLock { lines.append(line) }
    }

    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

@Suite("Vault leak test")
struct LeakTests {
    @Test("at trace level, no log line, error, description or dump holds a value, a name's value or key material")
    func traceLeak() throws {
        let box = try Sandbox()
        let capture = TraceCapture()
        var options = box.options
        options.logger = Logger(label: "leak") { _ in capture }
        let keyFile = try box.keyFile()
        let keyText = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let value = secret("LEAKCHECK-VALUE-0123456789")
        let passphrase = secret("LEAKCHECK-PASSPHRASE")
        let vault = try Vault.create(at: box.vaultPath, keySource: .keyFile(keyFile), options: options)
        try vault.addKeySlot(.passphrase(passphrase))
        try vault.put(name("a/b"), value)
        _ = try vault.get(name("a/b"))
        _ = try vault.history(name("a/b"))
        _ = try vault.rekey(dropUnmatchedSlots: true)
        _ = try vault.verify()
        var text = capture.text
        text += "\(try vault.get(name("a/b")))"
        text += String(describing: try vault.history(name("a/b")))
        dump(try vault.get(name("a/b")), to: &text)
        dump(try vault.keySlots(), to: &text)
        try box.tamper { db in try db.execute(sql: "UPDATE versions SET tag = zeroblob(16)") }
        do { _ = try Vault.open(at: box.vaultPath, keySource: .keyFile(keyFile), options: options).verify() } catch { text += "\(error)" }
        do { _ = try Vault.open(at: box.vaultPath, keySource: .passphrase(passphrase), options: options) } catch { text += "\(error)" }
        #expect(!capture.text.isEmpty, "the vault logged nothing at trace level")
        for needle in ["LEAKCHECK", keyText, String(keyText.prefix(12))] {
            #expect(!text.contains(needle), "\(needle.prefix(12))… leaked")
        }
    }
}

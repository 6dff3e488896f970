import Foundation
import KeywardTesting
#if canImport(Glibc)
import Glibc
#endif
import KeywardExternal
import Logging
import Synchronization

/// A temporary directory holding plugin scripts the tests write.
final class PluginScripts {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-external-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Writes an executable script `name` with `body` (its first line the interpreter).
    func script(_ name: String, _ body: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try ScriptFile.write(body, to: url.path)
        return url.path
    }

    /// A plugin running `script`, in this directory.
    func plugin(_ path: String, timeout: Duration = .seconds(30), environmentNames: [String] = [],
                processEnvironment: [String: String] = ProcessInfo.processInfo.environment) -> ExternalPlugin {
        ExternalPlugin(command: [path], directory: directory.path, timeout: timeout,
                       environmentNames: environmentNames, processEnvironment: processEnvironment)
    }
}

/// A swift-log handler keeping every message (and its metadata) in memory.
struct RecordingLogHandler: LogHandler {
    final class Store: Sendable {
        let lines = Mutex<[String]>([])
        let metadata = Mutex<[Logger.Metadata]>([])
    }

    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        store.lines.withLock { $0.append(message.description) }
        store.metadata.withLock { $0.append(metadata ?? [:]) }
    }

    static func logger() -> (Logger, Store) {
        let store = Store()
        return (Logger(label: "test") { _ in RecordingLogHandler(store: store) }, store)
    }
}

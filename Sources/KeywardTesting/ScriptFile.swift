import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Scripts a test writes and then executes (a plugin, a hook, a fake program).
public enum ScriptFile {
    #if canImport(Glibc)
    private static let systemWrite = Glibc.write
    #else
    private static let systemWrite = Darwin.write
    #endif

    /// Writes `text` to `path` through a close-on-exec descriptor and sets `mode`.
    ///
    /// `String.write(to:)` leaves its descriptor inheritable: a child another test spawns at that
    /// instant keeps the file open for writing for as long as it lives, and every exec of the
    /// script then fails with ETXTBSY ("Text file busy"); seen in CI with a simulator process
    /// started beside a plugin test.
    ///
    /// - Parameter appending: add `text` at the end instead of replacing the contents.
    /// - Throws: `CocoaError(.fileWriteUnknown)` when the file cannot be opened, written or
    ///   given `mode`.
    public static func write(_ text: String, to path: String, mode: mode_t = 0o755, appending: Bool = false) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (appending ? O_APPEND : O_TRUNC), mode)
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { systemWrite(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == bytes.count, chmod(path, mode) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }
}

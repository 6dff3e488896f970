import Foundation
import KeywardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Pending `onChange` hooks beside the vault: one file per sink in `<vault>.hooks/`, named
/// after the sink (bytes other than letters, digits, `-` and `_` as `%XX`), holding one line
/// that says when and why (never a secret). Files, not vault rows: marking a hook pending must
/// not take the vault's write lock or change its schema, and losing one only costs a retry.
extension Vault: HookLedger {
    var hookDirectory: String { path + ".hooks" }

    static func hookFileName(_ sink: String) -> String {
        var name = ""
        for byte in sink.utf8 {
            if (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || byte == 45 || byte == 95 {
                name.append(Character(Unicode.Scalar(byte)))
            } else {
                name += String(format: "%%%02X", byte)
            }
        }
        return name + ".pending"
    }

    static func sinkName(fromHookFile file: String) -> String? {
        guard file.hasSuffix(".pending") else { return nil }
        return String(file.dropLast(".pending".count)).removingPercentEncoding
    }

    public func pendingHooks() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: hookDirectory)) ?? []
        return files.compactMap(Self.sinkName(fromHookFile:)).sorted()
    }

    public func markHookPending(sink: String, reason: String) throws {
        if mkdir(hookDirectory, 0o700) != 0 && errno != EEXIST {
            throw KeywardError.operationFailed("cannot create \(hookDirectory): \(String(cString: strerror(errno)))")
        }
        let file = hookDirectory + "/" + Self.hookFileName(sink)
        guard writePrivateLine("\(Timestamps.format(options.clock.now)) \(reason)\n", to: file) else {
            throw KeywardError.operationFailed("cannot record the pending onChange of sink \(sink) in \(file): \(String(cString: strerror(errno)))")
        }
    }

    public func clearPendingHook(sink: String) {
        unlink(hookDirectory + "/" + Self.hookFileName(sink))
    }

    /// `<vault>.hooks/<sink>.lock`, an exclusive `flock(2)` released by the kernel when its
    /// holder exits or dies (the token locks' kind: ``MintLockFile``).
    public func withSinkLock<T: Sendable>(sink: String, timeout: Duration,
                                          _ body: (_ locked: Bool) async throws -> T) async throws -> T
    {
        let name = String(Self.hookFileName(sink).dropLast(".pending".count)) + ".lock"
        let lock = try await MintLockFile.acquire(directory: hookDirectory, name: name, operation: "write sink \(sink)",
                                                  timeout: timeout)
        defer { withExtendedLifetime(lock) {} }
        return try await body(lock != nil)
    }
}

/// Replaces `path` with `line` (mode 0600, never through a link) and syncs it; `false` with
/// `errno` set when it cannot be opened.
private func writePrivateLine(_ line: String, to path: String) -> Bool {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    let bytes = Array(line.utf8)
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    _ = fsync(descriptor)
    return true
}

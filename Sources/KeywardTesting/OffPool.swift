import Dispatch

/// Runs blocking work (waiting for a child process, opening a vault with file locks) on a
/// Dispatch thread, never on Swift's cooperative pool: that pool has one thread per core (two
/// here), and in-process simulators answer requests on it. A test blocking it starves every
/// other test's server into timeouts.
/// - Throws: whatever `body` throws.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
    }
}

import Foundation
import KeywardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The vault's rotation coordinator (DESIGN.md, "Architecture"): an entity's rotation lease is
/// its lock file beside the vault, `<vault>.locks/<entity>.lock`.
extension Vault: RotationCoordinator {
    /// The directory of the per-entity rotation lock files: `<vault>.locks` (DESIGN.md, "Files and defaults").
    public var rotationLockDirectory: String { path + ".locks" }

    /// ``FileRotationCoordinator/acquire(_:context:)`` on ``rotationLockDirectory``.
    public func acquire(_ entity: EntityID, context: OperationContext) async throws -> RotationGrant {
        try await FileRotationCoordinator(directory: rotationLockDirectory).acquire(entity, context: context)
    }
}

/// Rotation leases as exclusive `flock(2)` locks on `<directory>/<entity>.lock` (DESIGN.md,
/// "Rotation", item 2): held while the lease lives, released by the kernel when the process
/// dies, so a killed job never leaves an entity locked. Another `acquire` of a held entity,
/// in this process or another, is answered ``RotationGrant/held(by:)`` at once.
///
/// The lock file holds one line: the holder (``LockHolder``: what it does, its pid, since
/// when), then the progress it recorded (`state=… txn=… hash=…`). The holder's part is cleared
/// on release; the progress stays for the next holder's ``RotationLease/inherited``, also when
/// the holder was killed. The fencing token is always 0: one machine's kernel orders the holders.
public struct FileRotationCoordinator: RotationCoordinator {
    /// The lock directory, created (mode 0700) on first use.
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// - Throws: ``KeywardError`` (operation failed) when the directory or the lock file
    ///   cannot be made or opened.
    public func acquire(_ entity: EntityID, context: OperationContext) async throws -> RotationGrant {
        guard let lock = try RotationLock.acquire(directory: directory, entity: entity, operation: context.operation ?? "rotation") else {
            let holder = LockHolder.recorded(at: RotationLock.path(directory: directory, entity: entity))
            return .held(by: holder?.description ?? "another job")
        }
        return .granted(FileRotationLease(lock: lock))
    }
}

/// A held ``FileRotationCoordinator`` lease.
final class FileRotationLease: RotationLease, @unchecked Sendable {
    private let guardLock = NSLock()
    private var lock: RotationLock?
    let inherited: RotationProgress?
    var fencingToken: UInt64 { 0 }

    init(lock: RotationLock) {
        self.lock = lock
        self.inherited = lock.inherited
    }

    func advance(to state: RotationJournalState, txnId: String?, secretHash: String?) async throws {
        try guardLock.withLock {
            guard let lock else { throw KeywardError.operationFailed("the rotation lease was released") }
            lock.record(RotationProgress(state: state, txnId: txnId, secretHash: secretHash))
        }
    }

    func renew() async throws {
        try guardLock.withLock {
            guard lock != nil else { throw KeywardError.operationFailed("the rotation lease was released") }
        }
    }

    func release() async {
        let released = guardLock.withLock {
            let held = lock
            lock = nil
            return held
        }
        withExtendedLifetime(released) {}
    }
}

/// An entity's rotation lock file, held while the value lives (``FileRotationCoordinator``).
///
/// `flock` locks belong to an open file description: a second `acquire` in the same process
/// fails like one in another process, which is what tests of concurrent jobs rely on.
package final class RotationLock: @unchecked Sendable {
    /// The lock file.
    package let path: String
    private let descriptor: Int32
    private let holder: LockHolder
    private var progress: RotationProgress?
    /// What the previous holder recorded, read before this holder's line replaced it.
    package let inherited: RotationProgress?

    private init(path: String, descriptor: Int32, holder: LockHolder, inherited: RotationProgress?) {
        self.path = path
        self.descriptor = descriptor
        self.holder = holder
        self.inherited = inherited
        self.progress = inherited
        write(holder: holder)
    }

    deinit {
        // The holder is gone; what it recorded stays for the next one.
        write(holder: nil)
        close(descriptor)
    }

    /// The lock file of `entity` in `directory`.
    package static func path(directory: String, entity: EntityID) -> String {
        directory + "/" + entity.rawValue + ".lock"
    }

    /// Takes the lock without waiting.
    ///
    /// - Parameter operation: what the caller does with it (`sync`, `rotation`, `recovery`),
    ///   recorded in the file for the message of a job that finds it held.
    /// - Returns: the held lock, or `nil` when another job holds it.
    /// - Throws: ``KeywardError`` (operation failed) when the lock file cannot be made or opened.
    package static func acquire(directory: String, entity: EntityID, operation: String = "rotation") throws -> RotationLock? {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw KeywardError.operationFailed("cannot create the rotation lock directory \(directory): \(String(cString: strerror(errno)))")
        }
        let path = Self.path(directory: directory, entity: entity)
        // O_CLOEXEC: an onChange command started while the lock is held must not inherit it.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw KeywardError.operationFailed("cannot open the rotation lock \(path): \(String(cString: strerror(errno)))")
        }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(descriptor)
            if code == EWOULDBLOCK { return nil }
            throw KeywardError.operationFailed("cannot lock \(path): \(String(cString: strerror(code)))")
        }
        return RotationLock(path: path, descriptor: descriptor, holder: LockHolder(operation: operation),
                            inherited: Self.progress(in: Self.contents(of: descriptor)))
    }

    /// Records this holder's progress in the file (best effort: the lock holds either way).
    package func record(_ progress: RotationProgress) {
        self.progress = progress
        write(holder: holder)
    }

    private func write(holder: LockHolder?) {
        var line = holder.map { String($0.fileContents.dropLast()) } ?? ""
        if let progress {
            let fields = ["state=\(progress.state.rawValue)"] + [("txn", progress.txnId), ("hash", progress.secretHash)].compactMap { key, value in
                value.flatMap { Self.isFieldValue($0) ? "\(key)=\($0)" : nil }
            }
            line += (line.isEmpty ? "" : " ") + fields.joined(separator: " ")
        }
        guard ftruncate(descriptor, 0) == 0, !line.isEmpty else { return }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    /// A value the one-line format can carry: no space, `=` or line break.
    private static func isFieldValue(_ value: String) -> Bool {
        !value.isEmpty && !value.contains { $0 == " " || $0 == "=" || $0.isNewline }
    }

    private static func contents(of descriptor: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
    }

    /// The progress recorded in a lock file's line, or `nil`.
    static func progress(in text: String) -> RotationProgress? {
        var fields: [String: String] = [:]
        for pair in text.split(whereSeparator: { $0 == " " || $0.isNewline }) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let state = fields["state"].flatMap(RotationJournalState.init(rawValue:)) else { return nil }
        return RotationProgress(state: state, txnId: fields["txn"], secretHash: fields["hash"])
    }
}

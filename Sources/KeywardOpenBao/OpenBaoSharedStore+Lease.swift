import Foundation
import KeywardCore
import Logging

/// A held ``OpenBaoSharedStore`` lease: the lease record at `<prefix>/leases/<ID>` as this
/// holder last wrote it, and the local coordinator's lease held with it.
///
/// Every write (renewal, advance, release) is a check-and-set against the version the previous
/// one wrote, one at a time (a renewal never races an advance into a false conflict). A
/// conflict means another host took the lease over: the lease is lost, and every later call
/// but ``release()`` throws.
package final class OpenBaoRotationLease: RotationLease, @unchecked Sendable {
    private enum End {
        case released
        case lost(holder: String?)
    }

    private struct State {
        var record: LeaseRecord
        var version: UInt64
        var end: End?
        var renewal: Task<Void, Never>?
    }

    private let store: OpenBaoSharedStore
    let entity: EntityID
    private let path: String
    /// The KV version of the lease record this holder's take wrote.
    package let fencingToken: UInt64
    /// The progress the previous holder left in the record (nil when it recorded none).
    package let inherited: RotationProgress?
    private let local: any RotationLease
    private let context: OperationContext
    private let gate = WriteGate()
    private let state: LockedState<State>

    init(store: OpenBaoSharedStore, entity: EntityID, path: String, record: LeaseRecord, version: UInt64, inherited: RotationProgress?,
         local: any RotationLease, context: OperationContext)
    {
        self.store = store
        self.entity = entity
        self.path = path
        self.fencingToken = version
        self.inherited = inherited
        self.local = local
        self.context = context
        self.state = LockedState(State(record: record, version: version))
    }

    /// The version of the lease record this holder wrote last.
    package var version: UInt64 { state.withLock { $0.version } }

    /// Renews every `interval` until released or lost; a renewal that fails for another reason
    /// (server away) is logged and tried again at the next tick.
    func startRenewing(every interval: Duration) {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                guard let self else { return }
                do {
                    try await self.renew()
                } catch {
                    if self.hasEnded { return }
                    self.context.logger.warning("could not renew the shared rotation lease",
                                                metadata: ["entity": "\(self.entity)", "error": "\(error)"])
                }
            }
        }
        state.withLock { $0.renewal = task }
    }

    /// Stops the background renewal, as if the holder were paused or dead (tests).
    package func stopRenewing() {
        state.withLock { $0.renewal?.cancel() }
    }

    private var hasEnded: Bool { state.withLock { $0.end != nil } }

    /// Records the progress in the lease record (check-and-set), then in the local lease.
    ///
    /// For ``RotationJournalState/sent`` the write must have finished with at least the store's
    /// reset margin of the lease left (time since the write began < `leaseTTL - resetMargin`,
    /// on `ContinuousClock`): a holder paused before its reset never sends it (DESIGN.md,
    /// "Fencing the reset").
    ///
    /// - Throws: ``KeywardError`` (operation failed) when the lease was released or lost (naming
    ///   the new holder) or too little of it is left to send a reset; ``OpenBaoError`` when the
    ///   server cannot answer.
    package func advance(to state: RotationJournalState, txnId: String?, secretHash: String?) async throws {
        let progress = RotationProgress(state: state, txnId: txnId, secretHash: secretHash)
        let began = ContinuousClock.now
        try await write { $0.progress = progress }
        let elapsed = ContinuousClock.now - began
        try await local.advance(to: state, txnId: txnId, secretHash: secretHash)
        if state == .sent {
            let ttl = store.settings.leaseTTL
            guard elapsed < ttl - store.resetMargin else {
                throw KeywardError.operationFailed(
                    "the shared rotation lease of \(entity) was advanced to sent after \(Self.text(elapsed)): less than the reset margin (\(Self.text(store.resetMargin))) of its \(Self.text(ttl)) is left, so the reset must not be sent")
            }
        }
    }

    /// Rewrites the record unchanged (check-and-set), so it expires `leaseTTL` from now.
    ///
    /// - Throws: ``KeywardError`` (operation failed) when the lease was released or lost;
    ///   ``OpenBaoError`` when the server cannot answer.
    package func renew() async throws {
        try await write { _ in }
    }

    /// Marks the record released (progress kept for the next holder), stops the renewal and
    /// releases the local lease. Idempotent; a failed write is logged (the lease then expires).
    package func release() async {
        await gate.enter()
        let (wasLive, renewal, record, version) = state.withLock { state in
            let wasLive = state.end == nil
            if wasLive { state.end = .released }
            let renewal = state.renewal
            state.renewal = nil
            return (wasLive, renewal, state.record, state.version)
        }
        renewal?.cancel()
        _ = store.heldLeases.withLock { $0.removeValue(forKey: ObjectIdentifier(self)) }
        if wasLive {
            var released = record
            released.released = true
            do {
                let written = try await store.client.write(mount: store.settings.mount, path: path, data: released.data, cas: version,
                                                           context: context)
                state.withLock {
                    $0.record = released
                    $0.version = written.version
                }
            } catch {
                context.logger.warning("could not release the shared rotation lease; it expires on its own",
                                       metadata: ["entity": "\(entity)", "error": "\(error)"])
            }
        }
        await gate.leave()
        await local.release()
    }

    /// One check-and-set write of the record changed by `update`, after the previous write.
    private func write(_ update: (inout LeaseRecord) -> Void) async throws {
        await gate.enter()
        let snapshot: (record: LeaseRecord, version: UInt64)
        do {
            snapshot = try state.withLock { state in
                if let end = state.end { throw endedError(end) }
                var record = state.record
                update(&record)
                return (record, state.version)
            }
        } catch {
            await gate.leave()
            throw error
        }
        do {
            let written = try await store.client.write(mount: store.settings.mount, path: path, data: snapshot.record.data,
                                                       cas: snapshot.version, context: context)
            state.withLock {
                $0.record = snapshot.record
                $0.version = written.version
            }
            await gate.leave()
        } catch let error as OpenBaoError where error.kind == .casConflict {
            let holder = await store.currentHolder(path: path, context: context)
            let renewal = state.withLock { state in
                state.end = .lost(holder: holder)
                return state.renewal
            }
            renewal?.cancel()
            await gate.leave()
            context.logger.warning("lost the shared rotation lease", metadata: ["entity": "\(entity)", "holder": "\(holder ?? "another host")"])
            throw endedError(.lost(holder: holder))
        } catch {
            await gate.leave()
            throw error
        }
    }

    /// `12.3s`.
    static func text(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%.1fs", seconds)
    }

    private func endedError(_ end: End) -> KeywardError {
        switch end {
        case .released:
            .operationFailed("the shared rotation lease of \(entity) was released")
        case .lost(let holder):
            .operationFailed("the shared rotation lease of \(entity) was lost: it is now held by \(holder ?? "another host")")
        }
    }
}

/// Lets one task at a time through, in arrival order (a lease's writes).
actor WriteGate {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func leave() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}

import Foundation
import Logging

/// A lease taken inside a function and released by its caller (a `defer` cannot `await`).
final class HeldLease: @unchecked Sendable {
    var lease: (any RotationLease)?
}

/// One rotation journal entry driven through DESIGN.md's states ("Rotation: a crash-safe state
/// machine", items 3 to 7): one step per state, shared by a rotation, which sends the reset,
/// and by recovery, which only reads what the service holds (never a second reset).
///
/// - `pending`: a rotation fetches a fresh user token and moves the lease and the journal to
///   `sent` (a failure here changed nothing: closed `aborted`); recovery closes it `aborted`
///   (its reset was never sent).
/// - `sent`: a rotation calls reset once (a refusal closes it `aborted`; a lost answer is read
///   back with `secret/read`); recovery reads the secret. The service's new secret is stored as
///   the `pending` version in the transaction that moves the journal to `stored`. A read that
///   still shows the vault's secret proves nothing until ``RotationSettling/settleSeconds``
///   have passed: the entry stays `sent` (``Stop/unresolved``), then is closed `aborted`.
/// - `stored`: the new secret is tested (an entity token minted) and made current; the caller
///   writes the sinks and closes the entry `done`.
///
/// The caller holds the entity's lease; every state change is recorded in it too. One value
/// per entry; the caller reads ``warnings`` and ``resetAnswer`` also when ``run(from:)`` throws.
final class RotationStateMachine {
    /// Who drives the entry.
    enum Driver {
        /// A rotation of `known` (the secret it started from), which sends the reset.
        case rotation(any SecretRotator, known: SecretRecord, validityDays: Int?)
        /// Recovery of an entry a crashed job left open: reads only.
        case recovery
    }

    /// Where the steps stopped.
    enum Stop {
        /// The vault follows the service (the entry is `stored`, or was found settled): the
        /// caller writes the sinks and closes it `done`.
        case settled(Dispatcher.Settled, answer: SecretRecord, answerLost: Bool)
        /// Closed `aborted` by recovery without changing anything; the change says why.
        case aborted(SyncReport.Change)
        /// Left `sent`: the reset's outcome is not known yet (see ``RotationSettling``).
        case unresolved(RotationJournalEntry)
    }

    let dispatcher: Dispatcher
    let id: EntityID
    let provider: any SecretProvider
    let vault: any VaultServices
    let lease: any RotationLease
    let driver: Driver
    let context: OperationContext
    /// The vault's fingerprint of the secret the rotation started from, for the lease.
    let startedFrom: String?
    /// Warnings for the entity's report (a lost answer, the service's notices), in order.
    private(set) var warnings: [String] = []
    /// The reset's answer (or the read that replaced it), once known.
    private(set) var resetAnswer: SecretRecord?

    private var journal: any RotationJournal { vault }

    init(dispatcher: Dispatcher, id: EntityID, provider: any SecretProvider, vault: any VaultServices, lease: any RotationLease,
         driver: Driver, context: OperationContext) {
        self.dispatcher = dispatcher
        self.id = id
        self.provider = provider
        self.vault = vault
        self.lease = lease
        self.driver = driver
        self.context = context
        if case .rotation(_, let known, _) = driver { startedFrom = dispatcher.leaseDigest(known.value, vault: vault) } else { startedFrom = nil }
    }

    /// Runs `entry` from its state until it is settled, closed or left open.
    ///
    /// - Throws: the provider's error (a reset the service refused, after closing the entry
    ///   `aborted`; a read that failed, leaving the entry for the next run), the vault's, or the
    ///   lease's (lost: nothing more is done).
    func run(from entry: RotationJournalEntry) async throws -> Stop {
        var entry = entry
        var answer: SecretRecord?
        var answerLost = false
        var stored: SecretRecord?
        while true {
            switch entry.state {
            case .pending:
                switch driver {
                case .recovery:
                    try await close(entry, as: .aborted, txnId: nil)
                    context.logger.notice("\(id): rotation \(entry.id) never sent its reset; closed")
                    return .aborted(.abortedUnsent)
                case .rotation(let rotator, _, _):
                    entry = try await send(entry, rotator: rotator)
                }
            case .sent:
                let read: SecretRecord
                switch driver {
                case .rotation(let rotator, let known, let validityDays):
                    (read, answerLost) = try await reset(entry, rotator: rotator, known: known, validityDays: validityDays)
                case .recovery:
                    read = try await provider.readSecret(for: id, context: context).record
                    if let current = try await vault.read(.entitySecret(id), label: .current, context: context), current.value == read.value {
                        let now = context.clock.now
                        if now < RotationSettling.settlesAt(entry) {
                            // The caller reports it (a warning, or the entity's error).
                            context.logger.debug("\(id): \(RotationSettling.unknownOutcome(entry, now: now))")
                            return .unresolved(entry)
                        }
                        try await close(entry, as: .aborted, txnId: read.txnId)
                        context.logger.warning("\(id): the reset of rotation \(entry.id) was never applied by the service; closed (the secret is unchanged)")
                        return .aborted(.abortedUnapplied)
                    }
                }
                answer = read
                switch try await store(entry, answer: read) {
                case .alreadyCurrent(let current):
                    return .settled(Dispatcher.Settled(current: current, changed: false, tokenMinted: false), answer: read, answerLost: answerLost)
                case .stored(let record):
                    stored = record
                    entry.state = .stored
                }
            case .stored:
                if stored == nil {
                    // Recovery of an entry stored before the crash: what the service holds now.
                    let read = try await provider.readSecret(for: id, context: context).record
                    answer = read
                    switch try await store(entry, answer: read) {
                    case .alreadyCurrent(let current):
                        return .settled(Dispatcher.Settled(current: current, changed: false, tokenMinted: false), answer: read, answerLost: false)
                    case .stored(let record):
                        stored = record
                    }
                }
                let settled = try await testAndPromote(stored!)
                return .settled(settled, answer: answer!, answerLost: answerLost)
            case .done, .aborted:
                throw KeywardError.operationFailed("rotation \(entry.id) of \(id) is already \(entry.state.rawValue)")
            }
        }
    }

    /// `pending` → `sent` for a rotation: a fresh user token first (a reset's validity is capped
    /// by its remaining life; the entry is still `pending`, so a failure certainly changed
    /// nothing and closes it `aborted`), then the lease (a holder that lost it never resets:
    /// DESIGN.md, "Fencing the reset"), then the journal.
    private func send(_ entry: RotationJournalEntry, rotator: any SecretRotator) async throws -> RotationJournalEntry {
        do {
            try await rotator.prepareReset(for: id, context: context)
        } catch {
            try? await close(entry, as: .aborted, txnId: nil, audit: false)
            throw error
        }
        CrashHook.at(.beforeSent, environment: dispatcher.environment)
        try await lease.advance(to: .sent, txnId: nil, secretHash: startedFrom)
        return try await journal.advanceRotation(id: entry.id, to: .sent, txnId: nil, context: context)
    }

    /// The reset of a `sent` entry, called once. A refusal (400, 401, 429: the service did not
    /// act) closes the entry `aborted` and is thrown. Any other failure lost the answer: the
    /// secret is read back (contract, "Reset semantics": never a second reset); when the
    /// service still shows the secret from before, the request may still be applied, so the
    /// entry stays `sent` for the next mutating command and the outcome is unknown (thrown).
    private func reset(_ entry: RotationJournalEntry, rotator: any SecretRotator, known: SecretRecord,
                                validityDays: Int?) async throws -> (SecretRecord, lost: Bool) {
        var answer: ProvidedSecret
        var lost = false
        do {
            answer = try await rotator.resetSecret(for: id, validityDays: validityDays, context: context)
        } catch let error as any ServiceActionReporting where error.serviceDidNotAct {
            try? await close(entry, as: .aborted, txnId: nil, audit: false)
            throw error
        } catch {
            warnings.append("the reset's answer was lost (\(SyncReport.ErrorInfo(error).message)); read the secret back with secret/read")
            answer = try await provider.readSecret(for: id, context: context)
            lost = true
        }
        if lost, answer.record.value == known.value {
            throw KeywardError.operationFailed(RotationSettling.unknownOutcome(entry, now: context.clock.now))
        }
        CrashHook.at(.afterResetAnswer, environment: dispatcher.environment)
        resetAnswer = answer.record
        warnings += answer.warnings
        return (answer.record, lost)
    }

    enum Stored {
        /// The vault's current secret is the answer already: nothing to store.
        case alreadyCurrent(SecretRecord)
        /// The answer is the `pending` version and the entry is `stored`.
        case stored(SecretRecord)
    }

    /// `sent` → `stored`: the answer as the `pending` version, in the transaction that advances
    /// the journal (item 4: a crash leaves both or neither). Idempotent for an entry already
    /// `stored` (recovery): an equal `pending` version is reused.
    private func store(_ entry: RotationJournalEntry, answer: SecretRecord) async throws -> Stored {
        // This secret's lifetime is known exactly: it was created by this rotation's reset.
        var answer = answer
        answer.markCreatedByReset()
        let name = SecretName.entitySecret(id)
        if let current = try await vault.read(name, label: .current, context: context), current.value == answer.value {
            // The service holds what the vault already uses: the reset never acted, or its
            // secret was made current before a crash.
            return .alreadyCurrent(current)
        }
        let stored: SecretRecord
        if let pending = try await vault.read(name, label: .pending, context: context), pending.value == answer.value {
            stored = pending
            if entry.state != .stored {
                _ = try await journal.advanceRotation(id: entry.id, to: .stored, txnId: answer.txnId, context: context)
            }
        } else if entry.state == .stored {
            stored = try await vault.write(name, record: answer, label: .pending, context: context)
        } else {
            stored = try await journal.storePendingSecret(name, record: answer, journalID: entry.id, state: .stored, context: context)
        }
        try await lease.advance(to: .stored, txnId: answer.txnId, secretHash: startedFrom)
        CrashHook.at(.afterStore, environment: dispatcher.environment)
        return .stored(stored)
    }

    /// `stored`: tests the new secret by minting an entity token, then moves `current` to it.
    /// The old secret no longer works once the service reset it: the vault follows the service
    /// even when the test failed (item 5).
    private func testAndPromote(_ stored: SecretRecord) async throws -> Dispatcher.Settled {
        var settled = Dispatcher.Settled(current: stored, changed: true, tokenMinted: false)
        if let issuer = provider as? any AccessTokenIssuer {
            do {
                let minted = try await issuer.issueAccessToken(for: id, secret: stored.value, context: context)
                _ = try await vault.write(.entityToken(id), record: minted.record, label: .current, context: context)
                settled.tokenMinted = true
            } catch {
                settled.tokenError = error
            }
        }
        CrashHook.at(.afterToken, environment: dispatcher.environment)
        try await journal.promote(.entitySecret(id), version: stored.version, context: context)
        var promoted = stored
        promoted.label = .current
        settled.current = promoted
        return settled
    }

    /// Closes `entry` (`done` or `aborted`) in the journal and the lease; recovery audits an
    /// abort (`rotate recover`, outcome `aborted`).
    func close(_ entry: RotationJournalEntry, as state: RotationJournalState, txnId: String?, audit: Bool = true) async throws {
        _ = try await journal.advanceRotation(id: entry.id, to: state, txnId: txnId, context: context)
        try await lease.advance(to: state, txnId: txnId, secretHash: startedFrom)
        if audit, state == .aborted, case .recovery = driver {
            await dispatcher.recordAudit(AuditEntry(time: context.clock.now, operation: "rotate recover", entity: id.rawValue,
                                                    outcome: RotationJournalState.aborted.rawValue, txnId: txnId),
                                         to: vault, context: context)
        }
    }
}

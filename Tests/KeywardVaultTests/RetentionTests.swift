import Foundation
import GRDB
import KeywardCore
import KeywardTesting
import Testing

@testable import KeywardVault

/// Audit and journal retention (docs/vault.md, "Retention"): rows older than the vault's audit
/// retention go, and what is left still verifies from a signed checkpoint.
@Suite("Retention")
struct RetentionTests {
    static let day: TimeInterval = 86_400

    /// A vault whose audit log had `old` rows 100 days old, then `recent` rows 10 days old,
    /// each appended in one call (so pruning ran after each).
    static func pruned(old: Int, recent: Int) throws -> (Sandbox, Vault, VaultKeySource) {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        let now = Date()
        try vault.appendAudit((0..<old).map {
            VaultAuditEvent(time: now.addingTimeInterval(-100 * day), operation: "old-\($0)", entity: "FIU-\($0 % 3)", outcome: "ok")
        })
        try vault.appendAudit((0..<recent).map {
            VaultAuditEvent(time: now.addingTimeInterval(-10 * day), operation: "recent-\($0)", entity: "FIU-\($0 % 3)", outcome: "ok")
        })
        return (box, vault, source)
    }

    /// The checkpoint row as stored, or nil.
    static func checkpoint(_ box: Sandbox) throws -> (firstID: Int64, count: Int64)? {
        let queue = try DatabaseQueue(path: box.vaultPath)
        defer { try? queue.close() }
        return try queue.read { db in
            let count = try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM audit") ?? -1
            return try Int64.fetchOne(db, sql: "SELECT first_id FROM audit_checkpoint").map { ($0, count) }
        }
    }

    @Test("audit rows older than the retention go when a row is appended; the rest chain from the checkpoint and verify",
          arguments: [(100, 50), (70, 5), (3, 1)])
    func auditPruned(sizes: (old: Int, recent: Int)) throws {
        let (box, vault, source) = try Self.pruned(old: sizes.old, recent: sizes.recent)
        let first = Int64(sizes.old + 1)
        let stored = try #require(try Self.checkpoint(box))
        #expect(stored.firstID == first)
        #expect(stored.count == Int64(sizes.recent))
        let events = try vault.auditEvents()
        #expect(events.map(\.id) == (first..<(first + Int64(sizes.recent))).map { Optional($0) })
        #expect(events.map(\.operation) == (0..<sizes.recent).map { "recent-\($0)" })
        #expect(try vault.verify().auditEvents == sizes.recent)
        // A fresh unlock checks the chain's tail from the checkpoint (or the last 64-row mark).
        let reopened = try box.open(source)
        #expect(try reopened.verify().auditEvents == sizes.recent)
        let latest = try reopened.latestAuditEvents(for: ["FIU-0", "FIU-1", "FIU-9"]) { _ in true }
        #expect(latest["FIU-0"]?.operation == "recent-\((sizes.recent - 1) / 3 * 3)")
        #expect(latest["FIU-9"] == nil)
    }

    @Test("rows within the retention are kept, and no checkpoint is written")
    func nothingToPrune() throws {
        let box = try Sandbox()
        let (vault, _) = try box.makeVault()
        try vault.appendAudit((0..<5).map { VaultAuditEvent(time: Date().addingTimeInterval(-89 * Self.day), operation: "op-\($0)", outcome: "ok") })
        try vault.appendAudit(VaultAuditEvent(time: Date(), operation: "now", outcome: "ok"))
        #expect(try Self.checkpoint(box) == nil)
        #expect(try vault.auditEvents().count == 6)
    }

    static let checkpointEdits: [String] = [
        "UPDATE audit_checkpoint SET first_id = first_id + 1",
        "UPDATE audit_checkpoint SET first_id = first_id - 1",
        "UPDATE audit_checkpoint SET previous_tag = zeroblob(16)",
        "UPDATE audit_checkpoint SET pruned_at = pruned_at + 1",
        "UPDATE audit_checkpoint SET mac = zeroblob(32)",
        "UPDATE audit_checkpoint SET key_id = key_id + 1",
        "DELETE FROM audit_checkpoint",
        "DELETE FROM audit WHERE audit_id = 101",
        "DELETE FROM audit WHERE audit_id = 150",
        "UPDATE audit SET ciphertext = zeroblob(length(ciphertext)) WHERE audit_id = 101",
        "UPDATE vault_meta SET audit_retention = 86400",
    ]

    @Test("an edited or deleted checkpoint, a retained row or the retention setting is detected", arguments: checkpointEdits)
    func checkpointTampering(sql: String) throws {
        let (box, _, source) = try Self.pruned(old: 100, recent: 50)
        try box.tamper { db in
            try db.execute(sql: sql)
            #expect(db.changesCount == 1)
        }
        let error = expectVaultFailure(Comment(rawValue: sql)) {
            let vault = try box.open(source)
            _ = try vault.verify()
            _ = try vault.auditEvents()
        }
        #expect(error?.code == .integrity, "\(sql): \(error?.message ?? "")")
    }

    @Test("a rekey keeps the pruned chain verifiable under the new key")
    func rekeyAfterPruning() throws {
        let (box, vault, source) = try Self.pruned(old: 100, recent: 50)
        _ = try vault.rekey()
        try vault.appendAudit(VaultAuditEvent(time: Date(), operation: "after-rekey", outcome: "ok"))
        let reopened = try box.open(source)
        #expect(try reopened.verify().auditEvents == 51)
        #expect(try reopened.auditEvents().first?.id == 101)
        #expect(try Self.checkpoint(box)?.firstID == 101)
    }

    @Test("done and aborted journal entries older than the retention go when a rotation opens; open and recent ones, and each entity's last rotation, stay")
    func journalPruned() throws {
        let box = try Sandbox()
        let clock = ManualClock()
        var options = box.options
        options.clock = clock
        let vault = try Vault.create(at: box.vaultPath, keySource: .keyFile(try box.keyFile()), options: options)
        let earlier = try vault.openJournal(entity: "FIU-1")
        try vault.advanceJournal(id: earlier.id, to: .done)
        let last = try vault.openJournal(entity: "FIU-1")
        try vault.advanceJournal(id: last.id, to: .done)
        let aborted = try vault.openJournal(entity: "FIU-2")
        try vault.advanceJournal(id: aborted.id, to: .aborted)
        let open = try vault.openJournal(entity: "FIU-3")
        clock.advance(by: 80 * Self.day)
        let recent = try vault.openJournal(entity: "FIU-4")
        try vault.advanceJournal(id: recent.id, to: .done)
        #expect(try vault.journalEntries().map(\.id) == [earlier.id, last.id, aborted.id, open.id, recent.id])
        clock.advance(by: 11 * Self.day)
        let newest = try vault.openJournal(entity: "FIU-5")
        // FIU-1's last rotation stays however old (status shows it); its earlier one goes.
        #expect(try vault.journalEntries().map(\.id) == [last.id, open.id, recent.id, newest.id])
        #expect(try vault.verify().journalEntries == 4)
    }

    @Test("the audit retention is kept in the header: 90 days by default, changed by setAuditRetention, refused outside 1 to 36500 days")
    func setting() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        #expect(try vault.auditRetention() == .seconds(90 * 86_400))
        try vault.setAuditRetention(.seconds(400 * 86_400))
        #expect(try box.open(source).auditRetention() == .seconds(400 * 86_400))
        #expect(#expect(throws: VaultError.self) { try vault.setAuditRetention(.seconds(3_600)) }?.code == .invalidInput)
        #expect(#expect(throws: VaultError.self) { try vault.setAuditRetention(.seconds(36_501 * 86_400)) }?.code == .invalidInput)
        // With a year's retention, rows 100 days old stay.
        try vault.appendAudit(VaultAuditEvent(time: Date().addingTimeInterval(-100 * Self.day), operation: "old", outcome: "ok"))
        try vault.appendAudit(VaultAuditEvent(time: Date(), operation: "now", outcome: "ok"))
        #expect(try vault.auditEvents().map(\.operation) == ["old", "now"])
    }
}

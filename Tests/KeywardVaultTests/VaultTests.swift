import Foundation
import GRDB
import KeywardCore
import Testing

@testable import KeywardVault

@Suite("Vault operations")
struct VaultTests {
    @Test("put and get keep the exact bytes, with metadata sealed in the record")
    func roundTrip() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        let bytes: [UInt8] = [0, 1, 2, 0xFF, 0x0A, 0x0D, 0x0A]
        let expires = Date(timeIntervalSince1970: 1_900_000_000)
        let stored = try vault.put(
            name("entities/FIU-1/secret"), SecretValue(bytes: bytes),
            metadata: VaultRecordMetadata(expiresAt: expires, source: "uat", txnId: "txn-1"))
        #expect(stored.version == 1)
        let record = try vault.get(name("entities/FIU-1/secret"))
        #expect(record.value.revealBytes() == bytes)
        #expect(record.expiresAt == expires && record.source == "uat" && record.txnId == "txn-1" && record.label == .current)
        let reopened = try box.open(source)
        #expect(try reopened.get(name("entities/FIU-1/secret")).value.revealBytes() == bytes)
        try vault.put(name("empty"), SecretValue(bytes: []))
        #expect(try vault.get(name("empty")).value.isEmpty)
    }

    @Test("list is sorted and filtered by prefix; remove deletes every version")
    func listAndRemove() throws {
        let box = try Sandbox()
        let (vault, _) = try box.makeVault()
        for text in ["b/x", "a/y", "a/x", "c"] { try vault.put(name(text), secret("v-\(text)")) }
        #expect(try vault.list().map(\.rawValue) == ["a/x", "a/y", "b/x", "c"])
        #expect(try vault.list(prefix: "a/").map(\.rawValue) == ["a/x", "a/y"])
        try vault.remove(name("a/x"))
        #expect(try vault.list().map(\.rawValue) == ["a/y", "b/x", "c"])
        #expect(throws: VaultError.self) { try vault.remove(name("a/x")) }
        let missing = #expect(throws: VaultError.self) { _ = try vault.get(name("a/x")) }
        #expect(missing?.category == .usage)
        _ = try vault.verify()
    }

    @Test("labels: current moves to previous, pending stays apart, history shows versions without values")
    func labels() throws {
        let box = try Sandbox()
        let (vault, _) = try box.makeVault()
        let entry = name("entities/FIU-1/secret")
        try vault.put(entry, secret("one"))
        try vault.put(entry, secret("two"))
        try vault.put(entry, secret("three"), label: .pending)
        #expect(try vault.get(entry).value == secret("two"))
        #expect(try vault.get(entry, label: .previous).value == secret("one"))
        #expect(try vault.get(entry, label: .pending).value == secret("three"))
        try vault.moveLabel(.current, of: entry, toVersion: 3)
        #expect(try vault.get(entry).value == secret("three"))
        #expect(try vault.get(entry, label: .previous).value == secret("two"))
        #expect(try vault.find(entry, label: .pending) == nil)
        let history = try vault.history(entry)
        #expect(history.map(\.version) == [1, 2, 3])
        #expect(history.map(\.labels) == [[], [.previous], [.current]])
        #expect(history[2].fingerprint == vault.fingerprint(secret("three")))
        #expect(history.allSatisfy { $0.fingerprint.count == 8 })
        #expect(!"\(history)".contains("three"))
    }

    @Test("retention keeps the newest versions and never prunes a labelled one")
    func retention() throws {
        let box = try Sandbox()
        let (vault, _) = try box.makeVault(retention: 3)
        let entry = name("e")
        try vault.put(entry, secret("v1"))
        try vault.put(entry, secret("v2"), label: .pending)
        for index in 3...8 { try vault.put(entry, secret("v\(index)")) }
        let history = try vault.history(entry)
        #expect(history.map(\.version) == [2, 7, 8])
        #expect(history[0].labels == [.pending])
        _ = try vault.verify()
        try vault.setRetention(5)
        #expect(try vault.retention() == 5)
        for index in 9...12 { try vault.put(entry, secret("v\(index)")) }
        #expect(try vault.history(entry).map(\.version) == [2, 9, 10, 11, 12])
        #expect(throws: VaultError.self) { try vault.setRetention(0) }
        _ = try vault.verify()
    }

    @Test("fingerprints are 8 hex digits, stable per vault, different across vaults")
    func fingerprints() throws {
        let first = try Sandbox().makeVault().0
        let second = try Sandbox().makeVault().0
        let value = secret("hunter2")
        #expect(first.fingerprint(value).count == 8)
        #expect(first.fingerprint(value).allSatisfy { $0.isHexDigit })
        #expect(first.fingerprint(value) == first.fingerprint(value))
        #expect(first.fingerprint(value) != second.fingerprint(value))
    }

    @Test("a wrong key file is refused with exit category vault, nothing changed")
    func wrongKey() throws {
        let box = try Sandbox()
        let (vault, _) = try box.makeVault()
        try vault.put(name("a"), secret("x"))
        let generation = vault.generation
        let error = expectVaultFailure { _ = try box.open(.keyFile(try box.keyFile("other"))) }
        #expect(error?.code == .wrongKey)
        #expect(vault.generation == generation)
        let passphrase = expectVaultFailure { _ = try box.open(.passphrase(secret("guess"))) }
        #expect(passphrase?.code == .wrongKey)
    }

    @Test("a malformed key file leaves the vault locked (exit 4) and is not echoed")
    func malformedKeyFile() throws {
        let box = try Sandbox()
        let path = box.root + "/bad.key"
        try Data("not-base64-of-32-bytes-SECRETSTUFF".utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: VaultError.self) { _ = try Vault.create(at: box.vaultPath, keySource: .keyFile(path), options: box.options) }
        #expect(error?.category == .vault)
        #expect(error?.message.contains("SECRETSTUFF") == false)
        #expect(!FileManager.default.fileExists(atPath: box.vaultPath))
    }

    @Test("production passphrase slots use t=3, m=64 MiB, p=2")
    func productionParameters() throws {
        let box = try Sandbox()
        let vault = try Vault.create(at: box.vaultPath, keySource: .passphrase(secret("correct horse")), options: box.options)
        let slots = try vault.keySlots()
        #expect(slots.count == 1)
        #expect(slots[0].kdf == "argon2id t=3, m=65536 KiB, p=2")
        #expect(try box.open(.passphrase(secret("correct horse"))).keySlots().count == 1)
    }

    @Test("weak Argon2id parameters work only through the package-level test hook and are refused in production")
    func kdfFloor() throws {
        let box = try Sandbox()
        let vault = try Vault.create(at: box.vaultPath, keySource: .passphrase(secret("pw")), options: box.options, policy: fastKDF)
        try vault.put(name("a"), secret("x"))
        #expect(try box.open(.passphrase(secret("pw")), policy: fastKDF).get(name("a")).value == secret("x"))
        let error = expectVaultFailure { _ = try box.open(.passphrase(secret("pw"))) }
        #expect(error?.message.contains("below the floor") == true)
    }

    @Test("absurd Argon2id parameters in the file are refused before libgcrypt sees them", arguments: [
        "kdf_m_kib = 4294967296", "kdf_t = 1000000", "kdf_p = 0", "kdf_m_kib = -1", "salt = X'00'",
    ])
    func absurdParameters(assignment: String) throws {
        let box = try Sandbox()
        _ = try Vault.create(at: box.vaultPath, keySource: .passphrase(secret("pw")), options: box.options, policy: fastKDF)
        try box.tamper { db in try db.execute(sql: "UPDATE key_slots SET \(assignment)") }
        expectVaultFailure { _ = try box.open(.passphrase(secret("pw")), policy: fastKDF) }
    }

    @Test("key slots: add a key file, list, open with either, refuse removing the last")
    func keySlots() throws {
        let box = try Sandbox()
        let (vault, first) = try box.makeVault()
        try vault.put(name("a"), secret("x"))
        let second = VaultKeySource.keyFile(try box.keyFile("second"))
        let added = try vault.addKeySlot(second)
        #expect(added.id == 2 && added.kind == "key-file")
        #expect(try vault.keySlots().map(\.id) == [1, 2])
        #expect(try box.open(second).get(name("a")).value == secret("x"))
        try vault.removeKeySlot(id: 1)
        expectVaultFailure { _ = try box.open(first) }
        let last = #expect(throws: VaultError.self) { try vault.removeKeySlot(id: 2) }
        #expect(last?.category == .usage)
        #expect(throws: VaultError.self) { try vault.removeKeySlot(id: 9) }
    }

    @Test("passwd re-wraps the data key: the old passphrase no longer opens, values unchanged")
    func passwd() throws {
        let box = try Sandbox()
        let vault = try Vault.create(at: box.vaultPath, keySource: .passphrase(secret("old")), options: box.options, policy: fastKDF)
        try vault.put(name("a"), secret("value-a"))
        let versionsBefore = try box.versionBlobs()
        try vault.changePassphrase(to: secret("new"))
        expectVaultFailure { _ = try box.open(.passphrase(secret("old")), policy: fastKDF) }
        let reopened = try box.open(.passphrase(secret("new")), policy: fastKDF)
        #expect(try reopened.get(name("a")).value == secret("value-a"))
        #expect(try box.versionBlobs() == versionsBefore)
        #expect(try reopened.keySlots().count == 1)
    }

    @Test("rekey: a new data key, every ciphertext changed, values unchanged, every slot still opens")
    func rekey() throws {
        let box = try Sandbox()
        let (vault, first) = try box.makeVault()
        let second = VaultKeySource.keyFile(try box.keyFile("second"))
        try vault.addKeySlot(second)
        for index in 0..<20 { try vault.put(name("e/\(index)"), secret("value-\(index)")) }
        try vault.put(name("e/0"), secret("value-0b"))
        let journal = try vault.openJournal(entity: "FIU-1")
        try vault.appendAudit(VaultAuditEvent(time: Date(), operation: "vault get", entity: "FIU-1", outcome: "ok"))
        let before = try box.versionBlobs()
        let fingerprint = vault.fingerprint(secret("x"))
        #expect(throws: VaultError.self) { _ = try vault.rekey() }
        let report = try vault.rekey(additionalKeySources: [second])
        #expect(report.keyID == 2 && report.versionsResealed == 21 && report.slotsRewrapped == [1, 2])
        let after = try box.versionBlobs()
        #expect(before.count == after.count)
        for (old, new) in zip(before, after) { #expect(old != new) }
        #expect(vault.fingerprint(secret("x")) != fingerprint)
        for opener in [first, second] {
            let reopened = try box.open(opener)
            #expect(try reopened.get(name("e/7")).value == secret("value-7"))
            #expect(try reopened.get(name("e/0"), label: .previous).value == secret("value-0"))
            #expect(try reopened.journalEntries().map(\.id) == [journal.id])
            #expect(try reopened.auditEvents().count == 1)
            _ = try reopened.verify()
        }
        try vault.put(name("after"), secret("rekey"))
        #expect(try vault.get(name("after")).value == secret("rekey"))
    }

    @Test("rekey with an unmatched slot drops it only when asked")
    func rekeyDrop() throws {
        let box = try Sandbox()
        let (vault, first) = try box.makeVault()
        let second = VaultKeySource.keyFile(try box.keyFile("second"))
        try vault.addKeySlot(second)
        let report = try vault.rekey(dropUnmatchedSlots: true)
        #expect(report.slotsRemoved == [2])
        expectVaultFailure { _ = try box.open(second) }
        _ = try box.open(first).verify()
    }

    @Test("a rekey that fails midway rolls back and leaves a verifiable vault under the old key")
    func rekeyRollback() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        for index in 0..<10 { try vault.put(name("e/\(index)"), secret("value-\(index)")) }
        let before = try box.versionBlobs()
        struct Injected: Error {}
        vault.setFaultHook { point in if point == "rekey-midway" { throw Injected() } }
        #expect(throws: (any Error).self) { _ = try vault.rekey() }
        vault.setFaultHook(nil)
        #expect(try box.versionBlobs() == before)
        #expect(vault.keyID == 1)
        #expect(try vault.get(name("e/3")).value == secret("value-3"))
        let reopened = try box.open(source)
        _ = try reopened.verify()
        #expect(try reopened.get(name("e/9")).value == secret("value-9"))
    }

    @Test("another process's writes are seen through the generation; after its rekey reads go on under the new key")
    func twoHandles() throws {
        let box = try Sandbox()
        let (first, source) = try box.makeVault()
        let second = try box.open(source)
        try first.put(name("a"), secret("1"))
        #expect(try second.get(name("a")).value == secret("1"))
        try second.put(name("a"), secret("2"))
        #expect(try first.get(name("a")).value == secret("2"))
        #expect(first.generation == second.generation)
        _ = try second.rekey()
        // Not an integrity failure (issue 12): the slot `first` unlocked opens the new data key.
        #expect(try first.get(name("a")).value == secret("2"))
        #expect(first.keyID == second.keyID)
    }

    @Test("amend: a new expiry for the current version in place; bytes, version, labels, creation and source stay; the vault still verifies")
    func amendExpiry() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        let created = Date(timeIntervalSince1970: 1_800_000_000)
        let entry = name("entities/FIU-EXAMPLE-1/secret")
        try vault.put(entry, secret("first"), metadata: VaultRecordMetadata(createdAt: created, expiresAt: nil, source: "uat", txnId: "t-1"))
        try vault.put(entry, secret("same bytes"), metadata: VaultRecordMetadata(createdAt: created, expiresAt: nil, source: "uat (reset)", txnId: "t-2"))
        let later = created.addingTimeInterval(150 * 86_400)
        let amended = try vault.amend(entry, expiresAt: later, txnId: "t-3")
        #expect(amended.version == 2 && amended.expiresAt == later && amended.txnId == "t-3")
        let reopened = try box.open(source)
        let current = try reopened.get(entry)
        #expect(current.value == secret("same bytes"))
        #expect(current.version == 2 && current.expiresAt == later && current.createdAt == created)
        #expect(current.source == "uat (reset)" && current.txnId == "t-3")
        #expect(try reopened.get(entry, label: .previous).value == secret("first"), "the previous version is untouched")
        #expect(try reopened.history(entry).count == 2, "no new version")
        _ = try reopened.verify()
        try reopened.amend(entry, expiresAt: nil, txnId: nil)
        #expect(try reopened.get(entry).expiresAt == nil)
        #expect(try reopened.get(entry).txnId == "t-3", "nil keeps the txnId")
        #expect(throws: VaultError.self) { try reopened.amend(name("entities/NOPE/secret"), expiresAt: later, txnId: nil) }
        _ = try box.open(source).verify()
    }

    @Test("journal: open, advance through the states, list the open ones, refuse bad transitions")
    func journal() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        let entry = try vault.openJournal(entity: "FIU-EXAMPLE-1")
        #expect(entry.state == .pending)
        try vault.advanceJournal(id: entry.id, to: .sent)
        try vault.put(name("entities/FIU-EXAMPLE-1/secret"), secret("new"), metadata: VaultRecordMetadata(source: "uat", txnId: "t-9"),
                      label: .pending, journal: (entry.id, .stored))
        let stored = try #require(try vault.openJournalEntries().first)
        #expect(stored.state == .stored && stored.txnId == "t-9" && stored.entity == "FIU-EXAMPLE-1")
        #expect(throws: VaultError.self) { try vault.advanceJournal(id: entry.id, to: .pending) }
        try vault.advanceJournal(id: entry.id, to: .done)
        // Another job finished it meanwhile: a conflict (exit 1), neither a usage error (2) nor
        // damage (4) (issue 12, item 9).
        let conflict = #expect(throws: VaultError.self) { try vault.advanceJournal(id: entry.id, to: .stored) }
        #expect(conflict?.code == .conflict)
        #expect(conflict?.category == .operationFailed)
        #expect(conflict?.message.contains("another job") == true)
        #expect(try vault.openJournalEntries().isEmpty)
        let other = try vault.openJournal(entity: "FIU-2")
        try vault.advanceJournal(id: other.id, to: .aborted)
        #expect(try box.open(source).journalEntries().map(\.state) == [.done, .aborted])
    }

    @Test("audit: append and list rows, filtered by time; never a value")
    func audit() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        // A row from 2023 outlives the default 90-day audit retention only with a longer one.
        try vault.setAuditRetention(.seconds(20 * 365 * 86_400))
        let old = Date(timeIntervalSince1970: 1_700_000_000)
        try vault.appendAudit(VaultAuditEvent(time: old, operation: "sync", entity: "FIU-1", outcome: "ok", txnId: "a"))
        try vault.appendAudit(VaultAuditEvent(time: Date(), operation: "vault get", entity: nil, outcome: "ok"))
        let events = try box.open(source).auditEvents()
        #expect(events.map(\.operation) == ["sync", "vault get"])
        #expect(events[0].entity == "FIU-1" && events[0].txnId == "a" && events[0].id == 1)
        #expect(try vault.auditEvents(since: Date(timeIntervalSince1970: 1_750_000_000)).map(\.operation) == ["vault get"])
    }

    @Test("the vault conforms to KeywardCore's SecretStore and Fingerprinter")
    func secretStore() async throws {
        let box = try Sandbox()
        let (vault, _) = try box.makeVault()
        let store: any SecretStore = vault
        let context = OperationContext()
        let record = SecretRecord(value: secret("s3"), createdAt: Date(timeIntervalSince1970: 1_750_000_000), source: "uat", txnId: "t")
        let written = try await store.write(name("entities/X/secret"), record: record, label: .current, context: context)
        #expect(written.version == 1)
        let back = try #require(try await store.read(name("entities/X/secret"), label: .current, context: context))
        #expect(back.value == secret("s3") && back.createdAt == record.createdAt && back.source == "uat")
        #expect(try await store.read(name("entities/X/secret"), label: .pending, context: context) == nil)
        #expect(try await store.list(prefix: "entities/", context: context) == [name("entities/X/secret")])
        try await store.remove(name("entities/X/secret"), context: context)
        await #expect(throws: VaultError.self) { try await store.remove(name("entities/X/secret"), context: context) }
        let fingerprinter: any Fingerprinter = vault
        #expect(fingerprinter.fingerprint(secret("a")).count == 8)
    }
}

extension Sandbox {
    /// Every version row's (nonce, ciphertext, tag), in key order.
    func versionBlobs() throws -> [[UInt8]] {
        let queue = try DatabaseQueue(path: vaultPath)
        defer { try? queue.close() }
        return try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT nonce, ciphertext, tag FROM versions ORDER BY entry_id, version").map {
                Array($0[0] as Data) + Array($0[1] as Data) + Array($0[2] as Data)
            }
        }
    }
}

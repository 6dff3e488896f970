import Foundation
import GRDB
import KeywardCore
import Logging

/// A new slot's key-encryption key and the public inputs that derive it.
struct SlotMaterial {
    var kind: SlotKind
    var parameters: Argon2Parameters
    var salt: [UInt8]
    var kek: SecureBytes

    static func make(for source: VaultKeySource, vaultID: [UInt8], policy: KDFPolicy) throws -> SlotMaterial {
        let salt = Random.bytes(32)
        switch source {
        case .keyFile(let path):
            let keyBytes = try VaultKeySource.readKeyFile(path)
            return SlotMaterial(
                kind: .keyFile, parameters: Argon2Parameters(iterations: 0, memoryKiB: 0, parallelism: 0), salt: salt,
                kek: try KeyEncryptionKey.fromKeyFile(keyBytes, salt: salt, vaultID: vaultID))
        case .passphrase(let passphrase):
            guard !passphrase.isEmpty else { throw VaultError.invalid("the passphrase is empty") }
            let parameters = policy.creationParameters
            try policy.check(parameters)
            return SlotMaterial(
                kind: .passphrase, parameters: parameters, salt: salt,
                kek: try KeyEncryptionKey.fromPassphrase(passphrase, salt: salt, parameters: parameters, vaultID: vaultID))
        }
    }
}

extension Vault {
    /// Wraps the data key of `keys` for a slot and stores it (new or replacing `id`).
    static func insertSlot(_ db: Database, id: Int, material: SlotMaterial, keys: VaultKeys, createdAt: Date, replace: Bool = false) throws {
        var slot = SlotRow(
            id: id, kind: material.kind.rawValue, keyID: keys.keyID, iterations: Int64(material.parameters.iterations),
            memoryKiB: Int64(material.parameters.memoryKiB), parallelism: Int64(material.parameters.parallelism),
            salt: material.salt, createdAt: milliseconds(createdAt), box: SealedBox(nonce: [], ciphertext: [], tag: []))
        let aad = slotAAD(vaultID: keys.vaultID, slot: slot)
        let wrapper = try AESGCM(key: material.kek)
        slot.box = try keys.dataKey.withUnsafeBytes { try wrapper.seal($0, aad: aad) }
        try db.execute(
            sql: """
                \(replace ? "INSERT OR REPLACE" : "INSERT") INTO key_slots(slot_id, kind, key_id, kdf_t, kdf_m_kib, kdf_p, salt, created_at, wrap_nonce, wrapped_key, wrap_tag)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                slot.id, slot.kind, Int64(slot.keyID), slot.iterations, slot.memoryKiB, slot.parallelism, Data(slot.salt),
                slot.createdAt, Data(slot.box.nonce), Data(slot.box.ciphertext), Data(slot.box.tag),
            ])
    }

    /// The unlock slots, without anything secret.
    public func keySlots() throws -> [VaultKeySlot] {
        let current = unlockSlot.id
        return try read { db, _ in
            try Vault.readSlots(db).map { slot in
                VaultKeySlot(
                    id: slot.id, kind: slot.kind, createdAt: date(milliseconds: slot.createdAt),
                    kdf: slot.kind == SlotKind.passphrase.rawValue ? "argon2id \(slot.parameters)" : "hkdf-sha256",
                    unlockedThisSession: slot.id == current)
            }
        }
    }

    /// Adds an unlock slot that opens the same data key.
    /// - Returns: the new slot.
    @discardableResult
    public func addKeySlot(_ source: VaultKeySource) throws -> VaultKeySlot {
        let keys = self.keys
        let material = try SlotMaterial.make(for: source, vaultID: keys.vaultID, policy: policy)
        let id = try mutate { db, mutation in
            let id = (try Int.fetchOne(db.cachedStatement(sql: "SELECT MAX(slot_id) FROM key_slots")) ?? 0) + 1
            try Vault.insertSlot(db, id: id, material: material, keys: mutation.keys, createdAt: options.clock.now)
            mutation.header = true
            return id
        }
        return try keySlots().first { $0.id == id }!
    }

    /// Removes an unlock slot; refuses to remove the last one.
    /// - Throws: ``VaultError`` `.notFound` for an unknown id, `.invalidInput` for the last slot.
    public func removeKeySlot(id: Int) throws {
        try mutate { db, mutation in
            let count = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM key_slots")) ?? 0
            guard try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM key_slots WHERE slot_id = ?"), arguments: [id]) == 1 else {
                throw VaultError(.notFound, "no unlock slot \(id); see `keyward vault key list`")
            }
            guard count > 1 else {
                throw VaultError.invalid("slot \(id) is the last unlock slot; add another before removing it")
            }
            try db.cachedStatement(sql: "DELETE FROM key_slots WHERE slot_id = ?").execute(arguments: [id])
            mutation.header = true
        }
    }

    /// `vault passwd`: sets a new passphrase by re-wrapping the data key only, in one
    /// transaction. Replaces the passphrase slot this session unlocked with; after a key-file
    /// unlock, the vault's only passphrase slot (or adds one when there is none).
    /// - Returns: the slot re-wrapped, or the one added.
    /// - Throws: ``VaultError`` `.invalidInput` when several passphrase slots make the choice
    ///   ambiguous.
    @discardableResult
    public func changePassphrase(to passphrase: SecretValue) throws -> PassphraseChange {
        let keys = self.keys
        let material = try SlotMaterial.make(for: .passphrase(passphrase), vaultID: keys.vaultID, policy: policy)
        let unlocked = unlockSlot.id
        var added = false
        let target: Int = try mutate { db, mutation in
            let slots = try Vault.readSlots(db)
            let passphraseSlots = slots.filter { $0.kind == SlotKind.passphrase.rawValue }
            let target: Int
            if passphraseSlots.contains(where: { $0.id == unlocked }) {
                target = unlocked
            } else if passphraseSlots.count == 1 {
                target = passphraseSlots[0].id
            } else if passphraseSlots.isEmpty {
                target = (slots.map(\.id).max() ?? 0) + 1
                added = true
            } else {
                throw VaultError.invalid("the vault has several passphrase slots; unlock with the one to change")
            }
            try Vault.insertSlot(db, id: target, material: material, keys: mutation.keys, createdAt: options.clock.now, replace: true)
            mutation.header = true
            return target
        }
        if target == unlocked { replaceUnlock(slotID: target, kek: material.kek) }
        return added ? .added(slotID: target) : .changed(slotID: target)
    }

    /// What ``changePassphrase(to:)`` did.
    public enum PassphraseChange: Sendable, Equatable {
        /// The passphrase slot `slotID` was re-wrapped under the new passphrase.
        case changed(slotID: Int)
        /// The vault had no passphrase slot (only key files): slot `slotID` was added.
        case added(slotID: Int)
    }

    /// `vault rekey`: a new random data key; every slot re-wrapped, every name, version,
    /// journal and audit row re-sealed, the manifest recomputed, all in one transaction.
    ///
    /// Slots other than the one this session unlocked with can only be re-wrapped when one of
    /// `additionalKeySources` opens them; the others are removed when `dropUnmatchedSlots`,
    /// otherwise the rekey is refused before anything changes.
    public func rekey(additionalKeySources: [VaultKeySource] = [], dropUnmatchedSlots: Bool = false) throws -> VaultRekeyReport {
        let sessionKeys = self.keys
        let (unlockedID, unlockedKEK) = unlockSlot
        // Find a key-encryption key for every slot before the transaction (Argon2 is slow).
        let slots = try queue.read { db in try Vault.readSlots(db) }
        var keks: [Int: SecureBytes] = [unlockedID: unlockedKEK]
        var unmatched: [Int] = []
        for slot in slots where slot.id != unlockedID {
            var found: SecureBytes?
            for source in additionalKeySources {
                let kek: SecureBytes
                switch source {
                case .keyFile(let path) where slot.kind == SlotKind.keyFile.rawValue:
                    kek = try KeyEncryptionKey.fromKeyFile(VaultKeySource.readKeyFile(path), salt: slot.salt, vaultID: sessionKeys.vaultID)
                case .passphrase(let passphrase) where slot.kind == SlotKind.passphrase.rawValue:
                    try policy.check(slot.parameters)
                    kek = try KeyEncryptionKey.fromPassphrase(passphrase, salt: slot.salt, parameters: slot.parameters, vaultID: sessionKeys.vaultID)
                default:
                    continue
                }
                if (try? Vault.unwrap(slot: slot, kek: kek, vaultID: sessionKeys.vaultID)) != nil {
                    found = kek
                    break
                }
            }
            if let found { keks[slot.id] = found } else { unmatched.append(slot.id) }
        }
        if !unmatched.isEmpty && !dropUnmatchedSlots {
            throw VaultError.invalid(
                "no key given opens unlock slot(s) \(unmatched.map(String.init).joined(separator: ", ")); "
                    + "pass their key files or passphrases too, or drop those slots")
        }
        var rekeyed: VaultKeys?
        let report: VaultRekeyReport = try mutate(recomputeEverything: true) { db, mutation in
            // The keys as of this transaction: another process may have re-keyed this session unlocked.
            let oldKeys = mutation.keys
            let newKeys = try VaultKeys(vaultID: oldKeys.vaultID, keyID: oldKeys.keyID + 1, dataKey: SecureBytes.random(count: 32))
            rekeyed = newKeys
            var resealed = 0
            // Slots: same salt and parameters, new wrap of the new key.
            for slot in try Vault.readSlots(db) {
                guard let kek = keks[slot.id] else {
                    try db.cachedStatement(sql: "DELETE FROM key_slots WHERE slot_id = ?").execute(arguments: [slot.id])
                    continue
                }
                let material = SlotMaterial(kind: SlotKind(rawValue: slot.kind) ?? .keyFile, parameters: slot.parameters, salt: slot.salt, kek: kek)
                try Vault.insertSlot(db, id: slot.id, material: material, keys: newKeys, createdAt: date(milliseconds: slot.createdAt), replace: true)
            }
            // Entries: new name index, name and every version re-sealed.
            let entries = try Row.fetchAll(db.cachedStatement(sql: "SELECT \(EntryRow.columns) FROM entries ORDER BY bucket, entry_id")).map { EntryRow(row: $0) }
            var half = entries.count / 2
            for entry in entries {
                let name = try Vault.openName(entry: entry, keys: oldKeys)
                let newIndex = try newKeys.index(of: name)
                let nameBox = try newKeys.names.seal(Array(name.utf8), aad: Vault.nameAAD(keys: newKeys, entryID: entry.id, keyID: newKeys.keyID, nameIndex: newIndex))
                try db.execute(
                    sql: "UPDATE entries SET name_index = ?, key_id = ?, name_nonce = ?, name_ciphertext = ?, name_tag = ? WHERE bucket = ? AND entry_id = ?",
                    arguments: [Data(newIndex), Int64(newKeys.keyID), Data(nameBox.nonce), Data(nameBox.ciphertext), Data(nameBox.tag),
                                Vault.bucket(of: entry.id), entry.id])
                for version in try Vault.readVersions(db, entryID: entry.id) {
                    var plaintext: [UInt8]
                    do {
                        plaintext = try oldKeys.records.open(
                            version.box,
                            aad: Vault.recordAAD(keys: oldKeys, entryID: entry.id, version: version.version, keyID: version.keyID, alg: version.alg,
                                                 nameIndex: entry.nameIndex))
                    } catch {
                        throw VaultError.integrity("\(name) version \(version.version) failed authentication; the vault was not re-keyed")
                    }
                    defer { SecureBytes.wipe(&plaintext) }
                    let box = try newKeys.records.seal(
                        plaintext,
                        aad: Vault.recordAAD(keys: newKeys, entryID: entry.id, version: version.version, keyID: newKeys.keyID, alg: Vault.algorithmAES256GCM, nameIndex: newIndex))
                    try db.execute(
                        sql: "UPDATE versions SET key_id = ?, alg = ?, nonce = ?, ciphertext = ?, tag = ? WHERE bucket = ? AND entry_id = ? AND version = ?",
                        arguments: [Int64(newKeys.keyID), Vault.algorithmAES256GCM, Data(box.nonce), Data(box.ciphertext), Data(box.tag),
                                    Vault.bucket(of: entry.id), entry.id, version.version])
                    resealed += 1
                }
                half -= 1
                if half == 0 { try self.checkpoint("rekey-midway") }
            }
            if entries.count < 2 { try self.checkpoint("rekey-midway") }
            try Vault.resealLogs(db, from: oldKeys, to: newKeys)
            mutation.keys = newKeys
            return VaultRekeyReport(
                keyID: Int(newKeys.keyID), versionsResealed: resealed, slotsRewrapped: keks.keys.sorted(),
                slotsRemoved: unmatched.sorted())
        }
        guard let newKeys = rekeyed else { return report }
        replaceKeys(newKeys, unlockSlotID: unlockedID, kek: unlockedKEK)
        options.logger.notice("vault re-keyed", metadata: ["key-id": "\(newKeys.keyID)", "versions": "\(report.versionsResealed)"])
        return report
    }
}


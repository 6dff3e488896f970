import Foundation
import GRDB

/// The rollback anchor: a small file outside the database
/// (`$XDG_STATE_HOME/keyward/anchors/<vault-id>`) holding the last generation this machine
/// committed and its manifest MAC, so that an older copy of the whole file is noticed.
struct Anchor: Equatable {
    var generation: Int64
    var updatedAt: Int64
    var keyID: UInt32
    var top: [UInt8]
    var mac: [UInt8]
}

extension Vault {
    static func anchorMAC(keys: VaultKeys, generation: Int64, updatedAt: Int64, top: [UInt8]) throws -> [UInt8] {
        try keys.anchor.authenticate { input in
            input.write("KWV1-anchor\0")
            input.write(keys.vaultID)
            input.write(keys.keyID)
            input.write(generation)
            input.write(updatedAt)
            input.writeField(top)
        }
    }

    /// The anchor file holds two fixed-size slots; generation `g` goes to slot `g % 2`, written
    /// in place, so a commit costs one `pwrite` into blocks the file already owns (no new
    /// inode, no size change) and a write torn by a crash can only spoil the slot it was
    /// writing: the other still holds the generation before. A file of any other size (the
    /// earlier one-record text form) is read as one slot and replaced whole on the next write.
    static let anchorSlotSize = 512
    static let anchorFileSize = 2 * anchorSlotSize

    /// How a committed generation's anchor reaches the disk.
    enum AnchorDurability {
        /// Written and synced before returning (first anchor, accepted restore: temp file,
        /// fsync, rename, directory fsync; an existing two-slot file: `pwrite` + `fdatasync`).
        case synced
        /// After each commit: written in place, left to the kernel's write-back. It can lag
        /// the file after power loss, never run ahead of it: docs/vault.md, "Rollback anchor".
        case written
    }

    static func anchorRecord(keys: VaultKeys, generation: Int64, updatedAt: Int64, top: [UInt8]) throws -> [UInt8] {
        let mac = try Vault.anchorMAC(keys: keys, generation: generation, updatedAt: updatedAt, top: top)
        var text = Array("""
            keyward-anchor 1
            vault \(hexString(keys.vaultID))
            generation \(generation)
            updated \(updatedAt)
            key \(keys.keyID)
            top \(hexString(top))
            mac \(hexString(mac))

            """.utf8)
        guard text.count <= anchorSlotSize else { throw VaultError.io("the rollback anchor record is too long") }
        // Padded with newlines, which the reader skips: the file stays plain text.
        text += [UInt8](repeating: 0x0A, count: anchorSlotSize - text.count)
        return text
    }

    /// Writes the anchor for a committed generation into its slot. `replacingAll` (accepting a
    /// restore to an older generation) writes a new file holding only this record, since the
    /// other slot may hold a newer generation.
    func writeAnchor(generation: Int64, updatedAt: Int64, top: [UInt8], keys: VaultKeys? = nil,
                     durability: AnchorDurability = .synced, replacingAll: Bool = false) throws {
        let keys = keys ?? self.keys
        let record = try Vault.anchorRecord(keys: keys, generation: generation, updatedAt: updatedAt, top: top)
        let offset = Int(generation & 1) * Vault.anchorSlotSize
        if try !replacingAll && SafeFiles.overwriteInPlace(
            path: anchorPath, expectedSize: Vault.anchorFileSize, offset: offset, contents: record, sync: durability == .synced)
        {
            return
        }
        // No anchor yet, or the old one-record form: a new two-slot file, atomically and synced.
        var contents = [UInt8](repeating: 0x0A, count: Vault.anchorFileSize)
        contents.replaceSubrange(offset..<offset + Vault.anchorSlotSize, with: record)
        let directory = (anchorPath as NSString).deletingLastPathComponent
        try SafeFiles.ensurePrivateDirectory(directory)
        try SafeFiles.replaceAtomically(path: anchorPath, contents: contents)
    }

    /// The anchor, `nil` when this machine has none for this vault: of the slots that parse and
    /// whose MAC checks (a slot written under an earlier data key cannot be checked and counts
    /// as it reads), the one with the highest generation.
    /// - Throws: ``VaultError`` `.integrity` when the file exists but no slot is usable.
    func readAnchor() throws -> Anchor? {
        guard let data = try SafeFiles.readNoFollow(anchorPath) else { return nil }
        let keys = self.keys
        let slots: [ArraySlice<UInt8>] = data.count == Vault.anchorFileSize
            ? [data[0..<Vault.anchorSlotSize], data[Vault.anchorSlotSize...]]
            : [data[...]]
        var best: Anchor?
        var sawRecord = false
        for slot in slots {
            guard slot.contains(where: { $0 != 0x0A }) else { continue }  // never written
            sawRecord = true
            guard let anchor = parseAnchor(slot) else { continue }
            if anchor.keyID == keys.keyID {
                let expected = try Vault.anchorMAC(keys: keys, generation: anchor.generation, updatedAt: anchor.updatedAt, top: anchor.top)
                guard ConstantTime.equals(expected, anchor.mac) else { continue }
            }
            if best == nil || anchor.generation > best!.generation { best = anchor }
        }
        if let best { return best }
        if sawRecord {
            throw VaultError.integrity("the rollback anchor \(anchorPath) is damaged or does not match this vault's key (replaced)")
        }
        // Keyward creates an anchor file whole, with a record (atomically): one that exists with
        // no record at all (emptied, say) is damaged, not absent.
        throw VaultError.integrity("the rollback anchor \(anchorPath) exists but holds no record (emptied or truncated)")
    }

    private func parseAnchor(_ bytes: ArraySlice<UInt8>) -> Anchor? {
        Vault.parseAnchor(bytes, vaultID: vaultID)
    }

    /// One anchor slot's text as a record of this vault (`vaultID`, lower-case hex), or `nil`
    /// when it is not one. Checks no MAC: ``readAnchor()`` does.
    static func parseAnchor(_ bytes: ArraySlice<UInt8>, vaultID: String) -> Anchor? {
        var fields: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard fields["keyward-anchor"] == "1", fields["vault"] == vaultID,
            let generation = fields["generation"].flatMap({ Int64($0) }),
            let updatedAt = fields["updated"].flatMap({ Int64($0) }),
            let keyID = fields["key"].flatMap({ UInt32($0) }),
            let top = fields["top"].flatMap(hexBytes), let mac = fields["mac"].flatMap(hexBytes)
        else { return nil }
        return Anchor(generation: generation, updatedAt: updatedAt, keyID: keyID, top: top, mac: mac)
    }

    /// Compares the file with the anchor; writes a first or newer anchor; reports a rollback.
    func checkAnchor(accept: Bool) throws {
        // The anchor first, then the file: every process writes its anchor only after its commit,
        // so an anchor read before the file can never be ahead of it unless the file really went
        // back. Read the other way round, another process committing in between looked like a
        // rollback (seen with sixteen concurrent `keyward rotate`).
        let stored = try readAnchor()
        let meta = try queue.read { db in try Vault.readMeta(db) }
        let keys = self.keys
        guard let anchor = stored else {
            try writeAnchor(generation: meta.generation, updatedAt: meta.updatedAt, top: meta.topMAC)
            return
        }
        func rollback() -> VaultError {
            VaultError(
                .rollback,
                "rollback detected: the vault file is at generation \(meta.generation) (written \(iso8601(meta.updatedAt))) "
                    + "but this machine last saw generation \(anchor.generation) (written \(iso8601(anchor.updatedAt))); "
                    + "an older copy of the file replaced the current one. If you restored a backup on purpose, run "
                    + "`keyward vault verify --accept-restore`")
        }
        if anchor.keyID == keys.keyID {
            let expected = try Vault.anchorMAC(keys: keys, generation: anchor.generation, updatedAt: anchor.updatedAt, top: anchor.top)
            guard ConstantTime.equals(expected, anchor.mac) else {
                throw VaultError.integrity("the rollback anchor \(anchorPath) does not match this vault's key (damaged or replaced)")
            }
            if anchor.generation > meta.generation { throw rollback() }
            if anchor.generation == meta.generation {
                guard ConstantTime.equals(anchor.top, meta.topMAC) else { throw rollback() }
                return
            }
        } else if anchor.generation >= meta.generation {
            // Written under another data key: a rekey happened after this copy was made.
            throw rollback()
        }
        try writeAnchor(generation: meta.generation, updatedAt: meta.updatedAt, top: meta.topMAC)
    }
}

func hexBytes(_ text: String) -> [UInt8]? {
    let scalars = Array(text.utf8)
    guard scalars.count % 2 == 0 else { return nil }
    var result: [UInt8] = []
    result.reserveCapacity(scalars.count / 2)
    var index = 0
    while index < scalars.count {
        guard let high = hexValue(scalars[index]), let low = hexValue(scalars[index + 1]) else { return nil }
        result.append(high << 4 | low)
        index += 2
    }
    return result
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    case 0x41...0x46: c - 0x41 + 10
    default: nil
    }
}

func iso8601(_ milliseconds: Int64) -> String {
    date(milliseconds: milliseconds).formatted(.iso8601)
}

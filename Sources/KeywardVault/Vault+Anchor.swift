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

    func writeAnchor(generation: Int64, updatedAt: Int64, top: [UInt8], keys: VaultKeys? = nil) throws {
        let keys = keys ?? self.keys
        let mac = try Vault.anchorMAC(keys: keys, generation: generation, updatedAt: updatedAt, top: top)
        let text = """
            keyward-anchor 1
            vault \(hexString(keys.vaultID))
            generation \(generation)
            updated \(updatedAt)
            key \(keys.keyID)
            top \(hexString(top))
            mac \(hexString(mac))

            """
        let directory = (anchorPath as NSString).deletingLastPathComponent
        try SafeFiles.ensurePrivateDirectory(directory)
        try SafeFiles.replaceAtomically(path: anchorPath, contents: Array(text.utf8))
    }

    /// The anchor, `nil` when this machine has none for this vault.
    func readAnchor() throws -> Anchor? {
        guard let data = try SafeFiles.readNoFollow(anchorPath) else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard fields["keyward-anchor"] == "1", fields["vault"] == vaultID,
            let generation = fields["generation"].flatMap({ Int64($0) }),
            let updatedAt = fields["updated"].flatMap({ Int64($0) }),
            let keyID = fields["key"].flatMap({ UInt32($0) }),
            let top = fields["top"].flatMap(hexBytes), let mac = fields["mac"].flatMap(hexBytes)
        else {
            throw VaultError.integrity("the rollback anchor \(anchorPath) is damaged")
        }
        return Anchor(generation: generation, updatedAt: updatedAt, keyID: keyID, top: top, mac: mac)
    }

    /// Compares the file with the anchor; writes a first or newer anchor; reports a rollback.
    func checkAnchor(accept: Bool) throws {
        let meta = try queue.read { db in try Vault.readMeta(db) }
        let keys = self.keys
        guard let anchor = try readAnchor() else {
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

import Foundation
import KeywardCore

/// The data key (DEK) of an unlocked vault and the subkeys derived from it with HKDF-SHA256
/// (RFC 5869): one per purpose, so a key is never used for two things.
final class VaultKeys: Sendable {
    let vaultID: [UInt8]
    /// Counts data keys: 1 at creation, +1 on every rekey. Bound into every AAD and MAC.
    let keyID: UInt32
    let dataKey: SecureBytes
    let records: AESGCM
    let names: AESGCM
    let log: AESGCM
    let nameIndex: HMACSHA256
    let manifest: HMACSHA256
    /// A second handle under the manifest key, so the unlock can MAC half of the buckets on
    /// another core (a handle is used under its own lock, one call at a time).
    let manifestSecondCore: HMACSHA256
    let fingerprints: HMACSHA256
    let anchor: HMACSHA256

    init(vaultID: [UInt8], keyID: UInt32, dataKey: SecureBytes) throws {
        self.vaultID = vaultID
        self.keyID = keyID
        self.dataKey = dataKey
        func subkey(_ purpose: String) throws -> SecureBytes {
            try HKDF.deriveKey(ikm: dataKey, salt: vaultID, info: Array("keyward/vault/v1/\(purpose)".utf8))
        }
        records = try AESGCM(key: subkey("record-encryption"))
        names = try AESGCM(key: subkey("name-encryption"))
        log = try AESGCM(key: subkey("journal-audit-encryption"))
        nameIndex = try HMACSHA256(key: subkey("name-index"))
        let manifestKey = try subkey("manifest-mac")
        manifest = try HMACSHA256(key: manifestKey)
        manifestSecondCore = try HMACSHA256(key: manifestKey)
        fingerprints = try HMACSHA256(key: subkey("fingerprint"))
        anchor = try HMACSHA256(key: subkey("rollback-anchor"))
    }

    /// The keyed index under which an entry name is looked up; the name itself is stored only
    /// encrypted.
    func index(of name: String) throws -> [UInt8] {
        try nameIndex.authenticate { input in
            input.write("name\0")
            input.write(Array(name.utf8))
        }
    }
}

/// What an unlock slot is opened with.
enum SlotKind: String, Sendable {
    case passphrase
    case keyFile = "key-file"
}

/// Key-encryption keys: Argon2id from a passphrase, HKDF from a key file.
enum KeyEncryptionKey {
    static func fromKeyFile(_ keyFileBytes: SecureBytes, salt: [UInt8], vaultID: [UInt8]) throws -> SecureBytes {
        try HKDF.deriveKey(ikm: keyFileBytes, salt: salt, info: Array("keyward/vault/v1/kek/key-file".utf8) + vaultID)
    }

    static func fromPassphrase(_ passphrase: SecretValue, salt: [UInt8], parameters: Argon2Parameters, vaultID: [UInt8]) throws -> SecureBytes {
        try passphrase.withRevealedBytes {
            try Argon2id.deriveKey(password: $0, salt: salt, parameters: parameters, associatedData: vaultID)
        }
    }
}

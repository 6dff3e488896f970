import Foundation
import KeywardCore

/// The vault's stored-blob decoders, reachable from bytes alone for the fuzz targets in
/// `Fuzz/` (issue 16, item 1): no database, no key file. Not API: `@_spi(Fuzzing)`, and the
/// formats it decodes are docs/vault.md's, not promises to callers.
///
/// Each decoder is the one the vault runs on what it reads back (a version's sealed plaintext,
/// a journal or audit row's, an anchor slot); the encoders are the ones it writes with, so a
/// caller can check that whatever decodes re-encodes to the same bytes.
@_spi(Fuzzing)
public enum VaultBlobDecoding {
    /// A version's plaintext: what ``Vault`` seals for one stored value.
    public struct Record: Equatable, Sendable {
        public var value: [UInt8]
        /// Milliseconds since 1970 (UTC).
        public var createdAt: Int64
        /// Milliseconds since 1970 (UTC).
        public var expiresAt: Int64?
        public var source: String
        public var txnId: String?

        public init(value: [UInt8], createdAt: Int64, expiresAt: Int64?, source: String, txnId: String?) {
            self.value = value
            self.createdAt = createdAt
            self.expiresAt = expiresAt
            self.source = source
            self.txnId = txnId
        }
    }

    /// `bytes` decoded as a version's plaintext, or `nil` when the vault would refuse it.
    public static func record(_ bytes: [UInt8]) -> Record? {
        guard let decoded = try? RecordPlaintext.decode(bytes) else { return nil }
        return Record(value: decoded.value.revealBytes(), createdAt: decoded.createdAt, expiresAt: decoded.expiresAt,
                      source: decoded.source, txnId: decoded.txnId)
    }

    /// The plaintext the vault seals for `record`.
    public static func encode(_ record: Record) -> [UInt8] {
        RecordPlaintext.encode(value: SecretValue(bytes: record.value), createdAt: record.createdAt, expiresAt: record.expiresAt,
                               source: record.source, txnId: record.txnId)
    }

    /// `bytes` decoded as a journal row's plaintext, and that entry encoded again; `nil` when
    /// the vault would refuse it.
    public static func journal(_ bytes: [UInt8]) -> (entry: VaultJournalEntry, encoded: [UInt8])? {
        guard let entry = try? Vault.decodeJournalPlaintext(bytes, id: 1) else { return nil }
        return (entry, Vault.encodeJournalPlaintext(entry))
    }

    /// `bytes` decoded as an audit row's plaintext, and that event encoded again; `nil` when
    /// the vault would refuse it.
    public static func audit(_ bytes: [UInt8]) -> (event: VaultAuditEvent, encoded: [UInt8])? {
        guard let event = try? Vault.decodeAuditPlaintext(bytes, id: 1) else { return nil }
        return (event, Vault.encodeAuditPlaintext(event))
    }

    /// One rollback-anchor slot's text as `(generation, updatedAt, keyID, top, mac)`, or `nil`
    /// when it is not a record of the vault `vaultID` (lower-case hex).
    public static func anchorSlot(_ bytes: [UInt8], vaultID: String)
        -> (generation: Int64, updatedAt: Int64, keyID: UInt32, top: [UInt8], mac: [UInt8])? {
        guard let anchor = Vault.parseAnchor(bytes[...], vaultID: vaultID) else { return nil }
        return (anchor.generation, anchor.updatedAt, anchor.keyID, anchor.top, anchor.mac)
    }

    /// A fixed set of vault keys (an all-zero data key) for ``openVersion(nonce:ciphertext:tag:version:)``
    /// and ``sealAndOpenVersion(_:version:)``.
    private static let keys: VaultKeys? = try? VaultKeys(vaultID: [UInt8](repeating: 7, count: 16), keyID: 1,
                                                         dataKey: SecureBytes(copying: [UInt8](repeating: 0, count: 32)))

    /// Opens a stored version row (`nonce`, `ciphertext`, `tag` as read from the database)
    /// through the vault's own path, under the fixed keys; the record, or `nil` when the vault
    /// refuses it (authentication or decoding).
    public static func openVersion(nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8], version: Int64) -> SecretRecord? {
        let name: SecretName = "fuzz/record"
        guard let keys, let index = try? keys.index(of: name.rawValue) else { return nil }
        let row = VersionRow(entryID: 1, version: version, keyID: keys.keyID, alg: Vault.algorithmAES256GCM,
                             box: SealedBox(nonce: nonce, ciphertext: ciphertext, tag: tag))
        return try? Vault.openRecord(row, entryID: 1, nameIndex: index, keys: keys, name: name)
    }

    /// Seals `plaintext` as the vault seals a version, then opens it through the vault's own
    /// path: what a record holding exactly these plaintext bytes reads back as.
    /// - Throws: ``VaultError`` when the vault refuses the plaintext once opened.
    public static func sealAndOpenVersion(_ plaintext: [UInt8], version: Int64) throws -> SecretRecord {
        let name: SecretName = "fuzz/record"
        guard let keys else { throw VaultError.integrity("no fuzzing keys") }
        let index = try keys.index(of: name.rawValue)
        let box = try keys.records.seal(
            plaintext, aad: Vault.recordAAD(keys: keys, entryID: 1, version: version, keyID: keys.keyID, alg: Vault.algorithmAES256GCM, nameIndex: index))
        let row = VersionRow(entryID: 1, version: version, keyID: keys.keyID, alg: Vault.algorithmAES256GCM, box: box)
        return try Vault.openRecord(row, entryID: 1, nameIndex: index, keys: keys, name: name)
    }
}

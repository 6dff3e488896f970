import Foundation
import KeywardCore
import Testing

@testable import KeywardVault

/// Regression tests for what Fuzz/fuzz-vault found in the decoders of the vault's sealed
/// plaintexts (issue 16, item 1): each input is the fuzzer's, in hex.
@Suite("Stored blob decoding: times")
struct BlobDecodingTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    /// A journal plaintext (format 1, FIU-EXAMPLE-1, txn-9, sent) whose update time is
    /// -7,349,874,588,766,046,744 ms: as a `Date` it came back as another number, so a rekey
    /// would have sealed a different entry.
    static let journalFarPast = "010000000d4649552d4558414d504c452d31010000000574786e2d390000000473656e740000019af232b2009a000001f232b5e8"

    @Test("a journal entry with a time outside ByteReader.timeRange (years 0 to 10000) is refused, not read as another time")
    func journalTimeOutOfRange() throws {
        #expect(throws: ByteReader.Malformed.self) { try Vault.decodeJournalPlaintext(Self.bytes(Self.journalFarPast), id: 1) }
    }

    @Test("journal, audit and record times at the ends of ByteReader.timeRange decode and encode to the same bytes; one past is refused",
          arguments: [ByteReader.timeRange.lowerBound, ByteReader.timeRange.upperBound, 0, 1_765_000_000_123])
    func timesAtTheBounds(_ milliseconds: Int64) throws {
        let entry = VaultJournalEntry(id: 1, entity: "FIU-EXAMPLE-1", txnId: nil, state: .stored,
                                      createdAt: date(milliseconds: milliseconds), updatedAt: date(milliseconds: milliseconds))
        let journal = Vault.encodeJournalPlaintext(entry)
        #expect(Vault.encodeJournalPlaintext(try Vault.decodeJournalPlaintext(journal, id: 1)) == journal)
        let event = VaultAuditEvent(id: 1, time: date(milliseconds: milliseconds), operation: "rotate", entity: nil, outcome: "ok", txnId: "t")
        let audit = Vault.encodeAuditPlaintext(event)
        #expect(Vault.encodeAuditPlaintext(try Vault.decodeAuditPlaintext(audit, id: 1)) == audit)
        let record = RecordPlaintext.encode(value: SecretValue(utf8: "v"), createdAt: milliseconds, expiresAt: milliseconds, source: "s", txnId: nil)
        let decoded = try RecordPlaintext.decode(record)
        #expect(decoded.createdAt == milliseconds && decoded.expiresAt == milliseconds)
    }

    @Test("a time one millisecond outside ByteReader.timeRange, or Int64's extremes, is refused in every blob",
          arguments: [ByteReader.timeRange.lowerBound - 1, ByteReader.timeRange.upperBound + 1, Int64.min, Int64.max])
    func timesPastTheBounds(_ milliseconds: Int64) throws {
        var journal = Vault.encodeJournalPlaintext(VaultJournalEntry(id: 1, entity: "FIU-EXAMPLE-1", txnId: nil, state: .sent,
                                                                     createdAt: Date(timeIntervalSince1970: 0), updatedAt: Date(timeIntervalSince1970: 0)))
        // The update time is the last 8 bytes.
        journal.replaceSubrange((journal.count - 8)..., with: withUnsafeBytes(of: milliseconds.bigEndian, Array.init))
        #expect(throws: ByteReader.Malformed.self) { try Vault.decodeJournalPlaintext(journal, id: 1) }

        var audit = Vault.encodeAuditPlaintext(VaultAuditEvent(id: 1, time: Date(timeIntervalSince1970: 0), operation: "o", entity: nil, outcome: "ok", txnId: nil))
        audit.replaceSubrange(1..<9, with: withUnsafeBytes(of: milliseconds.bigEndian, Array.init))
        #expect(throws: ByteReader.Malformed.self) { try Vault.decodeAuditPlaintext(audit, id: 1) }

        let created = RecordPlaintext.encode(value: SecretValue(utf8: "v"), createdAt: milliseconds, expiresAt: nil, source: "s", txnId: nil)
        #expect(throws: ByteReader.Malformed.self) { try RecordPlaintext.decode(created) }
        let expires = RecordPlaintext.encode(value: SecretValue(utf8: "v"), createdAt: 0, expiresAt: milliseconds, source: "s", txnId: nil)
        #expect(throws: ByteReader.Malformed.self) { try RecordPlaintext.decode(expires) }
    }
}

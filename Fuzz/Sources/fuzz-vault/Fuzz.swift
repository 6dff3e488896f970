import Foundation
import FuzzSupport
import KeywardCore
@_spi(Fuzzing) import KeywardVault

/// The vault's stored blobs, decoded from bytes with no database (KeywardVault's
/// `VaultBlobDecoding`). The first input byte picks the blob; the rest is it:
/// - 0: a version's sealed plaintext (format 1): decodes, or is refused; what decodes
///   re-encodes to exactly the same bytes (the format is canonical), and the same plaintext
///   sealed and opened through the vault's own record path gives the same value and times;
/// - 1: a journal row's plaintext: decodes and re-encodes to the same bytes, or is refused;
/// - 2: an audit row's plaintext: likewise;
/// - 3: a rollback-anchor slot (text): parses or not, never traps;
/// - 4: a stored version row cut into nonce, ciphertext and tag at the next two bytes: opening
///   it under the fixed keys fails (no forgery of AES-GCM from random bytes), never traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = input(data, size)
    guard let kind = bytes.first else { return 0 }
    let blob = Array(bytes.dropFirst())
    switch kind % 5 {
    case 0:
        guard let record = VaultBlobDecoding.record(blob) else {
            require((try? VaultBlobDecoding.sealAndOpenVersion(blob, version: 1)) == nil, "the record path accepts a plaintext the decoder refuses")
            return 0
        }
        require(VaultBlobDecoding.encode(record) == blob, "a record plaintext that re-encodes differently: \(hex(blob))")
        do {
            let opened = try VaultBlobDecoding.sealAndOpenVersion(blob, version: 3)
            require(opened.value.revealBytes() == record.value, "the record path reads another value")
            require(opened.version == 3 && opened.source == record.source && opened.txnId == record.txnId, "the record path reads other metadata")
            require(opened.createdAt == Date(timeIntervalSince1970: Double(record.createdAt) / 1000), "the record path reads another creation time")
        } catch {
            require(false, "the record path refuses a plaintext the decoder accepts: \(error)")
        }
    case 1:
        if let decoded = VaultBlobDecoding.journal(blob) {
            require(decoded.encoded == blob, "a journal plaintext that re-encodes differently: \(hex(blob)) -> \(hex(decoded.encoded))")
        }
    case 2:
        if let decoded = VaultBlobDecoding.audit(blob) {
            require(decoded.encoded == blob, "an audit plaintext that re-encodes differently: \(hex(blob)) -> \(hex(decoded.encoded))")
        }
    case 3:
        _ = VaultBlobDecoding.anchorSlot(blob, vaultID: "07070707070707070707070707070707")
    default:
        guard blob.count >= 2 else { return 0 }
        let rest = Array(blob.dropFirst(2))
        let nonceLength = min(Int(blob[0]) % 20, rest.count)
        let tagLength = min(Int(blob[1]) % 20, rest.count - nonceLength)
        let nonce = Array(rest[..<nonceLength]), tag = Array(rest[nonceLength..<(nonceLength + tagLength)])
        let ciphertext = Array(rest[(nonceLength + tagLength)...])
        require(VaultBlobDecoding.openVersion(nonce: nonce, ciphertext: ciphertext, tag: tag, version: 1) == nil, "a forged version opened")
    }
    return 0
}

import Foundation
import KeywardCore
import Testing

@testable import KeywardVault

/// Another process re-keys the vault while this one has it open (issue 12, item 9): that is
/// not an integrity failure. A session whose unlock slot survived the rekey goes on under the
/// new data key; one whose slot is gone fails as an operation failure (exit 1), not exit 4.
@Suite("A rekey by another process")
struct ConcurrentRekeyTests {
    @Test("a vault opened before another process re-keyed it reads and writes on under the new key")
    func openBeforeRekey() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        try vault.put(name("e/0"), secret("value-0"))
        let reader = try box.open(source)
        let rekeyer = try box.open(source)
        _ = try rekeyer.rekey()
        #expect(try reader.get(name("e/0")).value == secret("value-0"))
        try reader.put(name("e/1"), secret("value-1"))
        _ = try rekeyer.rekey()
        try reader.put(name("e/2"), secret("value-2"))
        let fresh = try box.open(source)
        #expect(try fresh.get(name("e/1")).value == secret("value-1"))
        #expect(try fresh.get(name("e/2")).value == secret("value-2"))
        _ = try fresh.verify()
    }

    @Test("a session whose unlock slot the rekey removed fails as an operation failure (exit 1), not an integrity failure")
    func slotRemoved() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        let second = VaultKeySource.keyFile(try box.keyFile("second"))
        try vault.addKeySlot(second)
        try vault.put(name("e/0"), secret("value-0"))
        let reader = try box.open(second)
        _ = try vault.rekey(additionalKeySources: [], dropUnmatchedSlots: true)
        do {
            _ = try reader.get(name("e/0"))
            Issue.record("the removed slot's session still read the vault")
        } catch let error as VaultError {
            #expect(error.category == .operationFailed, "\(error.code): \(error.message)")
            #expect(error.message.contains("re-keyed"), "\(error.message)")
        }
        #expect(try box.open(source).get(name("e/0")).value == secret("value-0"))
    }
}

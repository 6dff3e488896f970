import Foundation
import KeywardCore
import KeywardTesting
import Logging
import Testing

@Suite("SecretValue never shows its bytes by accident")
struct SecretValueTests {
    let secret = SecretValue(utf8: "s3cr3t+/=value")

    @Test("description, debugDescription, dump, interpolation and JSON are redacted")
    func redaction() throws {
        var dumped = ""
        dump(secret, to: &dumped)
        let json = String(decoding: try JSONEncoder().encode(["v": secret]), as: UTF8.self)
        let record = SecretRecord(value: secret, createdAt: Date(), source: "test")
        var dumpedRecord = ""
        dump(record, to: &dumpedRecord)
        for text in [secret.description, secret.debugDescription, dumped, "\(secret)", String(reflecting: secret), json, "\(record)"] {
            #expect(!text.contains("s3cr3t"), "\(text)")
        }
        #expect(secret.debugDescription.contains("14 bytes"))
        #expect(json == #"{"v":"<redacted>"}"#)
    }

    @Test("equality compares contents; reveal is explicit")
    func equality() {
        #expect(secret == SecretValue(bytes: Array("s3cr3t+/=value".utf8)))
        #expect(secret != SecretValue(utf8: "s3cr3t+/=valuf"))
        #expect(secret != SecretValue(utf8: "s3cr3t"))
        #expect(secret.revealUTF8() == "s3cr3t+/=value")
        #expect(secret.occurs(in: "xx s3cr3t+/=value yy"))
        #expect(!SecretValue(utf8: "").occurs(in: "anything"))
    }

    @Test("names and ids follow their rules", arguments: ["entities/FIU-1/secret", "a", "x/y.z@w+v-u_t"])
    func validNames(name: String) {
        #expect(SecretName(name) != nil)
    }

    @Test("invalid secret names", arguments: ["", "/a", "a/", "a//b", "a/../b", "./a", "a b", "a\nb", String(repeating: "a", count: 513)])
    func invalidNames(name: String) {
        #expect(SecretName(name) == nil)
    }

    @Test("invalid entity ids", arguments: ["", "-FIU", "FIU 1", "FIU/1", "FIU$", String(repeating: "A", count: 129)])
    func invalidEntityIDs(id: String) {
        #expect(EntityID(id) == nil)
    }
}

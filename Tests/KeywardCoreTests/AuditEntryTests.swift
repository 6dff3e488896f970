import Foundation
import KeywardCore
import Testing

@Suite("AuditEntry: one row for an operation on several entities")
struct AuditEntryTests {
    @Test("the entity field lists the entities in order; entities splits them again")
    func list() {
        let time = Date(timeIntervalSince1970: 0)
        let several = AuditEntry(time: time, operation: "export", entities: ["FIU-B", "FIU-A.1", "AA@x"], outcome: "ok")
        #expect(several.entity == "FIU-B,FIU-A.1,AA@x")
        #expect(several.entities == ["FIU-B", "FIU-A.1", "AA@x"])
        #expect(AuditEntry(time: time, operation: "export", entities: ["FIU-A"], outcome: "ok").entity == "FIU-A")
        #expect(AuditEntry(time: time, operation: "export", entities: [], outcome: "ok").entity == nil)
        #expect(AuditEntry(time: time, operation: "vault get", outcome: "ok").entities == [])
        let withSeparator: String = "FIU" + AuditEntry.entitySeparator + "A"
        #expect(EntityID(withSeparator) == nil, "no entity id contains the separator")
    }
}

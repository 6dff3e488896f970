import Foundation
import KeywardExternal
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    @Test("a request object survives encoding and decoding")
    func roundTrip() throws {
        let value: JSONValue = .object(["protocol": .integer(1), "operation": .string("describe"), "list": .array([.bool(true), .null])])
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
    }
}

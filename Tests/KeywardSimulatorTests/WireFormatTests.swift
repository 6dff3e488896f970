import Foundation
import Testing

@testable import KeywardSimulator

@Suite struct WireFormatTests {
    @Test("form decoding follows application/x-www-form-urlencoded", arguments: [
        ("a=b&c=d", ["a": "b", "c": "d"]),
        ("a=x+y%2Bz", ["a": "x y+z"]),
        ("s=%2F%3D%26%25%C3%A9", ["s": "/=&%é"]),
        ("a=1&a=2", ["a": "1"]),
        ("empty=&flag", ["empty": "", "flag": ""]),
    ] as [(String, [String: String])])
    func formDecoding(body: String, expected: [String: String]) {
        #expect(WireFormat.decodeForm(Array(body.utf8)) == expected)
    }

    @Test("broken percent-encoding or bytes that are not UTF-8 are refused", arguments: ["a=%", "a=%4", "a=%ZZ", "a=%FF"])
    func formDecodingRefuses(body: String) {
        #expect(WireFormat.decodeForm(Array(body.utf8)) == nil)
    }

    @Test("timestamps are RFC 3339 UTC with the asked-for digits; expirationDate has no zone")
    func timestamps() {
        let date = Date(timeIntervalSince1970: 1_728_556_436.177_646)
        #expect(WireFormat.timestamp(date, fractionDigits: 3) == "2024-10-10T10:33:56.177Z")
        #expect(WireFormat.timestamp(date, fractionDigits: 9).hasPrefix("2024-10-10T10:33:56.17764"))
        #expect(WireFormat.timestamp(date, fractionDigits: 9).count == "2024-10-10T10:33:56.177646614Z".count)
        #expect(WireFormat.timestamp(date, fractionDigits: 0) == "2024-10-10T10:33:56Z")
        #expect(WireFormat.expirationDate(date) == "2024-10-10T10:33:56.177")
    }

    @Test("RFC 3339 recognition", arguments: [
        ("2024-10-10T10:33:56Z", true), ("2024-10-10T10:33:56.177646614Z", true), ("2024-10-10T10:33:56.1+05:30", true),
        ("2024-10-10 10:33:56Z", false), ("2024-10-10T10:33:56", false), ("2024-10-10T10:33:56.Z", false),
        ("2024-10-10T10:33:56.1234567890Z", false), ("yesterday", false),
    ])
    func rfc3339(text: String, valid: Bool) {
        #expect(WireFormat.isRFC3339(text) == valid)
    }

    @Test("generated secrets are 32 random bytes in base64")
    func randomSecrets() {
        let secrets = (0..<20).map { _ in WireFormat.randomSecret() }
        #expect(Set(secrets).count == 20)
        #expect(secrets.allSatisfy { Data(base64Encoded: $0)?.count == 32 })
    }
}

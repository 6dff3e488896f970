import Foundation
@testable import KeywardCore
import Testing

@Suite("Timestamps.format writes RFC 3339 UTC to the second, as Foundation's .iso8601 does")
struct TimestampsTests {
    @Test("known instants", arguments: [
        (0.0, "1970-01-01T00:00:00Z"),
        (-1.0, "1969-12-31T23:59:59Z"),
        (-0.25, "1969-12-31T23:59:59Z"),
        (951_782_400.0, "2000-02-29T00:00:00Z"),
        (1_795_858_542.999, "2026-11-28T09:35:42Z"),
        (4_107_542_400.0, "2100-03-01T00:00:00Z"),
        (253_402_300_799.0, "9999-12-31T23:59:59Z"),
        (-12_212_553_600.0, "1583-01-01T00:00:00Z"),
    ])
    func known(seconds: Double, text: String) {
        #expect(Timestamps.format(Date(timeIntervalSince1970: seconds)) == text)
    }

    @Test("the same text as date.formatted(.iso8601) across four centuries, fractions included")
    func matchesFoundation() {
        var generator = SystemRandomNumberGenerator()
        let edges: [Double] = [-12_212_553_600.5, -12_212_553_600, 253_402_300_800, 0, -1, 86_399.999, 86_400, 951_868_799.5, 1_709_164_800, 4_102_444_799.9]
        let random = (0..<5_000).map { _ in Double.random(in: -2_208_988_800...10_413_792_000, using: &generator) }
        for seconds in edges + random {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(Timestamps.format(date) == date.formatted(.iso8601), "\(seconds)")
        }
    }
}

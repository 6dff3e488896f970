import Foundation

extension Duration {
    /// This span as a `TimeInterval` (seconds, fractions kept), for `Date` arithmetic.
    var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

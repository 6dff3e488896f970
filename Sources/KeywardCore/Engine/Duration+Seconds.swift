import Foundation

extension Duration {
    /// This span as a `TimeInterval` (seconds, fractions kept), for `Date` arithmetic and the
    /// APIs of other libraries that take seconds. For Keyward's modules only.
    package var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

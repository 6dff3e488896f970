import Foundation

/// Stops the run as a libFuzzer crash (the input is saved as a `crash-` artifact) with
/// `message` on stderr, when `condition` is false. Messages name lengths and positions, and
/// may show bytes: fuzz inputs are made up, never real secrets.
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    guard !condition() else { return }
    FileHandle.standardError.write(Data("\nFUZZ PROPERTY FAILED (\(file):\(line)): \(message())\n".utf8))
    abort()
}

/// The input cut at each 0xFF byte (a byte UTF-8 never holds), at most `limit` parts: the
/// values a target feeds to several fields at once.
public func parts(_ bytes: [UInt8], limit: Int) -> [[UInt8]] {
    bytes.split(separator: 0xFF, maxSplits: limit - 1, omittingEmptySubsequences: false).map(Array.init)
}

/// `bytes` as lower-case hex, for failure messages.
public func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// The fuzz input as an array.
public func input(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

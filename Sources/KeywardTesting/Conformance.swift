/// One case of a conformance suite that failed: the case's name and what was wrong, never a
/// secret value (the suites' values are synthetic, but a plugin's error may quote what it got).
///
/// The suites in this module are plain Swift that return their failed cases, with no
/// dependency on Testing or XCTest (DESIGN.md, "Plugins"): a test target wraps them in
/// `#expect(failures.isEmpty)`, and `keyward plugin test` runs them inside the release binary.
public struct ConformanceFailure: Sendable, Equatable, CustomStringConvertible {
    /// The case that failed, e.g. `sink: a second identical write reports unchanged`.
    public let testCase: String
    /// What was expected and what happened.
    public let message: String

    public init(testCase: String, message: String) {
        self.testCase = testCase
        self.message = message
    }

    public var description: String { "\(testCase): \(message)" }
}

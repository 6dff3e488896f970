/// One failed case of a conformance suite (DESIGN.md, "Plugins": the suites are plain Swift
/// returning the failed cases, so `keyward plugin test` can run them in the release binary
/// and test targets wrap them in `#expect`). An empty list of failures means the plugin passes.
public struct ConformanceFailure: Sendable, Equatable, CustomStringConvertible {
    /// The case, as the suite names it.
    public let testCase: String
    /// What went wrong, never a secret value.
    public let message: String

    public init(testCase: String, message: String) {
        self.testCase = testCase
        self.message = message
    }

    public var description: String { "\(testCase): \(message)" }
}

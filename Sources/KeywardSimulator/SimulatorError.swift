/// Why a simulator could not start or run. `description` is safe to print.
public struct SimulatorError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable {
        /// `start` or `run` was called while the simulator was already serving.
        case alreadyRunning
        /// The server could not listen on the address (port taken, bad host).
        case cannotListen
        /// The server stopped before it was listening.
        case stoppedBeforeListening
    }

    public var code: Code
    /// One line, safe to print.
    public var message: String
    /// The cause, when there is one (a NIO or Hummingbird error).
    public var underlying: (any Error)?

    public var description: String { message }

    static let alreadyRunning = SimulatorError(code: .alreadyRunning, message: "the simulator is already running")

    static func cannotListen(host: String, port: Int, underlying: any Error) -> SimulatorError {
        SimulatorError(
            code: .cannotListen,
            message: "the simulator cannot listen on \(host):\(port): \(underlying)",
            underlying: underlying
        )
    }

    static let stoppedBeforeListening = SimulatorError(
        code: .stoppedBeforeListening, message: "the simulator stopped before it was listening"
    )
}

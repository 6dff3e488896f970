import Foundation
import KeywardSimulator
import Logging
import NIOConcurrencyHelpers
import Testing

/// Collects every log record in memory, so a test can search them for secrets.
final class RecordingLogHandler: LogHandler, @unchecked Sendable {
    // @unchecked: `lines` is guarded by `lock`; the other properties are set before use.
    private let lock = NIOLock()
    private var lines: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        lock.withLock { lines.append("\(event.message) \(merged)") }
    }

    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

@Suite struct LeakAndLifecycleTests {
    @Test("no secret, password or token appears in error bodies or trace logs")
    func noLeaks() async throws {
        let handler = RecordingLogHandler()
        let logger = Logger(label: "test") { _ in handler }
        let (secrets, bodies, token) = try await Harness.run(logger: logger) { harness in
            let token = try await harness.userToken()
            let old = try #require(harness.simulator.currentSecret(for: Harness.entity))
            var bodies: [String] = []
            bodies.append(try await harness.postForm(.userToken, [("username", Harness.username), ("password", Harness.password + "x")]).text)
            bodies.append(try await harness.read(Harness.foreignEntity, token: token).text)
            bodies.append(try await harness.postJSON(.secretRead, Harness.secretRequest(nil), bearer: token).text)
            let new = try #require(try await harness.reset(Harness.entity, token: token).json()["secret"] as? String)
            bodies.append(try await harness.entityToken(Harness.entity, secret: old).text)
            harness.simulator.advanceClock(bySeconds: 400 * 86_400)
            bodies.append(try await harness.entityToken(Harness.entity, secret: new).text)
            bodies.append(try await harness.read(Harness.entity, token: token).text)
            return ([old, new, Harness.password, "legacy$secret"], bodies, token)
        }
        let logs = handler.text
        #expect(!logs.isEmpty)
        for body in bodies {
            #expect(body.contains("errorMsg"), "an error envelope: \(body)")
        }
        for value in secrets + [token] {
            #expect(!logs.contains(value))
            for body in bodies { #expect(!body.contains(value)) }
        }
    }

    @Test("start twice throws; stop frees the port; the simulator can start again with its state")
    func lifecycle() async throws {
        let simulator = TokenServiceSimulator(seed: Harness.seed())
        let url = try await simulator.start()
        #expect(url.absoluteString.hasPrefix("http://127.0.0.1:"))
        #expect(url.absoluteString.hasSuffix("/iam/v1"))
        let port = try #require(simulator.port)
        #expect(url.absoluteString == "http://127.0.0.1:\(port)/iam/v1")
        #expect(simulator.baseURL == url)
        await #expect(throws: SimulatorError.self) { _ = try await simulator.start() }

        let busy = TokenServiceSimulator(seed: Harness.seed())
        await #expect(throws: SimulatorError.self) { _ = try await busy.start(port: port) }

        let secret = simulator.currentSecret(for: Harness.entity)
        await simulator.stop()
        #expect(simulator.port == nil)
        _ = try await simulator.start()
        #expect(simulator.currentSecret(for: Harness.entity) == secret)
        await simulator.stop()
    }

    @Test("run serves until cancelled and reports its URL once listening")
    func runUntilCancelled() async throws {
        let simulator = TokenServiceSimulator(seed: Harness.seed())
        let (urls, continuation) = AsyncStream.makeStream(of: URL.self)
        let task = Task {
            try await simulator.run(host: "127.0.0.1", port: 0) { continuation.yield($0) }
        }
        var iterator = urls.makeAsyncIterator()
        let url = try #require(await iterator.next())
        #expect(url == simulator.baseURL)
        task.cancel()
        _ = await task.result
        #expect(simulator.port == nil)
    }
}

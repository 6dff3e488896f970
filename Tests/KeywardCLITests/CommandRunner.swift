import Foundation
import KeywardTesting

/// Runs the built `keyward` binary the way a user's shell would, and captures what it printed.
struct CommandRunner {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + "\n" + stderr }
    }

    /// The binary: `$KEYWARD_BINARY`, else `keyward` beside the test bundle (SwiftPM builds it
    /// with the tests).
    static let binary: URL = {
        if let explicit = ProcessInfo.processInfo.environment["KEYWARD_BINARY"] { return URL(fileURLWithPath: explicit) }
        var directory = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("keyward")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        let fromSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return fromSource.appendingPathComponent(".build/debug/keyward")
    }()

    /// A private temporary directory for one test.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return url
    }

    /// Runs `keyward ARGS` with a clean environment (PATH, HOME, XDG dirs in `home`) plus `environment`.
    /// Async so that waiting for the process never blocks Swift's cooperative thread pool,
    /// which an in-process simulator needs to answer the very command being waited for.
    static func run(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil,
                    directory: URL? = nil, executable: String? = nil, subcommand: String? = nil,
                    workingDirectory: URL? = nil) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result2(catching: {
                    try runBlocking(arguments, environment: environment, stdin: stdin, directory: directory, executable: executable,
                                    subcommand: subcommand, workingDirectory: workingDirectory)
                }))
            }
        }
    }

    private static func runBlocking(_ arguments: [String], environment: [String: String], stdin: String?,
                                    directory: URL?, executable: String?, subcommand: String?, workingDirectory: URL?) throws -> Result {
        let process = Process()
        if let executable {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + (subcommand.map { [$0] } ?? []) + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "NO_COLOR": "1"]
        if let directory {
            env["HOME"] = directory.path
            env["XDG_DATA_HOME"] = directory.appendingPathComponent("data").path
            env["XDG_STATE_HOME"] = directory.appendingPathComponent("state").path
            process.currentDirectoryURL = directory
        }
        env.merge(environment) { $1 }
        process.environment = env
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read both pipes before waiting, so a chatty process cannot block on a full pipe.
        let box = OutputBox()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            box.data = (try? out.fileHandleForReading.readToEnd()) ?? Data()
            group.leave()
        }
        let stderrData = (try? err.fileHandleForReading.readToEnd()) ?? Data()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: box.data, as: UTF8.self),
                      stderr: String(decoding: stderrData, as: UTF8.self))
    }
}

extension CommandRunner {
    /// ``KeywardTesting/offPool(_:)``: blocking work off Swift's cooperative pool.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await KeywardTesting.offPool(body)
    }
}

private typealias Result2 = Swift.Result<CommandRunner.Result, any Error>

extension Swift.Result where Failure == any Error {
    fileprivate init(catching body: () throws -> Success) {
        do { self = .success(try body()) } catch { self = .failure(error) }
    }
}

private final class OutputBox: @unchecked Sendable {
    var data = Data()
}

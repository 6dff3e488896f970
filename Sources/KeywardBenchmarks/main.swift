// Client benchmark (issue 1/5): N sequential entity-token calls through TokenServiceClient,
// beside a plain AsyncHTTPClient POST loop to the same server, in the same run.
//
// Usage: KeywardBenchmarks [--calls N] [--base-url URL --secret S --entity ID]
//        KeywardBenchmarks sync [--entities N] [--latency-ms MS] [--concurrency N] [--skip-sequential]
//        KeywardBenchmarks scan-setup DIR [VALUES] [MEGABYTES]
//        KeywardBenchmarks plugin-call --command PATH [--entities N] [--runs K] [--option NAME=VALUE …]
//   Without --base-url the simulator runs in this process (its CPU is then counted in both
//   loops alike); with it, point at `keyward simulator` in another process so the CPU figures
//   are the client's alone. Prints one JSON object.
import AsyncHTTPClient
import Foundation
import KeywardCore
import KeywardSimulator
import KeywardTokenService
import NIOCore
import NIOHTTP1

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

func measure(_ calls: Int, _ body: () async throws -> Void) async throws -> (wall: Double, cpu: Double) {
    let cpuStart = cpuSeconds()
    let start = ContinuousClock.now
    for _ in 0..<calls { try await body() }
    let elapsed = ContinuousClock.now - start
    let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (wall, cpuSeconds() - cpuStart)
}

if CommandLine.arguments.dropFirst().first == "export-setup" {
    try ExportSetup.run(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}
if CommandLine.arguments.dropFirst().first == "scan-setup" {
    try ScanSetup.run(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}
if CommandLine.arguments.dropFirst().first == "plugin-call" {
    try await PluginCallBenchmark.run(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}
if CommandLine.arguments.dropFirst().first == "sync" {
    try await SyncBenchmark.run(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}

var arguments = CommandLine.arguments.dropFirst()
var calls = 1_000
var externalBase: String?
var externalSecret: String?
var externalEntity = "FIU-BENCH-1"
while let argument = arguments.popFirst() {
    switch argument {
    case "--calls": calls = Int(arguments.popFirst() ?? "") ?? calls
    case "--base-url": externalBase = arguments.popFirst()
    case "--secret": externalSecret = arguments.popFirst()
    case "--entity": externalEntity = arguments.popFirst() ?? externalEntity
    default:
        FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
        exit(2)
    }
}

let entity = EntityID(externalEntity)!
let secret: String
let baseURL: URL
var simulator: TokenServiceSimulator?
if let externalBase, let externalSecret {
    baseURL = URL(string: externalBase)!
    secret = externalSecret
} else {
    secret = "bench+secret/with=punctuation"
    let seed = SimulatorSeed(users: [], entities: [.init(id: entity.rawValue, secret: secret, expiresIn: 180 * 86_400)])
    simulator = TokenServiceSimulator(seed: seed)
    baseURL = try await simulator!.start()
}

let http = HTTPClient(eventLoopGroupProvider: .singleton)
let client = try TokenServiceClient(configuration: .init(baseURL: baseURL, timeout: .seconds(10)), httpClient: http)
let context = OperationContext()
let secretValue = SecretValue(utf8: secret)
let formBody = "id=\(entity.rawValue)&secret=\(secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
let url = baseURL.appendingPathComponent("entity/token/generate").absoluteString

func plainCall() async throws {
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
    request.body = .bytes(ByteBuffer(string: formBody))
    let response = try await http.execute(request, timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 1 << 20)
    guard response.status == .ok, body.readableBytes > 0 else { throw KeywardError.operationFailed("plain call failed: \(response.status)") }
}

func keywardCall() async throws {
    let token = try await client.generateEntityToken(entity: entity, secret: secretValue, context: context)
    guard !token.value.isEmpty else { throw KeywardError.operationFailed("empty token") }
}

// Warm up both paths (connection pool, JIT-free but caches), then alternate halves to even out drift.
for _ in 0..<50 { try await plainCall(); try await keywardCall() }
let half = calls / 2
let plainA = try await measure(half, plainCall)
let keywardA = try await measure(half, keywardCall)
let keywardB = try await measure(calls - half, keywardCall)
let plainB = try await measure(calls - half, plainCall)
let plain = (wall: plainA.wall + plainB.wall, cpu: plainA.cpu + plainB.cpu)
let keyward = (wall: keywardA.wall + keywardB.wall, cpu: keywardA.cpu + keywardB.cpu)

try await http.shutdown()
await simulator?.stop()

let result: [String: Any] = [
    "calls": calls,
    "simulator": externalBase == nil ? "in-process" : "separate process",
    "plain": ["callsPerSecond": Double(calls) / plain.wall, "cpuMicrosecondsPerCall": plain.cpu / Double(calls) * 1e6],
    "keyward": ["callsPerSecond": Double(calls) / keyward.wall, "cpuMicrosecondsPerCall": keyward.cpu / Double(calls) * 1e6],
    "cpuRatio": keyward.cpu / plain.cpu,
    "wallRatio": keyward.wall / plain.wall,
]
let json = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
print(String(decoding: json, as: UTF8.self))

// KeywardVaultBenchmark: the same work as ../shared/bench/vault-baseline.c, through the
// public Vault API, printed in the same shape so bench/vault.sh can put them side by side.
//
//   KeywardVaultBenchmark DBPATH NENTRIES
//
// Measures: unlock (open + Argon2id + full manifest check; the passphrase slot uses the C
// prototype's t=3, m=64 MiB, p=1, which meets the production floor, and the KDF's own time is
// printed so that bench/vault.sh compares what the unlock costs beyond it), get/s, durable
// put/s (one transaction each, update and insert), batched put/s (1,000 in one).
import Foundation
import KeywardCore
import KeywardVault

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

let arguments = CommandLine.arguments
guard arguments.count >= 3, let count = Int(arguments[2]), count > 0 else {
    FileHandle.standardError.write(Data("usage: KeywardVaultBenchmark DBPATH NENTRIES\n".utf8))
    exit(2)
}
let path = arguments[1]
let directory = (path as NSString).deletingLastPathComponent
for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
let anchors = directory + "/anchors-\(getpid())"
let options = VaultOptions(anchorDirectory: anchors)
let passphrase = VaultKeySource.passphrase(SecretValue(utf8: "correct horse battery staple"))
/// The C prototype's Argon2id setting (production creates t=3, p=2; both meet the floor).
let policy = KDFPolicy.testingOnly(Argon2Parameters(iterations: 3, memoryKiB: 64 * 1024, parallelism: 1))
let value = SecretValue(bytes: (0..<100).map { _ in UInt8.random(in: 0...255) })
/// Zero-padded to six digits, like the C prototype's "svc/%06d/token" (String(format:) is slow on Linux).
func padded(_ index: Int) -> String {
    let digits = String(index)
    return String(repeating: "0", count: max(0, 6 - digits.count)) + digits
}
func entryName(_ index: Int) -> SecretName { SecretName("svc/\(padded(index))/token")! }

do {
    var t0 = now()
    let created = try Vault.create(at: path, keySource: passphrase, options: options, policy: policy)
    let createTime = now() - t0
    t0 = now()
    var start = 0
    while start < count {
        let end = min(start + 10_000, count)
        try created.putBatch((start..<end).map { (entryName($0), value) })
        start = end
    }
    let populate = now() - t0
    print(String(format: "N=%d: create %.3f s; populate %.3f s (%.0f puts/s)", count, createTime, populate, Double(count) / populate))
}

do {
    var t0 = now()
    let vault = try Vault.open(at: path, keySource: passphrase, options: options, policy: policy)
    let unlock = now() - t0
    print(String(
        format: "unlock total %.6f s (argon2id t=3 m=64MiB p=1: %.6f s, beyond the KDF %.2f ms, full manifest check over %d entries)",
        unlock, vault.unlockKDFSeconds, (unlock - vault.unlockKDFSeconds) * 1e3, count))

    let gets = 20_000
    t0 = now()
    for index in 0..<gets {
        let record = try vault.get(entryName((index * 7919) % count))
        precondition(record.value.count == 100)
    }
    var elapsed = now() - t0
    print(String(format: "get (lookup+decrypt 100-byte secret): %.0f ops/s (%.1f us/op)", Double(gets) / elapsed, elapsed / Double(gets) * 1e6))

    let puts = 1000
    t0 = now()
    for index in 0..<puts { try vault.put(entryName((index * 104_729) % count), value) }
    elapsed = now() - t0
    print(String(format: "put (update, own txn): %.0f ops/s (%.2f ms/op)", Double(puts) / elapsed, elapsed / Double(puts) * 1e3))
    t0 = now()
    for index in 0..<puts { try vault.put(SecretName("new/\(padded(index))")!, value) }
    elapsed = now() - t0
    print(String(format: "put (insert, own txn): %.0f ops/s (%.2f ms/op)", Double(puts) / elapsed, elapsed / Double(puts) * 1e3))

    t0 = now()
    try vault.putBatch((0..<1000).map { (entryName($0 % count), value) })
    elapsed = now() - t0
    print(String(format: "put batch of 1000 in one txn: %.0f puts/s", 1000 / elapsed))
    _ = try vault.verify()
} catch {
    FileHandle.standardError.write(Data("benchmark failed: \(error)\n".utf8))
    exit(1)
}
try? FileManager.default.removeItem(atPath: anchors)

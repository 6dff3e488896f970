import Foundation
import GRDB
import KeywardCore
import Testing

@testable import KeywardVault

/// A write recomputes its buckets from the members kept in memory (``BucketMembers``): the
/// digests must be exactly those a full pass over the rows gives, whatever the writes were, and
/// the kept members must never stand in for a file someone else changed.
@Suite("Manifest bucket members kept in memory")
struct BucketMembersTests {
    /// The buckets whose stored digest differs from the one a full pass over the rows computes
    /// now (none, when the kept members were right).
    static func mismatchedBuckets(_ vault: Vault) throws -> [Int] {
        try vault.queue.read { db in
            let stored = try Vault.readManifest(db)
            let recomputed = try Vault.scanBuckets(db, keys: vault.keys).digests
            return (0..<VaultSchema.entryBuckets).filter { stored[$0] != recomputed[$0] }
        }
    }

    @Test("after every kind of write, the stored digests are those of a full pass, and a fresh unlock agrees")
    func matchesFullPass() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault(retention: 3)
        // Seeded, so that a failure replays the same writes.
        var generator = SplitMix64(seed: 0x5EED_2026_1130)
        var live = Set<Int>()
        // 600 entries span every bucket two or three times; retention 3 makes puts prune.
        for round in 0..<12 {
            let batch = (0..<50).map { _ in Int.random(in: 0..<600, using: &generator) }
            try vault.putBatch(batch.map { (name("e/\($0)"), secret("batch-\(round)-\($0)")) })
            live.formUnion(batch)
            for _ in 0..<10 {
                let index = Int.random(in: 0..<600, using: &generator)
                switch Int.random(in: 0..<5, using: &generator) {
                case 0, 1:
                    try vault.put(name("e/\(index)"), secret("put-\(round)-\(index)"))
                    live.insert(index)
                case 2 where live.contains(index):
                    try vault.remove(name("e/\(index)"))
                    live.remove(index)
                case 3 where live.contains(index):
                    try vault.put(name("e/\(index)"), secret("pending-\(round)"), label: .pending)
                case 4 where live.contains(index):
                    let versions = try vault.history(name("e/\(index)")).map(\.version)
                    try vault.moveLabel(.previous, of: name("e/\(index)"), toVersion: versions[0])
                default:
                    break
                }
            }
            #expect(try Self.mismatchedBuckets(vault) == [], "round \(round)")
        }
        let reopened = try box.open(source)
        #expect(try reopened.verify().entries == live.count)
    }

    @Test("one batch that writes an entry many times prunes versions it added itself")
    func batchPrunesItsOwnVersions() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault(retention: 2)
        try vault.putBatch((0..<300).map { (name("e/\($0)"), secret("first-\($0)")) })
        // Entry e/7 gets versions 2 to 7 in one transaction; retention 2 keeps the newest and
        // the labelled ones, pruning versions this same batch added.
        try vault.putBatch((0..<6).map { (name("e/7"), secret("again-\($0)")) } + [(name("e/263"), secret("same-bucket"))])
        try vault.putBatch((0..<3).map { (name("new/\($0)"), secret("created-\($0)")) } + (0..<3).map { (name("new/\($0)"), secret("second-\($0)")) })
        #expect(try Self.mismatchedBuckets(vault) == [])
        #expect(try vault.history(name("e/7")).map(\.version) == [6, 7])
        #expect(try box.open(source).get(name("new/2")).value == secret("second-2"))
    }

    @Test("another process's write is noticed: the kept members are dropped, not reused")
    func otherProcessWrites() throws {
        let box = try Sandbox()
        let (first, source) = try box.makeVault()
        try first.putBatch((0..<300).map { (name("e/\($0)"), secret("value-\($0)")) })
        let second = try box.open(source)
        // Interleaved writes to the same buckets (entry ids 1 and 257 share bucket 1).
        for round in 0..<5 {
            try second.put(name("e/0"), secret("second-\(round)"))
            try first.put(name("e/256"), secret("first-\(round)"))
            try second.remove(name("e/\(100 + round)"))
            try first.putBatch((0..<40).map { (name("e/\($0 * 7)"), secret("first-batch-\(round)")) })
        }
        #expect(try Self.mismatchedBuckets(first) == [])
        #expect(try box.open(source).verify().entries == 295)
    }

    @Test("a write that fails drops the kept members; the next writes still leave a verifiable vault")
    func failedWrite() throws {
        struct Injected: Error {}
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        try vault.putBatch((0..<100).map { (name("e/\($0)"), secret("value-\($0)")) })
        vault.setFaultHook { point in if point == "commit" { throw Injected() } }
        #expect(throws: (any Error).self) { try vault.put(name("e/5"), secret("never-stored")) }
        vault.setFaultHook(nil)
        try vault.put(name("e/5"), secret("stored"))
        try vault.put(name("e/261"), secret("same-bucket"))
        #expect(try Self.mismatchedBuckets(vault) == [])
        let reopened = try box.open(source)
        #expect(try reopened.get(name("e/5")).value == secret("stored"))
        #expect(try reopened.verify().entries == 101)
    }

    @Test("a row changed behind an open vault's back is not sealed into the next digest of its bucket")
    func tamperWhileOpen() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        try vault.putBatch((0..<300).map { (name("e/\($0)"), secret("value-\($0)")) })
        // Entry 3's newest version zeroed in the file; then the open vault writes entry 259,
        // in the same bucket 3.
        try box.tamper { db in
            try db.execute(sql: "UPDATE versions SET tag = zeroblob(16) WHERE bucket = 3 AND entry_id = 3")
        }
        try vault.put(name("e/258"), secret("after-tamper"))
        let error = expectVaultFailure { _ = try box.open(source) }
        #expect(error?.message.contains("bucket 3") == true, "\(error?.message ?? "")")
    }
}

/// A small seeded generator (SplitMix64), for reproducible random write sequences.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

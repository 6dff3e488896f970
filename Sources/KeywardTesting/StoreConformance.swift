import Foundation
import KeywardCore

/// The conformance suite every ``SecretStore`` passes (DESIGN.md, "Plugins"): a put/get round
/// trip of exact bytes and metadata, versions and labels (``VersionLabel/current`` moving the
/// old current to ``VersionLabel/previous``, `pending` beside them, reads by version number and
/// the history), delete, and list with prefixes. Plain Swift: a test target wraps it in
/// `#expect(failures.isEmpty)`.
///
/// ```swift
/// let failures = await StoreConformance { try MyStore.empty() }.run()
/// #expect(failures.isEmpty, "\(failures)")
/// ```
public struct StoreConformance: Sendable {
    /// Makes a new, empty store; each case gets its own.
    public var makeStore: @Sendable () async throws -> any SecretStore
    /// The context every call receives.
    public var context: OperationContext

    public init(context: OperationContext = OperationContext(), makeStore: @escaping @Sendable () async throws -> any SecretStore) {
        self.context = context
        self.makeStore = makeStore
    }

    /// Runs every case; an empty result means the store conforms.
    public func run() async -> [ConformanceFailure] {
        var failures: [ConformanceFailure] = []
        await check("store: a value put is read back byte for byte with its metadata", &failures, roundTrip)
        await check("store: versions and labels", &failures, versionsAndLabels)
        await check("store: delete removes every version", &failures, delete)
        await check("store: list by prefix, sorted", &failures, list)
        return failures
    }

    private typealias Case = @Sendable (any SecretStore, inout [String]) async throws -> Void

    private func check(_ testCase: String, _ failures: inout [ConformanceFailure], _ body: Case) async {
        var problems: [String] = []
        do {
            try await body(try await makeStore(), &problems)
        } catch {
            problems.append("failed: \((error as? any CategorizedError)?.description ?? "\(type(of: error))")")
        }
        failures += problems.map { ConformanceFailure(testCase: testCase, message: $0) }
    }

    private static let name: SecretName = "entities/FIU-CONFORMANCE-1/secret"

    private static func record(_ bytes: [UInt8], source: String = "conformance", expiresAt: Date? = nil, txnId: String? = nil) -> SecretRecord {
        SecretRecord(value: SecretValue(bytes: bytes), createdAt: Date(timeIntervalSince1970: 1_750_000_000), expiresAt: expiresAt,
                     source: source, txnId: txnId)
    }

    private static func bytes(_ record: SecretRecord?) -> [UInt8]? {
        record?.value.withRevealedBytes { Array($0) }
    }

    private var roundTrip: Case {
        { [context] store, problems in
            let value: [UInt8] = [0, 10, 13, 39, 34, 36, 92, 255] + (0..<65_536).map { UInt8($0 % 251) }
            let expiry = Date(timeIntervalSince1970: 1_760_000_000)
            if try await store.read(Self.name, label: .current, context: context) != nil { problems.append("a new store has an entry") }
            let stored = try await store.write(Self.name, record: Self.record(value, source: "uat", expiresAt: expiry, txnId: "txn-1"),
                                               label: .current, context: context)
            if stored.version < 1 { problems.append("the stored record has version \(stored.version), not 1 or more") }
            guard let read = try await store.read(Self.name, label: .current, context: context) else {
                problems.append("nothing read back under current")
                return
            }
            if Self.bytes(read) != value { problems.append("the value read back differs from the \(value.count) bytes written") }
            if read.version != stored.version { problems.append("read version \(read.version), stored \(stored.version)") }
            if read.source != "uat" { problems.append("source read back as '\(read.source)'") }
            if read.txnId != "txn-1" { problems.append("txnId read back as \(read.txnId ?? "nil")") }
            if read.expiresAt.map({ abs($0.timeIntervalSince(expiry)) < 1 }) != true { problems.append("expiresAt read back as \(read.expiresAt.map { "\($0)" } ?? "nil")") }
            if read.label != .current { problems.append("label read back as \(read.label?.rawValue ?? "none")") }
            let absent: SecretName = "entities/FIU-CONFORMANCE-1/absent"
            let batch = try await store.read([Self.name, absent], label: .current, context: context)
            if batch.count != 2 || Self.bytes(batch[0]) != value || batch[1] != nil { problems.append("the batch read does not answer in order with nil for an absent entry") }
        }
    }

    private var versionsAndLabels: Case {
        { [context] store, problems in
            let first = try await store.write(Self.name, record: Self.record(Array("one".utf8)), label: .current, context: context)
            let second = try await store.write(Self.name, record: Self.record(Array("two".utf8)), label: .current, context: context)
            if second.version <= first.version { problems.append("version \(second.version) does not follow \(first.version)") }
            if Self.bytes(try await store.read(Self.name, label: .current, context: context)) != Array("two".utf8) { problems.append("current is not the newest write") }
            if Self.bytes(try await store.read(Self.name, label: .previous, context: context)) != Array("one".utf8) { problems.append("previous is not the version current replaced") }
            if try await store.read(Self.name, label: .pending, context: context) != nil { problems.append("pending is set though nothing was written under it") }
            let pending = try await store.write(Self.name, record: Self.record(Array("three".utf8)), label: .pending, context: context)
            if Self.bytes(try await store.read(Self.name, label: .pending, context: context)) != Array("three".utf8) { problems.append("pending does not read back") }
            if Self.bytes(try await store.read(Self.name, label: .current, context: context)) != Array("two".utf8) { problems.append("a pending write moved current") }
            let byNumber = try await store.read(Self.name, version: first.version, context: context)
            if Self.bytes(byNumber) != Array("one".utf8) { problems.append("version \(first.version) does not read back by number") }
            do {
                _ = try await store.read(Self.name, version: pending.version + 100, context: context)
                problems.append("reading a version that does not exist did not throw")
            } catch {}
            let history = try await store.history(Self.name, context: context)
            if history.map(\.version) != [first.version, second.version, pending.version] {
                problems.append("history lists versions \(history.map(\.version)), not \([first.version, second.version, pending.version]) oldest first")
            } else {
                let labels = history.map { Set($0.labels) }
                if labels != [[.previous], [.current], [.pending]] { problems.append("history labels are \(history.map { $0.labels.map(\.rawValue) })") }
                if history.map(\.byteCount) != [3, 3, 5] { problems.append("history byte counts are \(history.map(\.byteCount))") }
                if Set(history.map(\.fingerprint)).count != 3 { problems.append("three different values share a fingerprint") }
            }
        }
    }

    private var delete: Case {
        { [context] store, problems in
            _ = try await store.write(Self.name, record: Self.record(Array("one".utf8)), label: .current, context: context)
            _ = try await store.write(Self.name, record: Self.record(Array("two".utf8)), label: .current, context: context)
            try await store.remove(Self.name, context: context)
            for label in VersionLabel.allCases where try await store.read(Self.name, label: label, context: context) != nil {
                problems.append("\(label.rawValue) still reads after remove")
            }
            if try await store.list(prefix: "", context: context).contains(Self.name) { problems.append("list still names the removed entry") }
            do {
                try await store.remove(Self.name, context: context)
                problems.append("removing an absent entry did not throw")
            } catch {}
        }
    }

    private var list: Case {
        { [context] store, problems in
            let names: [SecretName] = ["providers/uat/password", "entities/FIU-B/token", "entities/FIU-A/secret", "entities/FIU-B/secret"]
            for name in names { _ = try await store.write(name, record: Self.record(Array("v".utf8)), label: .current, context: context) }
            let all = try await store.list(prefix: "", context: context).map(\.rawValue)
            if all != names.map(\.rawValue).sorted() { problems.append("list(\"\") answered \(all)") }
            let entities = try await store.list(prefix: "entities/FIU-B/", context: context).map(\.rawValue)
            if entities != ["entities/FIU-B/secret", "entities/FIU-B/token"] { problems.append("list(\"entities/FIU-B/\") answered \(entities)") }
            if try await !store.list(prefix: "nothing/", context: context).isEmpty { problems.append("a prefix nothing has listed entries") }
        }
    }
}

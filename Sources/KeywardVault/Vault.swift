import Foundation
import GRDB
internal import GRDBSQLite
import KeywardCore
import Logging

/// Keyward's encrypted vault: one SQLite file (GRDB over the system SQLite) whose every entry
/// name and value is sealed with AES-256-GCM under subkeys of a random data key, which unlock
/// slots wrap under keys derived from a passphrase (Argon2id) or a key file (HKDF).
///
/// Integrity: every row is covered by a keyed manifest (256 buckets of entries plus the
/// header, the journal and the audit log) with a generation counter, checked on unlock;
/// a rollback anchor outside the file catches an older copy of the whole file.
///
/// Thread-safe: calls are serialised on one SQLite connection; other processes are
/// coordinated by `BEGIN IMMEDIATE` and a busy timeout, and noticed through the generation.
public final class Vault: @unchecked Sendable {
    /// The vault file.
    public let path: String
    let queue: DatabaseQueue
    let options: VaultOptions
    let policy: KDFPolicy
    let anchorPath: String

    let faultHook = LockedValue<(@Sendable (String) throws -> Void)?>(nil)
    private let lock = NSLock()
    private var _keys: VaultKeys
    private var _generation: Int64
    private var _unlockSlotID: Int
    private var _unlockKEK: SecureBytes

    /// The manifest as this process last committed or verified it: lets a write skip reading
    /// the 259 digests back when nobody else wrote since (same generation and top MAC).
    private var _manifestCache: (generation: Int64, top: [UInt8], digests: [[UInt8]])?

    var manifestCache: (generation: Int64, top: [UInt8], digests: [[UInt8]])? {
        get { lock.withLock { _manifestCache } }
        set { lock.withLock { _manifestCache = newValue } }
    }

    /// The manifest buckets' MAC input as this process last committed or fully checked it
    /// (``BucketMembers``); nil while a write holds it, after a failed write, or when too large.
    private var _bucketMembers: BucketMembers?

    /// Takes the bucket members out for a write, if they still describe the file (its
    /// `generation` and data key id); stale ones are dropped.
    func takeBucketMembers(generation: Int64, keyID: UInt32) -> BucketMembers? {
        lock.withLock {
            defer { _bucketMembers = nil }
            guard let members = _bucketMembers, members.generation == generation, members.keyID == keyID else { return nil }
            return members
        }
    }

    /// Keeps `members` as the file's at `generation` (nothing when nil or too large).
    func keepBucketMembers(_ members: BucketMembers?, generation: Int64, keyID: UInt32) {
        guard let members, members.byteCount <= BucketMembers.maxBytes else { return }
        members.generation = generation
        members.keyID = keyID
        lock.withLock {
            // Never replace a newer generation's (another thread's read may finish late).
            if let current = _bucketMembers, current.generation > generation { return }
            _bucketMembers = members
        }
    }

    /// When this process last synced the rollback anchor (monotonic nanoseconds; 0: never).
    private var _anchorSyncedAt: UInt64 = 0
    /// The longest a committed generation's anchor stays unsynced after a later commit.
    static let anchorSyncInterval: UInt64 = 1_000_000_000

    func anchorSyncDue() -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        return lock.withLock { _anchorSyncedAt == 0 || now &- _anchorSyncedAt >= Vault.anchorSyncInterval }
    }

    func anchorSynced() {
        let now = DispatchTime.now().uptimeNanoseconds
        lock.withLock { _anchorSyncedAt = now }
    }

    var keys: VaultKeys { lock.withLock { _keys } }
    var knownGeneration: Int64 {
        get { lock.withLock { _generation } }
        set { lock.withLock { _generation = max(_generation, newValue) } }
    }
    var unlockSlot: (id: Int, kek: SecureBytes) { lock.withLock { (_unlockSlotID, _unlockKEK) } }

    func replaceKeys(_ keys: VaultKeys, unlockSlotID: Int, kek: SecureBytes) {
        lock.withLock {
            _keys = keys
            _unlockSlotID = unlockSlotID
            _unlockKEK = kek
        }
    }

    func replaceUnlock(slotID: Int, kek: SecureBytes) {
        lock.withLock {
            _unlockSlotID = slotID
            _unlockKEK = kek
        }
    }

    /// The vault's random id, 32 hex digits: names its rollback anchor.
    public var vaultID: String { hexString(keys.vaultID) }
    /// The data key's id (1 at creation, +1 per rekey).
    public var keyID: Int { Int(keys.keyID) }
    /// The last generation this process saw; every committed change adds one.
    public var generation: Int64 { knownGeneration }
    /// Seconds the key-encryption key's derivation took when this vault was opened (Argon2id
    /// for a passphrase, HKDF for a key file; 0 after `create`): lets the benchmark report the
    /// unlock's own cost apart from the KDF's, as the C baseline does.
    package let unlockKDFSeconds: Double

    private init(path: String, queue: DatabaseQueue, options: VaultOptions, policy: KDFPolicy, keys: VaultKeys,
                 generation: Int64, unlockSlotID: Int, kek: SecureBytes, unlockKDFSeconds: Double = 0) {
        self.path = path
        self.unlockKDFSeconds = unlockKDFSeconds
        self.queue = queue
        self.options = options
        self.policy = policy
        self._keys = keys
        self._generation = generation
        self._unlockSlotID = unlockSlotID
        self._unlockKEK = kek
        self.anchorPath = (options.anchorDirectory ?? VaultOptions.defaultAnchorDirectory()) + "/" + hexString(keys.vaultID)
    }

    // MARK: Creating

    /// Creates a vault at `path` with one unlock slot for `keySource` (passphrase slots use
    /// Argon2id t=3, m=64 MiB, p=2). The file is created 0600; a missing directory 0700.
    /// - Throws: ``VaultError`` `.invalidInput` when a file exists at `path`; `.unsafeFile`
    ///   for a shared directory; `.io` for file-system or database failures.
    public static func create(at path: String, keySource: VaultKeySource, options: VaultOptions = VaultOptions()) throws -> Vault {
        try create(at: path, keySource: keySource, options: options, policy: .production)
    }

    /// For this module's tests: `.testingOnly` creates passphrase slots with cheap Argon2id.
    package static func create(at path: String, keySource: VaultKeySource, options: VaultOptions, policy: KDFPolicy) throws -> Vault {
        try Gcrypt.ensureInitialized()
        guard (1...10_000).contains(options.retention) else {
            throw VaultError.invalid("retention must be between 1 and 10000 versions")
        }
        let auditRetention = try Vault.auditRetentionSeconds(options.auditRetention)
        let directory = (path as NSString).deletingLastPathComponent
        try SafeFiles.ensurePrivateDirectory(directory.isEmpty ? "." : directory)
        try SafeFiles.checkDirectoryNotShared(directory.isEmpty ? "." : directory)
        if try SafeFiles.checkPrivateFile(path) != nil || FileManager.default.fileExists(atPath: path) {
            throw VaultError.invalid("a vault already exists at \(path); refusing to overwrite it")
        }
        for suffix in ["-wal", "-shm", "-journal"] where FileManager.default.fileExists(atPath: path + suffix) {
            throw VaultError.invalid("\(path + suffix) exists; refusing to create a vault over it")
        }
        // Read the key source before touching the disk, so a bad key file leaves nothing behind.
        let vaultIDBytes = Random.bytes(16)
        let dataKey = SecureBytes.random(count: 32)
        let now = options.clock.now
        let slot = try SlotMaterial.make(for: keySource, vaultID: vaultIDBytes, policy: policy)
        try SafeFiles.createExclusive(path: path, contents: [])
        do {
            let queue = try DatabaseQueue(path: path, configuration: VaultSchema.configuration(busyTimeout: options.busyTimeout.timeInterval))
            try VaultSchema.migrator().migrate(queue)
            let keys = try VaultKeys(vaultID: vaultIDBytes, keyID: 1, dataKey: dataKey)
            try queue.inTransaction(.immediate) { db in
                try db.execute(
                    sql: """
                        INSERT INTO vault_meta(id, vault_id, key_id, retention, generation, updated_at, top_mac, last_entry_id, audit_retention)
                        VALUES (1, ?, 1, ?, 0, ?, ?, 0, ?)
                        """,
                    arguments: [Data(vaultIDBytes), options.retention, milliseconds(now), Data(count: 32), auditRetention])
                for slotIndex in 0..<VaultSchema.manifestSlots {
                    try db.cachedStatement(sql: "INSERT INTO manifest(slot, digest) VALUES (?, ?)").execute(arguments: [slotIndex, Data(count: 32)])
                }
                try insertSlot(db, id: 1, material: slot, keys: keys, createdAt: now)
                return .commit
            }
            let vault = Vault(path: path, queue: queue, options: options, policy: policy, keys: keys, generation: 0,
                              unlockSlotID: 1, kek: slot.kek)
            try queue.inDatabase { db in try db.execute(sql: "PRAGMA cache_size = -\(VaultSchema.openCacheKiB)") }
            // The first manifest: every slot computed from scratch.
            try vault.mutate(recomputeEverything: true, initial: true) { _, _ in }
            options.logger.info("created vault", metadata: ["path": "\(path)", "vault-id": "\(vault.vaultID)"])
            return vault
        } catch {
            unlink(path)
            unlink(path + "-wal")
            unlink(path + "-shm")
            throw Vault.mapped(error, path: path)
        }
    }

    // MARK: Opening

    /// Opens and unlocks the vault at `path`: checks the file (no symbolic link, mode 0600,
    /// owner), the format (1) and schema, finds a slot that `keySource` opens, verifies the
    /// whole manifest and the rollback anchor.
    /// - Throws: ``VaultError``: `.wrongKey` when no slot opens (wrong key and damaged slot
    ///   look the same), `.integrity` / `.rollback` / `.notAVault` / `.unsafeFile` (all exit 4;
    ///   `.notAVault` also for a file an earlier, unreleased build made, with what to do),
    ///   `.notFound` when there is no vault at `path`.
    public static func open(at path: String, keySource: VaultKeySource, options: VaultOptions = VaultOptions()) throws -> Vault {
        try open(at: path, keySource: keySource, options: options, policy: .production)
    }

    /// For this module's tests: `.testingOnly` accepts cheap Argon2id parameters on unlock.
    package static func open(at path: String, keySource: VaultKeySource, options: VaultOptions, policy: KDFPolicy) throws -> Vault {
        let (vault, _) = try openUnchecked(at: path, keySource: keySource, options: options, policy: policy)
        try vault.checkAnchor(accept: false)
        return vault
    }

    /// Opens a vault deliberately restored from a backup: everything is verified as by
    /// ``open(at:keySource:options:)`` except the rollback anchor, which is then rewritten to
    /// the file's generation. Returns what was found, so the caller can show it.
    public static func acceptRestore(at path: String, keySource: VaultKeySource, options: VaultOptions = VaultOptions()) throws -> (Vault, VaultRestoreInfo) {
        try acceptRestore(at: path, keySource: keySource, options: options, policy: .production)
    }

    package static func acceptRestore(at path: String, keySource: VaultKeySource, options: VaultOptions, policy: KDFPolicy) throws -> (Vault, VaultRestoreInfo) {
        let (vault, meta) = try openUnchecked(at: path, keySource: keySource, options: options, policy: policy)
        // Every record, name, the journal and the audit chain must open before the restored
        // copy is accepted: a failed check must not leave it anchored.
        try vault.verifyContents()
        let anchor = (try? vault.readAnchor()) ?? nil
        try vault.writeAnchor(generation: meta.generation, updatedAt: meta.updatedAt, top: meta.topMAC, replacingAll: true)
        let info = VaultRestoreInfo(
            fileGeneration: meta.generation, fileUpdatedAt: date(milliseconds: meta.updatedAt),
            anchorGeneration: anchor?.generation, anchorUpdatedAt: (anchor?.updatedAt).map(date(milliseconds:)))
        options.logger.notice("re-anchored a restored vault", metadata: ["generation": "\(meta.generation)"])
        return (vault, info)
    }

    private static func openUnchecked(at path: String, keySource: VaultKeySource, options: VaultOptions, policy: KDFPolicy)
        throws -> (Vault, MetaRow)
    {
        do {
            try Gcrypt.ensureInitialized()
            guard let identity = try SafeFiles.checkPrivateFile(path) else {
                throw VaultError(.notFound, "no vault at \(path); create one with `keyward vault init`")
            }
            let directory = (path as NSString).deletingLastPathComponent
            try SafeFiles.checkDirectoryNotShared(directory.isEmpty ? "." : directory)
            for suffix in ["-wal", "-shm"] { try SafeFiles.checkPrivateFile(path + suffix, what: "vault companion") }
            let queue = try DatabaseQueue(path: path, configuration: VaultSchema.configuration(busyTimeout: options.busyTimeout.timeInterval))
            // The path was checked with lstat; make sure SQLite opened that same file.
            guard try SafeFiles.checkPrivateFile(path) == identity else {
                throw VaultError(.unsafeFile, "the vault file \(path) changed while it was being opened")
            }
            try VaultSchema.check(queue, path: path)
            let (meta, slots) = try queue.read { db in (try readMeta(db), try readSlots(db)) }
            let (slotID, kek, dataKey, kdfSeconds) = try unlock(slots: slots, keySource: keySource, meta: meta, policy: policy)
            let keys = try VaultKeys(vaultID: meta.vaultID, keyID: meta.keyID, dataKey: dataKey)
            let vault = Vault(path: path, queue: queue, options: options, policy: policy, keys: keys,
                              generation: meta.generation, unlockSlotID: slotID, kek: kek, unlockKDFSeconds: kdfSeconds)
            try vault.queue.read { db in
                // Another process may have re-keyed the vault during the unlock (its slot then
                // opens the new data key): not an integrity failure.
                let now = try readMeta(db)
                if now.keyID != keys.keyID, ConstantTime.equals(now.vaultID, keys.vaultID) { _ = try vault.adoptRekey(db, keyID: now.keyID) }
                try vault.verifyManifest(db, full: true)
            }
            try vault.queue.inDatabase { db in try db.execute(sql: "PRAGMA cache_size = -\(VaultSchema.openCacheKiB)") }
            return (vault, meta)
        } catch {
            throw mapped(error, path: path)
        }
    }

    /// ``verifyContents(_:keys:)`` on the file as it is now.
    func verifyContents() throws {
        do {
            _ = try queue.read { db in try Vault.verifyContents(db, keys: keys) }
        } catch {
            throw mapped(error)
        }
    }

    private static func unlock(slots: [SlotRow], keySource: VaultKeySource, meta: MetaRow, policy: KDFPolicy)
        throws -> (Int, SecureBytes, SecureBytes, Double)
    {
        let active = slots.filter { $0.keyID == meta.keyID }
        var kdfSeconds = 0.0
        func timed<T>(_ body: () throws -> T) rethrows -> T {
            let start = DispatchTime.now().uptimeNanoseconds
            defer { kdfSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            return try body()
        }
        switch keySource {
        case .keyFile(let file):
            let keyBytes = try VaultKeySource.readKeyFile(file)
            for slot in active where slot.kind == SlotKind.keyFile.rawValue {
                guard Argon2Parameters.saltLengths.contains(slot.salt.count) else { continue }
                let kek = try timed { try KeyEncryptionKey.fromKeyFile(keyBytes, salt: slot.salt, vaultID: meta.vaultID) }
                if let dataKey = try? unwrap(slot: slot, kek: kek, vaultID: meta.vaultID) { return (slot.id, kek, dataKey, kdfSeconds) }
            }
        case .passphrase(let passphrase):
            var lastPolicyError: (any Error)?
            for slot in active where slot.kind == SlotKind.passphrase.rawValue {
                let parameters = slot.parameters
                do {
                    try policy.check(parameters)
                } catch {
                    lastPolicyError = error
                    continue
                }
                guard Argon2Parameters.saltLengths.contains(slot.salt.count) else { continue }
                let kek = try timed {
                    try KeyEncryptionKey.fromPassphrase(passphrase, salt: slot.salt, parameters: parameters, vaultID: meta.vaultID)
                }
                if let dataKey = try? unwrap(slot: slot, kek: kek, vaultID: meta.vaultID) { return (slot.id, kek, dataKey, kdfSeconds) }
            }
            if let lastPolicyError { throw lastPolicyError }
        }
        throw VaultError.wrongKeyError
    }

    static func unwrap(slot: SlotRow, kek: SecureBytes, vaultID: [UInt8]) throws -> SecureBytes {
        let cipher = try AESGCM(key: kek)
        let dataKey = try cipher.openSecure(slot.box, aad: slotAAD(vaultID: vaultID, slot: slot))
        guard dataKey.count == 32 else { throw VaultError.wrongKeyError }
        return dataKey
    }

    // MARK: Fingerprints

    /// The first 8 hex digits of HMAC-SHA256 of `value` under the vault's fingerprint subkey.
    public func fingerprint(_ value: SecretValue) -> String {
        let tag = (try? keys.fingerprints.authenticate { input in value.withRevealedBytes { input.write($0) } }) ?? []
        return hexString(Array(tag.prefix(4)))
    }

    // MARK: Errors at the edge

    /// ``mapped(_:path:systemErrno:)`` for an error of this vault's connection: names the
    /// vault's path and, for a file-system failure, the system's reason (`errno` of the last
    /// failed system call on the connection, e.g. "No space left on device").
    func mapped(_ error: any Error) -> any Error {
        guard error is DatabaseError else { return Vault.mapped(error, path: path) }
        let code = queue.inDatabase { db in sqlite3_system_errno(db.sqliteConnection) }
        return Vault.mapped(error, path: path, systemErrno: code)
    }

    /// A thrown error as a ``VaultError``. A full disk, an I/O error, a read-only file system
    /// or a file that cannot be opened is `.io` (exit 1) naming `path` (when known) and the
    /// system's reason: `systemErrno` when SQLite reported one, else what the result code means
    /// (SQLITE_FULL is "No space left on device"). Issue 16, item 2.
    static func mapped(_ error: any Error, path: String? = nil, systemErrno: CInt = 0) -> any Error {
        if let error = error as? DatabaseError, let disk = diskFailure(error, path: path, systemErrno: systemErrno) {
            return disk
        }
        switch error {
        case let error as VaultError:
            return error
        case let error as CryptoError:
            switch error.kind {
            case .authenticationFailed: return VaultError.integrity(error.message)
            case .badParameters, .badLength, .badKeyLength: return VaultError.integrity(error.message)
            case .libraryTooOld, .library: return VaultError.io("crypto library: \(error.message)")
            }
        case let error as DatabaseError:
            // GRDB keeps bound values out of its description; the SQL text holds none either.
            if error.resultCode == .SQLITE_NOTADB || error.resultCode == .SQLITE_CORRUPT {
                return VaultError(.notAVault, "the vault file is not a valid SQLite database (\(error.resultCode))")
            }
            if error.resultCode == .SQLITE_BUSY {
                return VaultError.io("the vault is busy: another process holds it longer than the busy timeout")
            }
            return VaultError.io("vault database error: \(error.resultCode): \(error.message ?? "")")
        case is ByteReader.Malformed:
            return VaultError.integrity("a sealed record does not decode")
        default:
            return VaultError.io("vault failure: \(type(of: error))")
        }
    }
}

// MARK: Helpers shared by the extensions

extension Vault {
    /// The file-system failures among SQLite's result codes, as `.io` errors naming the file.
    private static func diskFailure(_ error: DatabaseError, path: String?, systemErrno: CInt) -> VaultError? {
        let file = path.map { "the vault \($0)" } ?? "the vault"
        func reason(_ fallback: CInt?) -> String {
            if systemErrno != 0 { return String(cString: strerror(systemErrno)) }
            if let fallback { return String(cString: strerror(fallback)) }
            return error.message ?? "\(error.extendedResultCode)"
        }
        switch error.resultCode {
        case .SQLITE_FULL:
            // SQLite says SQLITE_FULL only for ENOSPC (or its own page limit): the disk is full.
            return VaultError.io("cannot write \(file): \(reason(ENOSPC)) (\(error.extendedResultCode))")
        case .SQLITE_IOERR:
            // Without an errno (SQLite keeps none for its -shm file, which every open extends),
            // a full disk is told by the disk itself: no block left for an ordinary write.
            return VaultError.io("cannot read or write \(file): \(reason(path.flatMap(noSpaceLeft) ?? nil)) (\(error.extendedResultCode))")
        case .SQLITE_READONLY:
            return VaultError.io("cannot write \(file): \(reason(EROFS)) (\(error.extendedResultCode))")
        case .SQLITE_CANTOPEN:
            // Opened before any connection exists (no errno kept): ask the system directly
            // why the file cannot be opened for writing (EROFS on a read-only mount, EACCES...).
            var probed: CInt?
            if systemErrno == 0, let path {
                let fd = Glibc.open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
                if fd >= 0 { Glibc.close(fd) } else { probed = errno }
            }
            return VaultError.io("cannot open \(file): \(reason(probed)) (\(error.extendedResultCode))")
        default:
            return nil
        }
    }
}

/// `ENOSPC` when the file system holding `path` has no block left for an ordinary write, else nil.
private func noSpaceLeft(_ path: String) -> CInt? {
    var info = statvfs()
    let directory = (path as NSString).deletingLastPathComponent
    guard statvfs(directory.isEmpty ? "." : directory, &info) == 0 else { return nil }
    return info.f_bavail == 0 ? ENOSPC : nil
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var result = [UInt8]()
    result.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        result.append(digits[Int(byte >> 4)])
        result.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: result, as: UTF8.self)
}

func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
func date(milliseconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000) }

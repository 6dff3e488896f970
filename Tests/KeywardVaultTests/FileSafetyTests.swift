import Foundation
import GRDB
import KeywardCore
import Testing

@testable import KeywardVault

@Suite("Vault file safety")
struct FileSafetyTests {
    @Test("the vault is created 0600 in a 0700 directory; the key file 0600; init refuses to overwrite")
    func modes() throws {
        let box = try Sandbox()
        let (vault, source) = try box.makeVault()
        try vault.put(name("a"), secret("x"))
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
        }
        #expect(try mode(box.vaultPath) == 0o600)
        #expect(try mode(box.vaultPath + "-wal") == 0o600)
        #expect(try mode(box.root + "/data") == 0o700)
        #expect(try mode(box.root + "/key.key") == 0o600)
        #expect(try mode(vault.anchorPath) == 0o600)
        let error = #expect(throws: VaultError.self) { _ = try Vault.create(at: box.vaultPath, keySource: source, options: box.options) }
        #expect(error?.category == .usage)
        #expect(throws: VaultError.self) { try VaultKeySource.createKeyFile(at: box.root + "/key.key") }
    }

    @Test("a symbolic link is refused, even to a real vault")
    func symlink() throws {
        let box = try Sandbox()
        let (_, source) = try box.makeVault()
        let link = box.root + "/data/link.db"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: box.vaultPath)
        let error = expectVaultFailure { _ = try Vault.open(at: link, keySource: source, options: box.options) }
        #expect(error?.code == .unsafeFile)
        #expect(error?.message.contains("symbolic link") == true)
        let create = #expect(throws: VaultError.self) {
            _ = try Vault.create(at: box.root + "/data/other-link.db", keySource: source, options: box.options)
            try FileManager.default.removeItem(atPath: box.root + "/data/other-link.db")
            try FileManager.default.createSymbolicLink(atPath: box.root + "/data/dangling.db", withDestinationPath: box.root + "/nowhere.db")
            _ = try Vault.create(at: box.root + "/data/dangling.db", keySource: source, options: box.options)
        }
        #expect(create != nil)
        #expect(!FileManager.default.fileExists(atPath: box.root + "/nowhere.db"))
    }

    @Test("a vault readable by group or others is refused", arguments: [0o640, 0o604, 0o660, 0o644])
    func permissions(mode: Int) throws {
        let box = try Sandbox()
        let (_, source) = try box.makeVault()
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: box.vaultPath)
        let error = expectVaultFailure { _ = try box.open(source) }
        #expect(error?.code == .unsafeFile)
    }

    @Test("a foreign SQLite file and a non-database file are refused")
    func foreignFiles() throws {
        let box = try Sandbox()
        let key = VaultKeySource.keyFile(try box.keyFile())
        try FileManager.default.createDirectory(atPath: box.root + "/data", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let foreign = try DatabaseQueue(path: box.vaultPath)
        try foreign.write { db in try db.execute(sql: "CREATE TABLE t(x)") }
        try foreign.close()
        chmod(box.vaultPath, 0o600)
        let error = expectVaultFailure { _ = try box.open(key) }
        #expect(error?.code == .notAVault)
        try FileManager.default.removeItem(atPath: box.vaultPath)
        _ = FileManager.default.createFile(atPath: box.vaultPath, contents: Data(repeating: 0x41, count: 4096), attributes: [.posixPermissions: 0o600])
        expectVaultFailure { _ = try box.open(key) }
    }

    @Test("opening a missing vault says how to create one")
    func missing() throws {
        let box = try Sandbox()
        let error = #expect(throws: VaultError.self) { _ = try box.open(.keyFile(try box.keyFile())) }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("keyward vault init") == true)
    }

    @Test("neither the file nor its WAL ever holds a stored value or entry name in plaintext")
    func plaintextScan() throws {
        let box = try Sandbox()
        let (vault, _) = try box.makeVault()
        let names = (0..<50).map { "entities/PLAINNAME-\($0)/secret" }
        let values = (0..<50).map { "PLAINVALUE-\($0)-\(UUID().uuidString)" }
        let pairs = Array(zip(names, values))
        for start in stride(from: 0, to: pairs.count, by: 10) {
            try vault.putBatch(pairs[start..<start + 10].map { (name($0.0), secret($0.1)) })
        }
        try vault.put(name(names[1]), secret(values[1] + "-second"))
        try vault.openJournal(entity: "JOURNALENTITY-1")
        try vault.appendAudit(VaultAuditEvent(time: Date(), operation: "vault get", entity: "AUDITENTITY-1", outcome: "ok", txnId: "AUDITTXN"))
        try vault.remove(name(names[0]))
        let database = box.fileBytes(box.vaultPath)
        let wal = box.fileBytes(box.vaultPath + "-wal")
        #expect(!wal.isEmpty)
        for needle in ["PLAINNAME", "PLAINVALUE", "JOURNALENTITY", "AUDITENTITY", "AUDITTXN", "entities/"] {
            #expect(!contains(database, Array(needle.utf8)), "\(needle) in the database file")
            #expect(!contains(wal, Array(needle.utf8)), "\(needle) in the WAL")
        }
        try vault.queue.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        let checkpointed = box.fileBytes(box.vaultPath)
        for value in values { #expect(!contains(checkpointed, Array(value.utf8))) }
    }

    @Test("errors and descriptions never carry a value or key material")
    func leaks() throws {
        let box = try Sandbox()
        let (vault, _) = try box.makeVault()
        let value = secret("TOPSECRET-VALUE")
        try vault.put(name("a"), value)
        let record = try vault.get(name("a"))
        #expect(!"\(record)".contains("TOPSECRET"))
        var dumped = ""
        dump(record, to: &dumped)
        dump(try vault.history(name("a")), to: &dumped)
        #expect(!dumped.contains("TOPSECRET"))
        try box.tamper { db in try db.execute(sql: "UPDATE versions SET tag = zeroblob(16)") }
        let error = expectVaultFailure { _ = try vault.get(name("a")) }
        #expect(error.map { !"\($0)".contains("TOPSECRET") } ?? false)
    }
}

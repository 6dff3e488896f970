import Foundation
import GRDB
import KeywardCore
import Testing

@testable import KeywardVault

/// A private temporary directory per test, removed at the end.
final class Sandbox: @unchecked Sendable {
    let root: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path + "/keyward-vault-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        root = base
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    var vaultPath: String { root + "/data/vault.db" }
    var options: VaultOptions { VaultOptions(anchorDirectory: root + "/state/anchors") }

    /// A fresh key file (32 random bytes, base64, 0600).
    func keyFile(_ name: String = "key") throws -> String {
        let path = root + "/\(name).key"
        try VaultKeySource.createKeyFile(at: path)
        return path
    }

    /// A vault with a key-file slot; the key file's path is returned too.
    func makeVault(retention: Int = 10) throws -> (Vault, VaultKeySource) {
        let source = VaultKeySource.keyFile(try keyFile())
        var options = self.options
        options.retention = retention
        return (try Vault.create(at: vaultPath, keySource: source, options: options), source)
    }

    func open(_ source: VaultKeySource, policy: KDFPolicy = .production) throws -> Vault {
        try Vault.open(at: vaultPath, keySource: source, options: options, policy: policy)
    }

    /// Raw SQL on the vault file, as an attacker with the file would do it.
    func tamper(_ body: (Database) throws -> Void) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = false
        let queue = try DatabaseQueue(path: vaultPath, configuration: configuration)
        try queue.writeWithoutTransaction { db in try body(db) }
        try queue.close()
    }

    func fileBytes(_ path: String) -> [UInt8] {
        FileManager.default.contents(atPath: path).map(Array.init) ?? []
    }
}

/// Weak Argon2id for tests only (the package-level hook): t=1, m=64 KiB, p=1.
let fastKDF = KDFPolicy.testingOnly(Argon2Parameters(iterations: 1, memoryKiB: 64, parallelism: 1))

func name(_ text: String) -> SecretName { SecretName(text)! }
func secret(_ text: String) -> SecretValue { SecretValue(utf8: text) }

/// Expects a vault-category error (exit 4) from `body`, and returns it.
@discardableResult
func expectVaultFailure(_ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> VaultError? {
    do {
        try body()
        Issue.record("expected a vault failure, got success. \(comment.map { "\($0)" } ?? "")", sourceLocation: sourceLocation)
        return nil
    } catch let error as VaultError {
        #expect(error.category == .vault, "\(error.code): \(error.message)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected VaultError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Whether `needle` occurs in `haystack`.
func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    let first = needle[0]
    var index = 0
    while index <= haystack.count - needle.count {
        if haystack[index] == first && Array(haystack[index..<index + needle.count]) == needle { return true }
        index += 1
    }
    return false
}

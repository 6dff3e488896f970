import Foundation
import KeywardCore
import KeywardVault

/// Prepares the export benchmark: a key-file vault and keyward.yaml in DIR holding N entities,
/// each with a 44-byte secret and a JWT-sized token (so N × 5 keys on export), and the same
/// keys as a plain dotenv file for the sops baseline. Prints the entity ids, one per line.
enum ExportSetup {
    static func run(_ arguments: [String]) throws {
        guard let directory = arguments.first else { throw KeywardError.usage("usage: KeywardBenchmarks export-setup DIR [ENTITIES]") }
        let count = arguments.count > 1 ? Int(arguments[1]) ?? 2_000 : 2_000
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let ids = (1...count).map { EntityID(String(format: "FIU-EXPORT-%05d", $0))! }
        let config = """
            version: 1
            vault: {path: vault.db}
            providers:
              sim: {baseURL: "http://127.0.0.1:9/iam/v1", username: ops@example.com}
            entities:
            \(ids.map { "  \($0): {}" }.joined(separator: "\n"))

            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: directory + "/keyward.yaml"))
        try VaultKeySource.createKeyFile(at: directory + "/key")
        let vault = try Vault.create(at: directory + "/vault.db", keySource: .keyFile(directory + "/key"),
                                     options: VaultOptions(anchorDirectory: directory + "/anchors"))
        var plain = ""
        let now = Date()
        var items: [(name: SecretName, value: SecretValue)] = []
        for id in ids {
            let secret = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + Data((0..<180).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() + ".sig"
            items.append((.entitySecret(id), SecretValue(utf8: secret)))
            items.append((.entityToken(id), SecretValue(utf8: token)))
            let prefix = id.environmentPrefix
            plain += "\(prefix)_ENTITY_ID=\(id)\n\(prefix)_SECRET=\(secret)\n\(prefix)_ACCESS_TOKEN=\(token)\n"
            plain += "\(prefix)_SECRET_EXPIRES_AT=2027-05-29T10:00:00Z\n\(prefix)_TOKEN_EXPIRES_AT=2026-12-01T10:00:00Z\n"
        }
        try vault.putBatch(items, metadata: VaultRecordMetadata(createdAt: now, expiresAt: now.addingTimeInterval(86_400), source: "bench"))
        try Data(plain.utf8).write(to: URL(fileURLWithPath: directory + "/plain.env"))
        print(ids.map(\.rawValue).joined(separator: "\n"))
    }
}

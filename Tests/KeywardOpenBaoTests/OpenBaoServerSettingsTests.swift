import Foundation
import KeywardCore
import KeywardOpenBao
import Testing

@Suite("OpenBao connection settings: the shared: section's address, auth, namespace, caFile and timeout, each fault with its key and line")
struct OpenBaoServerSettingsTests {
    /// A temporary configuration directory with a private secret file and a CA file.
    struct Directory {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("bao-settings-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: "\(path)/secret-id", contents: Data("s3cr3t-id\n".utf8), attributes: [.posixPermissions: 0o600])
            FileManager.default.createFile(atPath: "\(path)/ca.pem", contents: Data("-----BEGIN CERTIFICATE-----\n".utf8))
        }
        func remove() { try? FileManager.default.removeItem(atPath: path) }
    }

    static let lines: [String: Int] = [
        "address": 3, "auth": 4, "auth.token": 5, "auth.approle": 5, "auth.approle.roleId": 6, "auth.approle.secretId": 7,
        "auth.approle.mount": 8, "namespace": 9, "caFile": 10, "timeout": 11,
    ]

    func parse(_ options: [String: ConfigurationValue], directory: String = "/tmp") throws -> OpenBaoServerSettings {
        try OpenBaoServerSettings.parse(options: options, lines: Self.lines, keyPrefix: "shared", directory: directory)
    }

    /// The problems of a configuration that must fail.
    func problems(_ options: [String: ConfigurationValue], directory: String = "/tmp") -> [ConfigurationError.Problem] {
        do {
            _ = try parse(options, directory: directory)
            Issue.record("parsed, expected a ConfigurationError")
            return []
        } catch let error as ConfigurationError {
            #expect(error.category == .usage)
            return error.problems
        } catch {
            Issue.record("unexpected \(error)")
            return []
        }
    }

    @Test("a token configuration: address, env: token, namespace, caFile relative to the file's directory, timeout")
    func goodToken() throws {
        let directory = try Directory()
        defer { directory.remove() }
        let settings = try parse([
            "address": .string("https://bao.internal:8200"),
            "auth": .map(["token": .string("env:BAO_TOKEN")]),
            "namespace": .string("payments/team-a"),
            "caFile": .string("ca.pem"),
            "timeout": .string("30s"),
            "mount": .string("secret"),  // the shared store's: ignored here
        ], directory: directory.path)
        #expect(settings == OpenBaoServerSettings(address: URL(string: "https://bao.internal:8200")!, auth: .token(.environment("BAO_TOKEN")),
                                                  namespace: "payments/team-a", caFile: "\(directory.path)/ca.pem", timeout: .seconds(30)))
    }

    @Test("an AppRole configuration with a file: secret ID relative to the directory; mount defaults to approle; timeout to 10 s")
    func goodAppRole() throws {
        let directory = try Directory()
        defer { directory.remove() }
        let settings = try parse([
            "address": .string("http://127.0.0.1:8200"),
            "auth": .map(["approle": .map(["roleId": .string("env:ROLE_ID"), "secretId": .string("file:secret-id")])]),
        ], directory: directory.path)
        #expect(settings.auth == .appRole(roleID: .environment("ROLE_ID"), secretID: .file("\(directory.path)/secret-id"), mount: "approle"))
        #expect(settings.timeout == .seconds(10))
        #expect(settings.namespace == nil && settings.caFile == nil)

        let custom = try parse([
            "address": .string("https://bao:8200"),
            "auth": .map(["approle": .map(["roleId": .string("vault:openbao/role-id"), "secretId": .string("env:S"), "mount": .string("keyward-approle")])]),
        ])
        #expect(custom.auth == .appRole(roleID: .vault(SecretName(String("openbao/role-id"))!), secretID: .environment("S"), mount: "keyward-approle"))
    }

    @Test("a missing address and a missing auth are both reported, with their key paths")
    func missing() {
        let found = problems([:])
        #expect(found.map(\.keyPath) == ["shared.address", "shared.auth"])
    }

    @Test("each bad key is reported with its key path and line")
    func badKeys() {
        let cases: [(options: [String: ConfigurationValue], keyPath: String, line: Int, words: String)] = [
            (["address": .string("http://bao.internal:8200")], "shared.address", 3, "loopback"),
            (["address": .string("ftp://127.0.0.1")], "shared.address", 3, "https://"),
            (["address": .string("https://bao:8200/v1/secret")], "shared.address", 3, "without path"),
            (["address": .integer(8200)], "shared.address", 3, "string"),
            (["auth": .string("env:T")], "shared.auth", 4, "map"),
            (["auth": .map([:])], "shared.auth", 4, "one of token"),
            (["auth": .map(["token": .string("env:T"), "approle": .map([:])])], "shared.auth", 4, "not both"),
            (["auth": .map(["token": .string("hvs.literal-token-value")])], "shared.auth.token", 5, "reference"),
            (["auth": .map(["token": .string("openbao:secret/bao#token")])], "shared.auth.token", 5, "openbao:"),
            (["auth": .map(["token": .string("env:1BAD")])], "shared.auth.token", 5, "environment variable name"),
            (["auth": .map(["token": .string("file:does-not-exist")])], "shared.auth.token", 5, "does-not-exist"),
            (["auth": .map(["approle": .map(["secretId": .string("env:S")])])], "shared.auth.approle.roleId", 6, "missing"),
            (["auth": .map(["approle": .map(["roleId": .string("env:R"), "secretId": .string("literal-secret-id")])])],
             "shared.auth.approle.secretId", 7, "reference"),
            (["auth": .map(["approle": .map(["roleId": .string("env:R"), "secretId": .string("env:S"), "mount": .string("../x")])])],
             "shared.auth.approle.mount", 8, "AppRole"),
            (["auth": .map(["approle": .map(["roleId": .string("env:R"), "secretId": .string("env:S"), "role": .string("x")])])],
             "shared.auth.approle.role", 5, "unknown key"),
            (["auth": .map(["token": .string("env:T"), "tokn": .string("env:T")])], "shared.auth.tokn", 4, "unknown key"),
            (["namespace": .string("bad namespace")], "shared.namespace", 9, "namespace"),
            (["caFile": .string("missing-ca.pem")], "shared.caFile", 10, "missing-ca.pem"),
            (["timeout": .string("10")], "shared.timeout", 11, "invalid duration"),
            (["timeout": .string("-5s")], "shared.timeout", 11, "invalid duration"),
        ]
        for item in cases {
            var options: [String: ConfigurationValue] = ["address": .string("https://bao:8200"), "auth": .map(["token": .string("env:T")])]
            options.merge(item.options) { $1 }
            let found = problems(options)
            #expect(found.count == 1, "\(item.keyPath): \(found)")
            #expect(found.first?.keyPath == item.keyPath, "\(found)")
            #expect(found.first?.line == item.line, "\(item.keyPath)")
            #expect(found.first?.message.contains(item.words) == true, "\(item.keyPath): \(found.first?.message ?? "")")
        }
    }

    @Test("a literal token or secret ID is never echoed in the problem")
    func literalNotEchoed() {
        let found = problems([
            "address": .string("https://bao:8200"),
            "auth": .map(["approle": .map(["roleId": .string("literal-role-id-1234"), "secretId": .string("literal-secret-id-5678")])]),
        ])
        #expect(found.count == 2)
        let text = found.map(\.description).joined(separator: "\n")
        #expect(!text.contains("literal-role-id-1234") && !text.contains("literal-secret-id-5678"))
    }

    @Test("optionKeys lists exactly the keys parse reads")
    func optionKeys() {
        #expect(OpenBaoServerSettings.optionKeys == ["address", "auth", "namespace", "caFile", "timeout"])
    }
}

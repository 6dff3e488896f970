import Foundation
import KeywardCore
import KeywardTesting
import Testing

@testable import KeywardVault

/// The built `keyward` binary beside this test bundle, when `swift test` built it.
private let keywardBinary: String? = {
    var directory = URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("keyward").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    return nil
}()

private struct Run {
    var status: Int32
    var signalled: Bool
    var stdout: [UInt8]
    var stderr: String
}

private func keyward(_ arguments: [String], environment: [String: String], stdin: [UInt8] = [], box: Sandbox) throws -> Run {
    let process = Process()
    // setsid: no controlling terminal, so the passphrase prompt is never reached.
    process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
    process.arguments = ["--wait", keywardBinary!] + arguments
    var env = ["PATH": "/usr/bin:/bin", "HOME": box.root, "XDG_STATE_HOME": box.root + "/state", "XDG_DATA_HOME": box.root + "/data"]
    env.merge(environment) { $1 }
    process.environment = env
    let input = Pipe(), output = Pipe(), errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    input.fileHandleForWriting.write(Data(stdin))
    try input.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    // setsid --wait reports a child killed by a signal as its own exit status (the signal number).
    let signalled = process.terminationReason == .uncaughtSignal || String(decoding: err, as: UTF8.self).contains("did not exit normally")
    return Run(status: process.terminationStatus, signalled: signalled, stdout: Array(out),
               stderr: String(decoding: err, as: UTF8.self))
}

@Suite("keyward vault commands (built binary)", .enabled(if: keywardBinary != nil && FileManager.default.fileExists(atPath: "/usr/bin/setsid")))
struct VaultCommandTests {
    @Test("put stores stdin byte for byte, --trim drops one newline, get writes the exact bytes")
    func bytes() throws {
        let box = try Sandbox()
        let key = box.root + "/cli.key"
        let env = ["KEYWARD_VAULT": box.vaultPath, "KEYWARD_KEY_FILE": key]
        #expect(try keyward(["vault", "init", "--new-key-file", key], environment: env, box: box).status == 0)
        let value: [UInt8] = [0, 0xFF, 0x0A, 0x20, 0x0A, 0x0A]
        #expect(try keyward(["vault", "put", "a/b"], environment: env, stdin: value, box: box).status == 0)
        #expect(try keyward(["vault", "get", "a/b"], environment: env, box: box).stdout == value)
        #expect(try keyward(["vault", "put", "--trim", "a/b"], environment: env, stdin: value, box: box).status == 0)
        #expect(try keyward(["vault", "get", "a/b"], environment: env, box: box).stdout == Array(value.dropLast()))
        #expect(try keyward(["vault", "get", "--label", "previous", "a/b"], environment: env, box: box).stdout == value)
        let history = try keyward(["vault", "history", "a/b"], environment: env, box: box)
        #expect(history.status == 0 && String(decoding: history.stdout, as: UTF8.self).contains("previous"))
        #expect(try keyward(["vault", "get", "missing"], environment: env, box: box).status == 2)
    }

    @Test("with no key source and no terminal: exit 4 and a message that lists the sources")
    func locked() throws {
        let box = try Sandbox()
        let key = box.root + "/cli.key"
        #expect(try keyward(["vault", "init", "--vault", box.vaultPath, "--new-key-file", key], environment: [:], box: box).status == 0)
        let run = try keyward(["vault", "list", "--vault", box.vaultPath], environment: [:], box: box)
        #expect(run.status == 4)
        for variable in ["KEYWARD_KEY_FILE", "KEYWARD_PASSPHRASE", "KEYWARD_PASSPHRASE_FILE", "terminal"] {
            #expect(run.stderr.contains(variable))
        }
        let wrong = try keyward(["vault", "list", "--vault", box.vaultPath], environment: ["KEYWARD_PASSPHRASE": "nope"], box: box)
        #expect(wrong.status == 4)
    }

    @Test("concurrent processes writing the same vault all succeed and leave it verifiable")
    func concurrentWriters() async throws {
        let box = try Sandbox()
        let key = box.root + "/cli.key"
        let env = ["KEYWARD_VAULT": box.vaultPath, "KEYWARD_KEY_FILE": key]
        #expect(try keyward(["vault", "init", "--new-key-file", key], environment: env, box: box).status == 0)
        let statuses = try await withThrowingTaskGroup(of: Int32.self) { group in
            for index in 0..<6 {
                group.addTask {
                    try keyward(["vault", "put", "--quiet", "e/\(index % 2)"], environment: env, stdin: Array("value-\(index)".utf8), box: box).status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses == [Int32](repeating: 0, count: 6))
        let vault = try Vault.open(at: box.vaultPath, keySource: .keyFile(key), options: VaultOptions(anchorDirectory: box.root + "/state/keyward/anchors"))
        let report = try vault.verify()
        #expect(report.versions == 6 && report.auditEvents == 6)
        #expect(try vault.history(name("e/0")).count == 3)
    }

    @Test("a rekey killed mid-transaction leaves the vault verifiable under the old key", arguments: ["vault.rekey-midway", "vault.commit"])
    func killedRekey(point: String) throws {
        let box = try Sandbox()
        let key = box.root + "/cli.key"
        let env = ["KEYWARD_VAULT": box.vaultPath, "KEYWARD_KEY_FILE": key]
        #expect(try keyward(["vault", "init", "--new-key-file", key], environment: env, box: box).status == 0)
        do {
            let vault = try Vault.open(at: box.vaultPath, keySource: .keyFile(key), options: VaultOptions(anchorDirectory: box.root + "/state/keyward/anchors"))
            try vault.putBatch((0..<50).map { (name("e/\($0)"), secret("value-\($0)")) })
        }
        let before = try box.versionBlobs()
        let run = try keyward(["vault", "rekey"], environment: env.merging(["KEYWARD_CRASH_AT": point]) { $1 }, box: box)
        #expect(run.signalled, "the debug build should have killed itself at \(point)")
        #expect(try box.versionBlobs() == before)
        let vault = try Vault.open(at: box.vaultPath, keySource: .keyFile(key), options: VaultOptions(anchorDirectory: box.root + "/state/keyward/anchors"))
        #expect(try vault.verify().versions == 50)
        #expect(vault.keyID == 1)
        #expect(try vault.get(name("e/42")).value == secret("value-42"))
        #expect(try keyward(["vault", "rekey"], environment: env, box: box).status == 0)
        #expect(try keyward(["vault", "verify"], environment: env, box: box).status == 0)
    }

    @Test("passwd: the new passphrase from KEYWARD_NEW_PASSPHRASE opens, the old does not; a missing or empty one is a usage error")
    func passwd() throws {
        let box = try Sandbox()
        let vault = ["KEYWARD_VAULT": box.vaultPath]
        let old = vault.merging(["KEYWARD_PASSPHRASE": "old-passphrase-1"]) { $1 }
        var runs = [Run]()
        func run(_ arguments: [String], _ environment: [String: String], stdin: [UInt8] = []) throws -> Run {
            let result = try keyward(arguments, environment: environment, stdin: stdin, box: box)
            runs.append(result)
            return result
        }
        #expect(try run(["vault", "init"], old).status == 0)
        #expect(try run(["vault", "put", "a/b"], old, stdin: Array("value-kept".utf8)).status == 0)

        let empty = try run(["vault", "passwd"], old.merging(["KEYWARD_NEW_PASSPHRASE": ""]) { $1 })
        #expect(empty.status == 2)
        #expect(empty.stderr.contains("KEYWARD_NEW_PASSPHRASE is set but empty"), "\(empty.stderr)")
        let none = try run(["vault", "passwd"], old)
        #expect(none.status == 2)
        #expect(none.stderr.contains("no new passphrase"), "\(none.stderr)")
        #expect(try run(["vault", "get", "a/b"], old).stdout == Array("value-kept".utf8))

        #expect(try run(["vault", "passwd"], old.merging(["KEYWARD_NEW_PASSPHRASE": "new-passphrase-2"]) { $1 }).status == 0)
        #expect(try run(["vault", "get", "a/b"], old).status == 4)
        let new = vault.merging(["KEYWARD_PASSPHRASE": "new-passphrase-2"]) { $1 }
        #expect(try run(["vault", "get", "a/b"], new).stdout == Array("value-kept".utf8))
        #expect(try run(["vault", "verify"], new).status == 0)
        for result in runs {
            #expect(!result.stderr.contains("old-passphrase-1") && !result.stderr.contains("new-passphrase-2"))
            #expect(!String(decoding: result.stdout, as: UTF8.self).contains("passphrase-"))
        }
    }

    @Test("passwd on a vault with only a key file says it added a passphrase slot; both then open it")
    func passwdAddsSlot() throws {
        let box = try Sandbox()
        let key = box.root + "/cli.key"
        let env = ["KEYWARD_VAULT": box.vaultPath, "KEYWARD_KEY_FILE": key]
        #expect(try keyward(["vault", "init", "--new-key-file", key], environment: env, box: box).status == 0)
        #expect(try keyward(["vault", "put", "a/b"], environment: env, stdin: Array("value-kept".utf8), box: box).status == 0)
        let added = try keyward(["vault", "passwd"], environment: env.merging(["KEYWARD_NEW_PASSPHRASE": "added-passphrase"]) { $1 }, box: box)
        #expect(added.status == 0)
        #expect(String(decoding: added.stdout, as: UTF8.self).contains("added one in slot 2"), "\(added.stdout)")
        let byPassphrase = ["KEYWARD_VAULT": box.vaultPath, "KEYWARD_PASSPHRASE": "added-passphrase"]
        #expect(try keyward(["vault", "get", "a/b"], environment: byPassphrase, box: box).stdout == Array("value-kept".utf8))
        #expect(try keyward(["vault", "get", "a/b"], environment: env, box: box).stdout == Array("value-kept".utf8))
    }

    @Test("a vault file made by an earlier build: `vault get` exits 4 naming the file and `keyward vault init`")
    func earlierBuildRefusedByCLI() throws {
        let box = try Sandbox()
        try FileFormatTests.writeEarlierBuildFile(box)
        let key = try box.keyFile()
        let run = try keyward(["vault", "get", "a/b"], environment: ["KEYWARD_VAULT": box.vaultPath, "KEYWARD_KEY_FILE": key], box: box)
        #expect(run.status == 4)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains("\(box.vaultPath) was made by a development build of Keyward from before file format 1"), "\(run.stderr)")
        #expect(run.stderr.contains("create a new vault with `keyward vault init`"), "\(run.stderr)")
    }

    @Test("processes opening one vault at once (puts and gets) all succeed; the file ends verifiable", arguments: 0..<3)
    func concurrentProcesses(round: Int) async throws {
        let box = try Sandbox()
        let key = box.root + "/cli.key"
        let env = ["KEYWARD_VAULT": box.vaultPath, "KEYWARD_KEY_FILE": key]
        #expect(try keyward(["vault", "init", "--new-key-file", key], environment: env, box: box).status == 0)
        #expect(try keyward(["vault", "put", "app/150"], environment: env, stdin: Array("v".utf8), box: box).status == 0)
        let runs = try await withThrowingTaskGroup(of: (String, Run).self) { group in
            for index in 0..<12 {
                group.addTask {
                    try await offPool {
                        let arguments = index % 6 == 5 ? ["vault", "get", "app/150"] : ["vault", "put", "concurrent/\(index)"]
                        return (arguments.joined(separator: " "), try keyward(arguments, environment: env, stdin: Array("v\(index)".utf8), box: box))
                    }
                }
            }
            var runs = [(String, Run)]()
            for try await run in group { runs.append(run) }
            return runs
        }
        for (command, run) in runs {
            #expect(run.status == 0, "\(command): \(run.stderr)")
        }
        let vault = try box.open(.keyFile(key))
        #expect(try vault.verify().entries == 11)
    }
}

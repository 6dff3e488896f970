import Foundation
import KeywardCore
import KeywardVault

/// Prepares the scan benchmark (issue 16) in DIR: a key-file vault and keyward.yaml holding
/// VALUES values (half entity secrets of 44 bytes, half JWT-sized tokens), `patterns.txt` with
/// every encoded form `keyward scan` searches for (one per line, for `grep -F -f`), and
/// `corpus/`: MEGABYTES of files, nine text files (log lines: timestamps, words, hex ids and
/// base64 blobs of random bytes) to one binary, with 200 values planted in their forms.
/// Prints `values=N forms=F bytes=B planted=P`.
enum ScanSetup {
    static func run(_ arguments: [String]) throws {
        guard let directory = arguments.first else {
            throw KeywardError.usage("usage: KeywardBenchmarks scan-setup DIR [VALUES] [MEGABYTES]")
        }
        let valueCount = arguments.count > 1 ? Int(arguments[1]) ?? 1_000 : 1_000
        let megabytes = arguments.count > 2 ? Int(arguments[2]) ?? 500 : 500
        try FileManager.default.createDirectory(atPath: directory + "/corpus", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let ids = (1...(valueCount / 2)).map { EntityID(String(format: "FIU-SCAN-%05d", $0))! }
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
        var items: [(name: SecretName, value: SecretValue)] = []
        var values: [[UInt8]] = []
        for id in ids {
            let secret = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            let token = "eyJhbGciOiJSUzI1NiJ9." + Data((0..<150).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
                + ".sig"
            items.append((.entitySecret(id), SecretValue(utf8: secret)))
            items.append((.entityToken(id), SecretValue(utf8: token)))
            values += [Array(secret.utf8), Array(token.utf8)]
        }
        let now = Date()
        try vault.putBatch(items, metadata: VaultRecordMetadata(createdAt: now, expiresAt: now.addingTimeInterval(86_400), source: "bench"))

        // The same forms, for grep -F -f (none holds a newline: the values are text).
        let set = LeakPatternSet(values: values.enumerated().map { (.init(name: "v\($0.offset)"), SecretValue(bytes: $0.element)) })
        var patterns = Data()
        for pattern in set.matcher.patterns { patterns.append(contentsOf: pattern + [0x0A]) }
        try patterns.write(to: URL(fileURLWithPath: directory + "/patterns.txt"))

        let words = ["GET", "POST", "/v2/consents", "status=200", "status=503", "user", "handle", "fip", "fiu", "aa", "retry", "ok",
                     "latency_ms=", "request_id=", "session", "Bearer", "Authorization:", "INFO", "WARN", "DEBUG", "payload"]
        let fileSize = 10 << 20
        let fileCount = max(1, (megabytes << 20) / fileSize)
        var planted = 0
        var total = 0
        for index in 0..<fileCount {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(fileSize + 4096)
            if index % 10 == 9 {
                while bytes.count < fileSize { bytes += (0..<4096).map { _ in UInt8.random(in: 0...255) } }
            } else {
                var line = 0
                while bytes.count < fileSize {
                    line += 1
                    var text = "2026-12-07T10:\(String(format: "%02d:%02d", line % 60, (line / 60) % 60)).\(line % 1000)Z"
                    for _ in 0..<Int.random(in: 4...12) { text += " " + words.randomElement()! }
                    text += " id=" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
                    if line % 7 == 0 { text += " blob=" + Data((0..<Int.random(in: 12...90)).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() }
                    bytes += Array((text + "\n").utf8)
                }
            }
            // Planted forms: 200 spread over the corpus.
            for _ in 0..<max(1, 200 / fileCount) {
                // A form as it occurs: the value-only characters of a base64 form inside the
                // blob that holds the value at that alignment.
                let value = values.randomElement()!
                let form = EncodedForm.forms(of: value).randomElement()!
                var pattern = form.bytes
                if let edges = form.edges {
                    let alignment = [0: 0, 4: 1, 2: 2][edges.leadingBits]!
                    pattern = Array(Data([UInt8](repeating: 0x41, count: alignment) + value + [0x42]).base64EncodedString().utf8)
                }
                let at = Int.random(in: 0..<(bytes.count - pattern.count))
                bytes.replaceSubrange(at..<(at + pattern.count), with: pattern)
                planted += 1
            }
            total += bytes.count
            try Data(bytes).write(to: URL(fileURLWithPath: directory + "/corpus/" + String(format: "part-%03d.%@", index, index % 10 == 9 ? "bin" : "log")))
        }
        print("values=\(set.sources.count) forms=\(set.matcher.patterns.count) bytes=\(total) planted=\(planted)")
    }
}

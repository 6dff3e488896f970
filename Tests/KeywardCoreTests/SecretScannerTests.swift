import Foundation
import KeywardCore
import Testing

/// Scanner accuracy on a generated corpus (issue 16): 1,000 values, each planted raw and in every
/// encoded form in files of mixed text and binary, and near-misses differing by one byte.
@Suite("Secret scanner accuracy")
struct SecretScannerTests {
    typealias Seeded = LeakPatternTests.Seeded

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-.~ %&\"\\<>é€".utf8)

    static func values(_ count: Int, seed: UInt64) -> [[UInt8]] {
        var rng = Seeded(state: seed)
        return (0..<count).map { index in
            // Text values (some with characters every encoding escapes), and some binary ones.
            let length = Int.random(in: 8...48, using: &rng)
            if index % 10 == 9 { return LeakPatternTests.bytes(length, &rng) }
            var text = String(decoding: LeakPatternTests.bytes(length, &rng, alphabet: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)), as: UTF8.self)
            if index % 3 == 0 { text += "+/= %&\"\\é" }
            return Array(text.utf8)
        }
    }

    static func filler(_ count: Int, _ rng: inout Seeded, binary: Bool) -> [UInt8] {
        binary ? LeakPatternTests.bytes(count, &rng)
            : Array(String(repeating: "lorem ipsum dolor sit amet,\n", count: count / 28 + 1).utf8.prefix(count))
    }

    @Test("every planted value is found, with its encoding, line and column; no near-miss is")
    func plantedCorpus() throws {
        let values = Self.values(1_000, seed: 16)
        let set = LeakPatternSet(values: values.enumerated().map { (.init(name: "entities/E\($0.offset)/secret", version: "v1", fingerprint: String(format: "%08x", $0.offset)), SecretValue(bytes: $0.element)) })
        #expect(set.sources.count == 1_000)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scan-corpus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        var rng = Seeded(state: 99)
        // Plants: (file, offset) -> (value index, encoding). Each value in every form, spread
        // over 20 files, half of them binary; chunks of 4 KiB so values straddle chunk edges.
        var expected: [String: [(line: Int, column: Int, name: String, encoding: LeakEncoding)]] = [:]
        var files: [[UInt8]] = Array(repeating: [], count: 20)
        var plantCount = 0
        for (index, value) in values.enumerated() {
            for form in EncodedForm.forms(of: value) {
                let file = Int.random(in: 0..<20, using: &rng)
                files[file] += Self.filler(Int.random(in: 1...300, using: &rng), &rng, binary: file % 2 == 1)
                files[file] += [0x20]  // a separator a value of the filler cannot run into
                // The value-only characters of a base64 form appear inside a longer blob: plant
                // the blob (the value after 0-2 bytes, so at the form's alignment) and expect
                // the finding where those characters start.
                var planted = form.bytes
                var skip = 0
                if let edges = form.edges {
                    let alignment = [0: 0, 4: 1, 2: 2][edges.leadingBits]!
                    let blob = LeakPatternTests.bytes(alignment, &rng) + value + LeakPatternTests.bytes(2, &rng)
                    var text = Data(blob).base64EncodedString()
                    if form.encoding == .base64url { text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_") }
                    planted = Array(text.utf8)
                    skip = (8 * alignment + 5) / 6
                }
                let start = files[file].count + skip
                files[file] += planted
                let before = files[file][..<start]
                let line = before.filter { $0 == 0x0A }.count + 1
                let column = start - (before.lastIndex(of: 0x0A) ?? -1)
                files[file] += [0x20]
                expected["f\(file)", default: []].append((line, column, "entities/E\(index)/secret", form.encoding))
                plantCount += 1
            }
        }
        let scanner = SecretScanner(patterns: set, chunkSize: 4096)
        var found = 0
        for (index, bytes) in files.enumerated() {
            let path = directory.appendingPathComponent("f\(index)").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let findings = try scanner.scan(file: path, displayPath: "f\(index)")
            let wanted = expected["f\(index)"] ?? []
            // A binary filler can, rarely, extend a base64 core into a longer valid match of the same
            // value; each planted form must be found at its place, under its own encoding.
            for plant in wanted {
                let hit = findings.first { $0.line == plant.line && $0.column == plant.column && $0.name == plant.name }
                #expect(hit?.encoding == plant.encoding, "f\(index):\(plant.line):\(plant.column) \(plant.name) \(plant.encoding)")
            }
            let extra = findings.filter { finding in !wanted.contains { $0.line == finding.line && $0.column == finding.column && $0.name == finding.name } }
            #expect(extra.isEmpty, "f\(index): not planted: \(extra.map(\.summary))")
            found += findings.count
        }
        #expect(found == plantCount)

        // Near-misses: every form with one byte changed (never into another planted form).
        var misses: [UInt8] = []
        for value in values {
            for form in EncodedForm.forms(of: value) {
                var changed = form.bytes
                // In the middle: a base64 form's first and last characters carry bits of the
                // neighbouring bytes, and its padding none of the value's.
                let at = changed.count / 2
                changed[at] = changed[at] == 0x21 ? 0x22 : 0x21  // '!' appears in no encoded form
                misses += [0x0A] + changed + [0x0A]
            }
        }
        // And values that differ from a secret only in the bits base64's edge characters share
        // with their neighbours: the last byte's lowest bit, the first byte's highest bit.
        for value in values {
            for (index, mask) in [(value.count - 1, UInt8(0x01)), (0, UInt8(0x80))] {
                var changed = value
                changed[index] ^= mask
                for prefix in 0..<3 {
                    let blob = [UInt8](repeating: 0x41, count: prefix) + changed + [0x42]
                    misses += [0x0A] + Array(Data(blob).base64EncodedString().utf8) + [0x0A]
                }
                misses += [0x0A] + Array(Data(changed).base64EncodedString().utf8) + [0x0A]
            }
        }
        let path = directory.appendingPathComponent("near-misses").path
        try Data(misses).write(to: URL(fileURLWithPath: path))
        let nearFindings = try scanner.scan(file: path)
        #expect(nearFindings.isEmpty, "\(nearFindings.count): \(nearFindings.prefix(5).map(\.summary))")
    }

    @Test("nothing is found in a clean copy of the repository's own tree")
    func cleanRepository() throws {
        let values = Self.values(1_000, seed: 17)
        let set = LeakPatternSet(values: values.enumerated().map { (.init(name: "v\($0.offset)"), SecretValue(bytes: $0.element)) })
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let targets = ScanTargets(ignoreFilesIn: [])
        let (files, problems) = targets.files(under: ["Sources", "Tests", "Examples", "docs", "README.md", "CHANGELOG.md", "Package.swift"].map { root.appendingPathComponent($0).path })
        #expect(problems.isEmpty)
        #expect(files.count > 100)
        let scanner = SecretScanner(patterns: set)
        for file in files {
            #expect(try scanner.scan(file: file).isEmpty, "\(file)")
        }
    }

    @Test("a value split across chunks of a stream is found once, with its line and column")
    func acrossChunks() throws {
        let value = Array("split-across-the-chunk-edge-0123456789".utf8)
        let set = LeakPatternSet(values: [(.init(name: "entities/E/token"), SecretValue(bytes: value))])
        let scanner = SecretScanner(patterns: set, chunkSize: 4096)
        for start in [4096 - 20, 4096 - 1, 4096, 8192 - 37] {
            var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: 10_000)
            bytes[100] = 0x0A
            bytes.replaceSubrange(start..<(start + value.count), with: value)
            var pipe: [Int32] = [0, 0]
            #expect(Glibc.pipe(&pipe) == 0)
            let (input, output, content) = (pipe[0], pipe[1], bytes)
            let writer = Thread {
                content.withUnsafeBytes { var done = 0; while done < $0.count { done += max(0, write(output, $0.baseAddress! + done, $0.count - done)) } }
                close(output)
            }
            writer.start()
            let findings = try scanner.scan(descriptor: input, path: "-")
            close(input)
            #expect(findings.map(\.line) == [2], "start \(start)")
            #expect(findings.map(\.column) == [start - 100], "start \(start)")
            #expect(findings.map(\.encoding) == [.raw])
        }
    }

    @Test("walks directories, skipping .git, symbolic links and what .keywardscanignore names")
    func targets() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("scan-walk-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let manager = FileManager.default
        for directory in ["a/.git", "a/node_modules/x", "a/testdata", "a/src"] {
            try manager.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        for file in ["a/.git/config", "a/node_modules/x/y.js", "a/testdata/blob.bin", "a/testdata/keep.txt", "a/src/main.swift", "a/app.min.js", "a/.env"] {
            try Data("x".utf8).write(to: root.appendingPathComponent(file))
        }
        try manager.createSymbolicLink(atPath: root.appendingPathComponent("a/link").path, withDestinationPath: "/etc")
        try Data("# generated\nnode_modules/\n*.min.js\n/testdata/*.bin\n".utf8).write(to: root.appendingPathComponent("a/.keywardscanignore"))
        let base = root.appendingPathComponent("a").path
        let (files, problems) = ScanTargets(ignoreFilesIn: [base]).files(under: [base])
        #expect(problems.isEmpty)
        #expect(files.map { String($0.dropFirst(base.count + 1)) } == [".env", ".keywardscanignore", "src/main.swift", "testdata/keep.txt"])
    }
}

#if canImport(Glibc)
import Glibc
#endif

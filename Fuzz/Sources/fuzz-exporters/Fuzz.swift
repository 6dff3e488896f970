import Foundation
import FuzzSupport
import KeywardCore
import KeywardExporters

/// The env-file writers against in-process models of their readers (Readers.swift). The input,
/// cut at 0xFF bytes, gives up to four values (keys `A`, `B_1`, `_c`, `D9`), followed by
/// `AFTER=after` (a value that swallows the next line shows there). For each writer (dotenv in
/// its portable, docker and systemd dialects; the shell format), the property: the writer
/// refuses, or every reader of that format reads back exactly these keys with exactly these
/// bytes, and nothing else.
private let keys = ["A", "B_1", "_c", "D9"]

private func check(_ name: String, _ pairs: [SinkKeys.Pair], render: () throws -> [UInt8], readers: [(String, ([UInt8]) -> Variables?)]) {
    let output: [UInt8]
    do {
        output = try render()
    } catch let error as KeywardError {
        require(error.category == .usage || error.category == .operationFailed, "\(name): refused with category \(error.category)")
        return
    } catch {
        require(false, "\(name): threw \(type(of: error)), not a KeywardError")
        return
    }
    var expected: Variables = [:]
    for pair in pairs { expected[pair.key] = pair.value.revealBytes() }
    dump(name, output, expected)
    for (reader, read) in readers {
        guard let variables = read(output) else {
            require(false, "\(name): \(reader) cannot read the file the writer wrote (hex \(hex(output)))")
            return
        }
        for pair in pairs {
            require(variables[pair.key] == expected[pair.key],
                    "\(name): \(reader) reads \(pair.key) as \(variables[pair.key].map(hex) ?? "nothing"), written \(hex(expected[pair.key]!)); file hex \(hex(output))")
        }
        require(Set(variables.keys) == Set(expected.keys), "\(name): \(reader) reads other variables: \(variables.keys.sorted()); file hex \(hex(output))")
    }
}

/// With `KEYWARD_FUZZ_DUMP=DIR` (replaying a corpus: `fuzz-exporters -runs=0 CORPUS`), every
/// file a writer wrote goes to DIR with the values it must read back as, for
/// `Fuzz/replay-readers.py` to check against the real readers (python-dotenv, node, bash,
/// dash, docker): the models' blind spots, checked where they matter.
private let dumpDirectory = ProcessInfo.processInfo.environment["KEYWARD_FUZZ_DUMP"]
private nonisolated(unsafe) var dumped = 0

private func dump(_ name: String, _ output: [UInt8], _ expected: Variables) {
    guard let dumpDirectory else { return }
    dumped += 1
    let base = "\(dumpDirectory)/\(dumped)-\(name.replacingOccurrences(of: " ", with: "-"))"
    FileManager.default.createFile(atPath: base + ".env", contents: Data(output))
    let json = "{" + expected.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\"\(hex($0.value))\"" }.joined(separator: ",") + "}"
    FileManager.default.createFile(atPath: base + ".json", contents: Data(json.utf8))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let values = parts(input(data, size), limit: keys.count)
    var pairs = zip(keys, values).map { SinkKeys.Pair(key: $0, value: SecretValue(bytes: $1)) }
    pairs.append(SinkKeys.Pair(key: "AFTER", value: SecretValue(utf8: "after")))

    check("dotenv portable", pairs, render: { try DotenvFormat.render(pairs, dialect: .portable) }, readers: [
        ("python-dotenv", PythonDotenvReader.read), ("node --env-file", NodeEnvFileReader.read), ("sh (set -a; . file)", ShellReader.read),
    ])
    check("dotenv docker", pairs, render: { try DotenvFormat.render(pairs, dialect: .docker) }, readers: [
        ("docker --env-file", DockerEnvFileReader.read),
    ])
    check("dotenv systemd", pairs, render: { try DotenvFormat.render(pairs, dialect: .systemd) }, readers: [
        ("systemd EnvironmentFile=", SystemdEnvironmentFileReader.read),
    ])
    check("shell", pairs, render: { try ShellFormat.render(pairs) }, readers: [("sh (. file)", ShellReader.read)])
    return 0
}

import Foundation
import KeywardCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A sink of this program's own: each key becomes one file in a directory, holding the value's
/// exact bytes (the layout systemd's `LoadCredential=`, Docker secrets and Kubernetes secret
/// volumes use). Registered as type `credentials-directory`:
///
/// ```yaml
/// sinks:
///   service-credentials:
///     type: credentials-directory
///     path: run/credentials      # the directory (created 0700 when missing)
///     entities: [FIU-EXAMPLE-1]
///     lowercase: true            # optional: file names in lower case
/// ```
public struct CredentialsDirectorySink: SecretSink {
    /// The registry entry: a file sink (its `path` is the directory) with a `lowercase` flag,
    /// whose keys must be usable as file names.
    public static let descriptor = SinkTypeDescriptor(
        type: "credentials-directory", writesFile: true, options: ["lowercase": .boolean],
        validate: { section in
            (section.keys ?? []).compactMap { entry in
                isFileName(entry.key)
                    ? nil : SinkConfigurationProblem(.outputKey(entry.key), "a key becomes a file name: letters, digits, '.', '_' and '-', not starting with '.'")
            }
        })

    /// Registers `credentials-directory` in `registry`.
    public static func register(in registry: inout PluginRegistry) {
        registry.registerSink(descriptor) { section, _ in try CredentialsDirectorySink(section) }
    }

    public let name: String
    /// The directory written.
    public let directory: String
    public let lowercase: Bool
    private let keys: [(key: String, template: KeyTemplate)]?

    /// Builds the sink from its `sinks.<name>` section (the loader has checked its options).
    ///
    /// - Throws: ``KeywardError`` (usage) when `path` is missing.
    public init(_ section: SinkConfiguration) throws {
        guard let path = section.path else { throw KeywardError.usage("sink '\(section.name)': path is missing") }
        name = section.name
        directory = path
        lowercase = section.options["lowercase"]?.boolValue ?? false
        keys = section.keys
    }

    public var destination: String? { directory }

    /// Writes every key whose file is missing or different, each through a temporary file
    /// renamed into place (mode 0600); in a dry run, only says what it would do.
    ///
    /// - Throws: ``KeywardError`` naming the file, never a value.
    public func write(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        let files = try render(material)
        let changed = files.filter { Self.contents(of: $0.path) != $0.bytes }
        guard !changed.isEmpty else { return .unchanged }
        if context.dryRun { return .written }
        try Self.makeDirectory(directory)
        for file in changed { try Self.replace(file.path, with: file.bytes) }
        return .written
    }

    public func plan(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        try render(material).contains { Self.contents(of: $0.path) != $0.bytes } ? .written : .unchanged
    }

    /// Every key's value as it is on disk: what a reader of the directory gets (the conformance
    /// suite's read-back). A file whose name is not a key is ignored.
    public static func read(directory: String) throws -> [String: [UInt8]] {
        var values: [String: [UInt8]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where isFileName(name) {
            values[name] = contents(of: directory + "/" + name)
        }
        return values
    }

    // MARK: - files

    private func render(_ material: [EntityMaterial]) throws -> [(path: String, bytes: [UInt8])] {
        try SinkKeys.pairs(for: material, keys: keys).map { pair in
            let file = lowercase ? pair.key.lowercased() : pair.key
            guard Self.isFileName(file) else { throw KeywardError.usage("sink '\(name)': key \(pair.key) is not a file name") }
            return (directory + "/" + file, pair.value.withRevealedBytes { Array($0) })
        }
    }

    static func isFileName(_ text: String) -> Bool {
        !text.isEmpty && !text.hasPrefix(".") && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
    }

    private static func contents(of path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map(Array.init)
    }

    private static func makeDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw KeywardError.operationFailed("cannot create the directory \(path)")
        }
    }

    /// Writes `bytes` to a new 0600 file beside `path`, flushes it, and renames it over `path`.
    private static func replace(_ path: String, with bytes: [UInt8]) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeywardError.operationFailed("cannot create \(temporary): errno \(errno)") }
        var written = 0
        let ok = bytes.withUnsafeBytes { buffer -> Bool in
            while written < buffer.count {
                let count = systemWrite(fd, buffer.baseAddress! + written, buffer.count - written)
                if count < 0 { if errno == EINTR { continue }; return false }
                written += count
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw KeywardError.operationFailed("cannot write \(path): errno \(errno)")
        }
    }
}

/// `write(2)`, named apart from the sink's own `write`.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, buffer, count)
    #else
    Darwin.write(fd, buffer, count)
    #endif
}

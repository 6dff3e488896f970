import Foundation
import KeywardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `describe` answers by the executable's resolved path, size and modification time (ns) and
/// the argv (DESIGN.md, "Plugins"), so that a command that only delivers what the vault holds
/// spawns no plugin just to load the configuration: in memory for the process, and on disk in
/// `$XDG_CACHE_HOME/keyward/plugins/` (default `~/.cache/keyward/plugins/`; the directory 0700,
/// one JSON file per key, 0600, written atomically). Modifying the plugin changes its key.
///
/// A cache entry that cannot be read, does not decode or holds another key (a hash collision) is
/// ignored and rewritten; a cache that cannot be written costs only a `describe` next time. A
/// cache directory that another user owns is not used at all (its answers could be planted).
enum DescribeCache {
    struct Key: Hashable, Codable {
        var path: String
        var size: Int64
        var modifiedNanoseconds: Int64
        var command: [String]
        /// `path:size:modifiedNanoseconds` of each argument of `command` that names a file (an
        /// interpreter's script).
        var argumentFiles: [String] = []
    }

    /// One file on disk.
    private struct Entry: Codable {
        var version = 1
        var key: Key
        var description: StoredDescription
    }

    /// ``ExternalPluginDescription`` as stored (its option kinds by their protocol names).
    private struct StoredDescription: Codable {
        struct Option: Codable {
            var type: String
            var required: Bool
        }
        var kind: String
        var name: String
        var protocols: [Int]
        var capabilities: [String]
        var options: [String: Option]

        init(_ description: ExternalPluginDescription) {
            kind = description.kind.rawValue
            name = description.name
            protocols = description.protocols
            capabilities = description.capabilities
            options = description.options.mapValues { Option(type: ExternalPluginDescription.Option.typeName(of: $0.kind), required: $0.required) }
        }

        var description: ExternalPluginDescription? {
            guard let kind = PluginKind(rawValue: kind) else { return nil }
            var result: [String: ExternalPluginDescription.Option] = [:]
            for (name, option) in options {
                guard let optionKind = ExternalPluginDescription.Option.kind(named: option.type) else { return nil }
                result[name] = .init(kind: optionKind, required: option.required)
            }
            return ExternalPluginDescription(kind: kind, name: name, protocols: protocols, capabilities: capabilities, options: result)
        }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var memory: [Key: ExternalPluginDescription] = [:]

    /// The cached answer for `key`: from memory, else from disk (then kept in memory).
    static func lookUp(_ key: Key, environment: [String: String]) -> ExternalPluginDescription? {
        if let found = lock.withLock({ memory[key] }) { return found }
        guard let file = file(for: key, environment: environment, creating: false), isPrivate(file),
            let data = FileManager.default.contents(atPath: file),
            let entry = try? JSONDecoder().decode(Entry.self, from: data), entry.version == 1, entry.key == key,
            let description = entry.description.description
        else { return nil }
        lock.withLock { memory[key] = description }
        return description
    }

    /// Keeps `description` in memory and writes it to disk (errors ignored: the cache is an
    /// optimisation).
    /// Whether an answer on disk may be trusted: the file and its directory are yours, and
    /// neither group nor others can write them (a forged answer would skip the option checks).
    /// A file that fails is ignored, and replaced by the next ``store(_:for:environment:)``.
    static func isPrivate(_ file: String) -> Bool {
        for path in [file, (file as NSString).deletingLastPathComponent] {
            var status = stat()
            guard lstat(path, &status) == 0, status.st_uid == geteuid(), status.st_mode & 0o022 == 0 else { return false }
        }
        return true
    }

    static func store(_ description: ExternalPluginDescription, for key: Key, environment: [String: String]) {
        lock.withLock { memory[key] = description }
        guard let file = file(for: key, environment: environment, creating: true) else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(Entry(key: key, description: StoredDescription(description))) else { return }
        let temporary = file + ".\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        let written = data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let count = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 { if errno == EINTR { continue } else { return false } }
                offset += count
            }
            return true
        }
        close(descriptor)
        if !written || rename(temporary, file) != 0 { unlink(temporary) }
    }

    /// Forgets what is in memory (tests).
    static func clearMemory() {
        lock.withLock { memory.removeAll() }
    }

    /// The cache directory: `$XDG_CACHE_HOME/keyward/plugins` (an absolute `XDG_CACHE_HOME`
    /// only, as the XDG spec says), else `$HOME/.cache/keyward/plugins`; `nil` without either.
    static func directory(environment: [String: String]) -> String? {
        if let base = environment["XDG_CACHE_HOME"], base.hasPrefix("/") { return base + "/keyward/plugins" }
        if let home = environment["HOME"], home.hasPrefix("/") { return home + "/.cache/keyward/plugins" }
        return nil
    }

    /// The file of `key` (its FNV-1a 64 hash in hex), in a cache directory owned by the user
    /// and closed to group and others (made so when `creating`); `nil` when there is none.
    private static func file(for key: Key, environment: [String: String], creating: Bool) -> String? {
        guard let directory = directory(environment: environment) else { return nil }
        var status = stat()
        if lstat(directory, &status) != 0 {
            guard creating, (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                                     attributes: [.posixPermissions: 0o700])) != nil,
                lstat(directory, &status) == 0
            else { return nil }
        }
        guard status.st_mode & mode_t(S_IFMT) == mode_t(S_IFDIR), status.st_uid == geteuid() else { return nil }
        if status.st_mode & 0o077 != 0 {
            guard creating, chmod(directory, 0o700) == 0 else { return nil }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let bytes = try? encoder.encode(key) else { return nil }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return directory + "/" + String(format: "%016llx", hash) + ".json"
    }
}

import Foundation
import KeywardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finding an external plugin, checking that only its user can change it, and its cached
/// `describe` answer (DESIGN.md, "Plugins": trust model; `describe` cached by the executable's
/// path, size and modification time).
enum PluginResolution {
    /// Resolves an entry to the argv every call uses and the plugin's `describe` answer.
    ///
    /// - `type: external`: `command[0]` is an absolute path, a path with a `/` resolved against
    ///   `directory` (the configuration's), or a bare name looked up on `PATH`.
    /// - any other type: `keyward-KIND-TYPE` looked up on `PATH`.
    ///
    /// `PATH` is `environment["PATH"]`; only its absolute directories are searched (an empty or
    /// relative entry would make the plugin depend on the directory Keyward is run from), in
    /// order, and the first entry that exists wins, like a shell: when it is not executable, it
    /// is refused, never skipped for a later one.
    ///
    /// - Throws: ``ExternalPluginLookupError/notFound(executable:searched:)`` when the name is on
    ///   no searched directory; ``ExternalPluginLookupError/unusable(_:)`` naming the path and the
    ///   fix when the file is missing, not a regular executable file, not owned by the user or
    ///   root, writable by group or others (it or its directory, the link's and the target's,
    ///   or a directory above them), for a `type` that is not a type name, or when `describe`
    ///   fails.
    static func resolve(kind: PluginKind, type: String, command: [String]?, directory: String, environment: [String: String],
                        timeout: Duration) throws(ExternalPluginLookupError) -> (command: [String], description: ExternalPluginDescription) {
        let wanted: [String]
        if type == "external" {
            guard let command, let first = command.first, !first.isEmpty else {
                throw .unusable("command: missing (a `type: external` entry needs the plugin as a list, argv form)")
            }
            wanted = command
        } else {
            guard PluginKind.isTypeName(type) else {
                throw .unusable("'\(type)' is not a plugin type name (lower-case letters, digits and '-', starting with a letter or digit)")
            }
            wanted = [try lookUp("keyward-\(kind.rawValue)-\(type)", environment: environment)]
        }
        let (argv, identity, argumentFiles) = try locate(wanted, directory: directory, environment: environment)
        let key = DescribeCache.Key(path: identity.path, size: identity.size, modifiedNanoseconds: identity.modifiedNanoseconds, command: argv,
                                    argumentFiles: argumentFiles)
        if let cached = DescribeCache.lookUp(key, environment: environment) { return (argv, cached) }
        let description: ExternalPluginDescription
        do {
            description = try ExternalPlugin(command: argv, directory: directory, timeout: timeout, processEnvironment: environment)
                .describe(expecting: nil)
        } catch {
            throw .unusable("\(argv[0]): describe failed: \(error.message)")
        }
        DescribeCache.store(description, for: key, environment: environment)
        return (argv, description)
    }

    /// Finds `command[0]` (an absolute path, a path with a `/` resolved against `directory`, or a
    /// bare name looked up on `PATH`) and applies the trust check to it and to every argument
    /// that names a regular file (the script an interpreter runs: `[python3, plugin.py]` is
    /// what really runs). Used by configuration loading and by `keyward plugin test`, so both
    /// refuse the same plugins.
    ///
    /// - Returns: the argv every call uses (`command[0]` absolute), the executable's identity
    ///   and each argument file as `path:size:mtime` (for the `describe` cache key).
    /// - Throws: ``ExternalPluginLookupError`` as ``resolve(kind:type:command:directory:environment:timeout:)``.
    static func locate(_ command: [String], directory: String, environment: [String: String])
        throws(ExternalPluginLookupError) -> (command: [String], identity: Identity, argumentFiles: [String])
    {
        guard let program = command.first, !program.isEmpty else { throw .unusable("no plugin named (the command is empty)") }
        let arguments = Array(command.dropFirst())
        let found: String
        if program.hasPrefix("/") {
            found = standardized(program)
        } else if program.contains("/") {
            found = standardized(directory + "/" + program)
        } else {
            found = try lookUp(program, environment: environment)
        }
        let identity = try checkTrust(found)
        var argumentFiles: [String] = []
        for argument in arguments where !argument.hasPrefix("-") {
            let path = argument.hasPrefix("/") ? standardized(argument) : standardized(directory + "/" + argument)
            var status = stat()
            guard stat(path, &status) == 0, status.st_mode & mode_t(S_IFMT) == mode_t(S_IFREG) else { continue }
            let file = try checkTrust(path, role: "file \(argument) the plugin runs", executable: false)
            argumentFiles.append("\(file.path):\(file.size):\(file.modifiedNanoseconds)")
        }
        return ([found] + arguments, identity, argumentFiles)
    }

    /// The directories of `PATH` that are searched: the absolute ones, in order, each once.
    static func searchPath(_ environment: [String: String]) -> [String] {
        var seen: Set<String> = []
        return (environment["PATH"] ?? "").split(separator: ":", omittingEmptySubsequences: true).map(String.init)
            .filter { $0.hasPrefix("/") && seen.insert($0).inserted }
    }

    /// The first `dir/name` on the search path that exists (as a file or a link).
    static func lookUp(_ name: String, environment: [String: String]) throws(ExternalPluginLookupError) -> String {
        let directories = searchPath(environment)
        for directory in directories {
            let candidate = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var status = stat()
            if lstat(candidate, &status) == 0 { return candidate }
        }
        throw .notFound(executable: name, searched: directories)
    }

    /// The file a checked plugin path resolves to, for the `describe` cache.
    struct Identity: Equatable {
        /// With every symbolic link resolved.
        var path: String
        var size: Int64
        var modifiedNanoseconds: Int64
    }

    /// DESIGN.md's trust model: the plugin runs as the user, so only the user (or root) may be
    /// able to change it. Refuses a path that does not exist, a target that is not a regular
    /// file or not executable, and a file or directory (the one holding the path as written
    /// and, for a symbolic link, the one holding its target) that group or others can write or
    /// that another user owns. A sticky shared directory such as /tmp is refused too: anyone
    /// there can create the name before the user does. Every directory above them is checked
    /// as well (``checkAncestors(of:plugin:role:)``): sticky ones are allowed there.
    ///
    /// - Parameters:
    ///   - role: what the path is, in messages ("plugin", or a file the plugin's command names).
    ///   - executable: whether it must be executable (an interpreter's script need not be).
    static func checkTrust(_ path: String, role: String = "plugin", executable: Bool = true) throws(ExternalPluginLookupError) -> Identity {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            throw .unusable("\(path) does not exist")
        }
        try checkDirectory(directoryOf(path), plugin: path, role: role)
        guard let resolved = realPath(path) else {
            throw .unusable("\(path) is a symbolic link to nothing")
        }
        if directoryOf(resolved) != directoryOf(path) { try checkDirectory(directoryOf(resolved), plugin: path, role: role) }
        try checkAncestors(of: directoryOf(path), plugin: path, role: role)
        if directoryOf(resolved) != directoryOf(path) { try checkAncestors(of: directoryOf(resolved), plugin: path, role: role) }
        guard stat(resolved, &status) == 0 else { throw .unusable("\(path) cannot be read: \(String(cString: strerror(errno)))") }
        let shown = resolved == path ? path : "\(path) (\(resolved))"
        guard status.st_mode & mode_t(S_IFMT) == mode_t(S_IFREG) else {
            throw .unusable("\(shown) is not a regular file, so it cannot be a \(role)")
        }
        guard !executable || (status.st_mode & 0o111 != 0 && access(resolved, X_OK) == 0) else {
            throw .unusable("\(shown) is not executable: run `chmod u+x \(resolved)`")
        }
        try checkOwner(status, path: resolved, what: "the \(role) \(shown)")
        guard status.st_mode & 0o022 == 0 else {
            throw .unusable("the \(role) \(shown) can be written by group or others, who could change what runs as you: run `chmod go-w \(resolved)`")
        }
        #if canImport(Darwin)
        let modified = Int64(status.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(status.st_mtimespec.tv_nsec)
        #else
        let modified = Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
        #endif
        return Identity(path: resolved, size: Int64(status.st_size), modifiedNanoseconds: modified)
    }

    private static func checkDirectory(_ directory: String, plugin: String, role: String = "plugin") throws(ExternalPluginLookupError) {
        var status = stat()
        guard stat(directory, &status) == 0 else {
            throw .unusable("the directory \(directory) of the \(role) \(plugin) cannot be read: \(String(cString: strerror(errno)))")
        }
        try checkOwner(status, path: directory, what: "the directory \(directory) holding the \(role) \(plugin)")
        guard status.st_mode & 0o022 == 0 else {
            if status.st_mode & mode_t(S_ISVTX) != 0 {
                throw .unusable("the directory \(directory) holding the \(role) \(plugin) can be written by others (a shared directory like /tmp): "
                    + "move it to a directory only you can write, e.g. ~/.local/bin")
            }
            throw .unusable("the directory \(directory) holding the \(role) \(plugin) can be written by group or others, who could replace it: run `chmod go-w \(directory)`")
        }
    }

    /// Every directory above `directory`, up to `/`: whoever can write one can rename what it
    /// holds (the plugin's directory among them) and put another in its place. Each must belong
    /// to the user or root and be closed to group and others' writes, unless it is sticky (like
    /// /tmp: others cannot rename an entry they do not own there).
    private static func checkAncestors(of directory: String, plugin: String, role: String) throws(ExternalPluginLookupError) {
        var current = directory
        while current != "/" {
            current = directoryOf(current)
            var status = stat()
            guard stat(current, &status) == 0 else { continue }
            try checkOwner(status, path: current, what: "the directory \(current) above the \(role) \(plugin)")
            if status.st_mode & 0o022 != 0 && status.st_mode & mode_t(S_ISVTX) == 0 {
                throw .unusable("the directory \(current) above the \(role) \(plugin) can be written by group or others, who could rename what it holds "
                    + "and put something else in its place: run `chmod go-w \(current)`")
            }
        }
    }

    private static func checkOwner(_ status: stat, path: String, what: String) throws(ExternalPluginLookupError) {
        let owner = status.st_uid
        guard owner == geteuid() || owner == 0 else {
            throw .unusable("\(what) belongs to another user (uid \(owner)), who could change what runs as you: use a copy you own (`chown`)")
        }
    }

    static func directoryOf(_ path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? "/" : directory
    }

    static func standardized(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

extension ExternalPlugin {
    /// The argv a plugin command runs as, found and trust-checked as configuration loading does
    /// (DESIGN.md, "Plugins": trust model): `command[0]` an absolute path, a path with a `/`
    /// resolved against `directory`, or a bare name looked up on `environment["PATH"]`'s
    /// absolute directories; it and every argument naming a regular file only the user (or
    /// root) can change.
    ///
    /// - Returns: `command` with `command[0]` made absolute.
    /// - Throws: ``ExternalPluginLookupError/notFound(executable:searched:)`` for a bare name on
    ///   no searched directory; ``ExternalPluginLookupError/unusable(_:)`` naming the path and
    ///   the fix otherwise.
    public static func locate(_ command: [String], directory: String, environment: [String: String]) throws(ExternalPluginLookupError) -> [String] {
        try PluginResolution.locate(command, directory: directory, environment: environment).command
    }
}

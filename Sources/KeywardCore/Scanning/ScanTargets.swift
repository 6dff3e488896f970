import Foundation

/// The files `keyward scan PATH…` reads (DESIGN.md, "Leak scanning and masked output"):
/// directories are walked without following symbolic links, `.git` directories are skipped,
/// and so is every path that a `.keywardscanignore` pattern matches, and `/proc` and `/sys`. A
/// walk returns only regular files (a FIFO or device would block or never end); a path named
/// on the command line is followed if it is a symbolic link, and read if it is a pipe or a
/// character device (`<(cmd)`, `/dev/stdin`).
///
/// `.keywardscanignore` (read from the current directory and from each directory given): one
/// pattern per line, `#` starts a comment line, blank lines are ignored. A pattern without `/`
/// matches any file or directory with that name (`*.min.js`, `node_modules`); a pattern with
/// `/` matches the path relative to the ignore file's directory (`testdata/*.bin`; a leading
/// `/` is dropped); a trailing `/` matches directories only. Globs are fnmatch(3)'s (`*` `?`
/// `[…]`), with `*` not crossing `/`.
public struct ScanTargets: Sendable {
    /// A path that could not be walked or does not exist.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// The path.
        public var path: String
        /// What is wrong (`errno` text).
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    struct IgnoreRule: Sendable, Hashable {
        var pattern: String
        var anchored: Bool
        var directoryOnly: Bool
        var base: String
    }

    private var rules: [IgnoreRule] = []

    /// Rules from the `.keywardscanignore` in `directory`, if there is one.
    public init(ignoreFilesIn directories: [String] = ["."]) {
        for directory in Set(directories) { rules += Self.readRules(in: directory) }
    }

    static func readRules(in directory: String) -> [IgnoreRule] {
        let path = directory == "." ? ".keywardscanignore" : directory + "/.keywardscanignore"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        var result: [IgnoreRule] = []
        for raw in text.split(whereSeparator: \.isNewline) {
            var line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let directoryOnly = line.hasSuffix("/")
            if directoryOnly { line.removeLast() }
            let anchored = line.contains("/")
            if line.hasPrefix("/") { line.removeFirst() }
            guard !line.isEmpty else { continue }
            result.append(IgnoreRule(pattern: line, anchored: anchored, directoryOnly: directoryOnly, base: directory))
        }
        return result
    }

    /// Whether `path` (a file, or a directory when `isDirectory`) is ignored.
    public func isIgnored(_ path: String, isDirectory: Bool) -> Bool {
        let name = (path as NSString).lastPathComponent
        if isDirectory && name == ".git" { return true }
        for rule in rules where !rule.directoryOnly || isDirectory {
            if rule.anchored {
                let relative = Self.relative(path, to: rule.base)
                if let relative, fnmatch(rule.pattern, relative, FNM_PATHNAME) == 0 { return true }
            } else if fnmatch(rule.pattern, name, 0) == 0 {
                return true
            }
        }
        return false
    }

    static func relative(_ path: String, to base: String) -> String? {
        let trimmed = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
        if base == "." { return trimmed.hasPrefix("/") ? nil : trimmed }
        let prefix = base.hasSuffix("/") ? base : base + "/"
        return trimmed.hasPrefix(prefix) ? String(trimmed.dropFirst(prefix.count)) : nil
    }

    /// The regular files under `paths`, sorted by path, and the paths that could not be read.
    public func files(under paths: [String]) -> (files: [String], problems: [Problem]) {
        var files: [String] = []
        var problems: [Problem] = []
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0 else {
                problems.append(Problem(path: path, reason: String(cString: strerror(errno))))
                continue
            }
            switch info.st_mode & S_IFMT {
            // A pipe (`<(cmd)`, /dev/stdin) or device named explicitly is read as it comes.
            case S_IFREG, S_IFIFO, S_IFCHR: files.append(path)
            case S_IFDIR: walk(path, into: &files, problems: &problems)
            default: problems.append(Problem(path: path, reason: "not a regular file, pipe or directory"))
            }
        }
        return (files.sorted(), problems)
    }

    private func walk(_ directory: String, into files: inout [String], problems: inout [Problem]) {
        // /proc and /sys hold files that never end (and none a user wrote a secret into).
        if let resolved = realpath(directory, nil) {
            let path = String(cString: resolved)
            free(resolved)
            if ["/proc", "/sys"].contains(where: { path == $0 || path.hasPrefix($0 + "/") }) { return }
        }
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            problems.append(Problem(path: directory, reason: String(cString: strerror(errno == 0 ? EACCES : errno))))
            return
        }
        for entry in entries.sorted() {
            let path = directory == "." ? entry : (directory.hasSuffix("/") ? directory + entry : directory + "/" + entry)
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                if !isIgnored(path, isDirectory: true) { walk(path, into: &files, problems: &problems) }
            case S_IFREG:
                if !isIgnored(path, isDirectory: false) { files.append(path) }
            default:
                continue  // symbolic links are not followed in a walk; FIFOs, sockets and devices are not files
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

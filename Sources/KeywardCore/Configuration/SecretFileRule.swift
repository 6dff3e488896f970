import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one rule for files Keyward reads a secret from (DESIGN.md, "Files and defaults"): the
/// key file, the passphrase file, `file:` references. Such a file is refused when group or
/// others may read it or another user owns it; the caller picks the exit code (4 for the
/// unlock files, 2 for the rest), this type only says what is wrong and the command that fixes
/// it.
public enum SecretFileRule {
    /// What is wrong with the file at `path` (the target, when it is a symbolic link), or `nil`
    /// when it follows the rule or does not exist (a missing file is the caller's to report).
    ///
    /// - Parameters:
    ///   - path: the file, as the user named it (it is repeated in the message).
    ///   - what: how the message names the file, e.g. `KEYWARD_KEY_FILE` or `file: reference`.
    /// - Returns: one sentence naming the file, its mode or owner, and the `chmod` (or `chown`)
    ///   that fixes it, e.g. `… is open to group or others (mode 0644): run chmod 600 PATH`.
    public static func problem(path: String, what: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let mode = UInt16(info.st_mode & 0o7777)
        if info.st_uid != geteuid() {
            return "\(what) \(path) is owned by another user (uid \(info.st_uid)); a file holding a secret must be yours "
                + "and private: run chown \(geteuid()) \(path) && chmod 600 \(path)"
        }
        if mode & 0o077 != 0 {
            return "\(what) \(path) is open to group or others (mode \(String(format: "%04o", mode))); "
                + "a file holding a secret must be private: run chmod 600 \(path)"
        }
        return nil
    }

    /// What stops Keyward from reading the secret file at `path` now: it is missing, not a
    /// regular file (after symbolic links), breaks ``problem(path:what:)``, or cannot be
    /// opened for reading; `nil` when it can be read. For a file named in the configuration
    /// (`file:` references), which every run reads, so that its absence is a configuration
    /// error at load (exit 2) like its permissions, not a failure later in the run.
    ///
    /// - Returns: one sentence naming the file, e.g. `the file /etc/k/pw does not exist`.
    public static func readProblem(path: String, what: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT { return "\(what) \(path) does not exist" }
            return "\(what) \(path) cannot be read: \(String(cString: strerror(code)))"
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return "\(what) \(path) is not a regular file"
        }
        if let problem = problem(path: path, what: what) { return problem }
        guard access(path, R_OK) == 0 else {
            return "\(what) \(path) cannot be read: \(String(cString: strerror(errno)))"
        }
        return nil
    }
}

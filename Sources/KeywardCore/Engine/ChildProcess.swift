import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts a hook or plugin process the way DESIGN.md's "Plugins" runs both: argv (no shell), in
/// a directory, with exactly the given environment, in its own process group (so a timeout
/// reaches what it starts), with default signal dispositions (Keyward ignores SIGPIPE; a child
/// must not inherit that) and no blocked signals. Shared by ``HookRunner`` and the external
/// plugins' runner.
package enum ChildProcess {
    /// Spawns `command`.
    ///
    /// - Parameters:
    ///   - command: argv; `command[0]` is looked up on the environment's `PATH` only when
    ///     `searchPath` is true (a hook named by a bare name), never for a resolved plugin path.
    ///   - directory: the working directory; `nil` keeps Keyward's.
    ///   - environment: the child's whole environment.
    ///   - fileActions: the standard streams' set-up (opens, dup2s, closes).
    /// - Returns: the child's pid (its process group id too), or why it could not start
    ///   (`strerror`'s text, or a sentence about the directory).
    package static func spawn(_ command: [String], directory: String?, environment: [String: String], searchPath: Bool,
                              fileActions: (inout posix_spawn_file_actions_t) -> Void) -> Result<pid_t, Failure> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        fileActions(&actions)
        // Nothing else of Keyward's reaches the child: not the vault's or a lock's descriptor,
        // nor another child's pipe or a script being written by another thread (a child
        // holding those would keep a pipe from ending, or make exec fail with ETXTBSY, for as
        // long as it lives).
        #if os(Linux)
        if let addCloseFrom { _ = addCloseFrom(&actions, 3) }
        let flags = Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        #else
        let flags = Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_CLOEXEC_DEFAULT)
        #endif
        if let directory {
            guard let addChdir else { return .failure(Failure(reason: "this system cannot start a command in \(directory)")) }
            guard addChdir(&actions, directory) == 0 else { return .failure(Failure(reason: "cannot start it in \(directory)")) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var everything = sigset_t()
        sigfillset(&everything)
        posix_spawnattr_setsigdefault(&attributes, &everything)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, flags)

        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        func attempt() -> Int32 {
            searchPath ? posix_spawnp(&pid, command[0], &actions, &attributes, argv, envp)
                : posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
        }
        var code = attempt()
        // ETXTBSY: a process forked elsewhere in Keyward (another thread) still holds the
        // executable open for writing for a moment (a freshly written script); it passes.
        var retries: UInt32 = 0
        while code == ETXTBSY && retries < 20 {
            retries += 1
            usleep(5_000 * retries)
            code = attempt()
        }
        guard code == 0 else { return .failure(Failure(reason: String(cString: strerror(code)))) }
        return .success(pid)
    }

    /// Why a child could not be started.
    package struct Failure: Error {
        package var reason: String
    }

    #if os(Linux)
    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34): closes every descriptor from the
    /// given one up in the child. Looked up at run time like ``addChdir``; on an older glibc the
    /// child inherits what is not close-on-exec, as before.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()
    #endif

    /// `posix_spawn_file_actions_addchdir_np` (glibc 2.29, macOS 10.15), looked up at run time:
    /// the Swift module does not import it.
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private static let addChdir: AddChdir? = {
        #if os(Linux)
        let handle: UnsafeMutableRawPointer? = nil  // RTLD_DEFAULT
        #else
        let handle = UnsafeMutableRawPointer(bitPattern: -2)  // RTLD_DEFAULT
        #endif
        guard let symbol = dlsym(handle, "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: AddChdir.self)
    }()
}

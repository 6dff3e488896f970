import Foundation
import Hummingbird
import KeywardCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ListenAddress {
    /// `--token-listen`'s address (DESIGN.md, "Operability"): a loopback address with a port
    /// (`127.0.0.0/8`, `[::1]`, `localhost`; port 0 picks a free one) or `unix:PATH`, nothing
    /// else: the endpoint hands out live credentials and is never reachable from the network.
    ///
    /// - Throws: ``KeywardError`` (usage, exit 2) for anything else, naming the option.
    static func tokenListen(_ text: String) throws -> ListenAddress {
        let address: ListenAddress
        do {
            address = try ListenAddress(parsing: text)
        } catch {
            throw KeywardError.usage("--token-listen: \(error.description)")
        }
        guard address.isLoopback else {
            throw KeywardError.usage("--token-listen: '\(text)' is not a loopback address (127.0.0.1:PORT, [::1]:PORT, localhost:PORT) or unix:PATH; the token endpoint never listens beyond this host")
        }
        return address
    }
}

/// The socket file of a `unix:PATH` listener (`--token-listen`, `--metrics-listen`).
enum UnixSocketPath {
    /// Why a new socket cannot be made at `path`, without changing anything: something other
    /// than a socket is there, or a process listens on the socket there; `nil` when nothing is
    /// there or the socket there is stale (nobody listens: the connection is refused).
    static func problem(_ path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        guard info.st_mode & S_IFMT == S_IFSOCK else { return "something other than a socket is there; refusing to replace it" }
        switch connectionError(path) {
        case ECONNREFUSED: return nil
        case 0: return "another process listens on that socket"
        case let code: return "cannot tell whether the socket there is in use (\(String(cString: strerror(code)))); refusing to replace it"
        }
    }

    /// Makes `path` free for a new socket: nothing there; a stale socket is removed.
    ///
    /// - Parameter option: the option that named it (`--token-listen`), for the message.
    /// - Throws: ``KeywardError`` (usage, exit 2) when ``problem(_:)`` names one, or the stale
    ///   socket cannot be removed.
    static func prepare(_ path: String, option: String) throws {
        if let problem = problem(path) { throw KeywardError.usage("\(option) unix:\(path): \(problem)") }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw KeywardError.usage("\(option) unix:\(path): cannot remove the stale socket: \(String(cString: strerror(errno)))")
        }
    }

    /// What connecting to the unix socket at `path` gives: 0 when a process accepts, else the
    /// errno (`ECONNREFUSED` when nobody listens).
    private static func connectionError(_ path: String) -> Int32 {
        #if canImport(Glibc)
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { return errno }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0 ? 0 : errno
    }
}

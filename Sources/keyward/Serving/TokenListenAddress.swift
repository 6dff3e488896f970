import Foundation
import Hummingbird
import KeywardCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the token endpoint listens (DESIGN.md, "Operability"): a loopback address with a port
/// (`127.0.0.0/8`, `::1`, `localhost`; port 0 picks a free one) or `unix:PATH`, nothing else.
struct TokenListenAddress: Sendable {
    enum Kind: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    let kind: Kind
    /// As the user wrote it, for messages.
    let text: String

    var bindAddress: BindAddress {
        switch kind {
        case .tcp(let host, let port): .hostname(host, port: port)
        case .unix(let path): .unixDomainSocket(path: path)
        }
    }

    /// - Throws: ``KeywardError`` (usage, exit 2) for anything but a loopback address with a
    ///   port or `unix:PATH`.
    static func parse(_ text: String) throws -> TokenListenAddress {
        let refusal = "--token-listen: '\(text)' is not a loopback address with a port (127.0.0.1:PORT, [::1]:PORT, localhost:PORT) or unix:PATH; the token endpoint never listens beyond this host"
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty, !path.contains("\0") else { throw KeywardError.usage("--token-listen: 'unix:' needs a path") }
            let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
            guard absolute.utf8.count < 108 else { throw KeywardError.usage("--token-listen: the socket path \(path) is too long (at most 107 bytes)") }
            return TokenListenAddress(kind: .unix(path: absolute), text: text)
        }
        let host: Substring, portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw KeywardError.usage(refusal) }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { throw KeywardError.usage(refusal) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = Int(portText), (0...65_535).contains(port), Self.isLoopback(String(host)) else { throw KeywardError.usage(refusal) }
        return TokenListenAddress(kind: .tcp(host: host == "localhost" ? "127.0.0.1" : String(host), port: port), text: text)
    }

    /// `localhost`, `::1`, or an IPv4 address in 127.0.0.0/8.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" { return true }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            var loopback = in6addr_loopback
            return memcmp(&v6, &loopback, MemoryLayout<in6_addr>.size) == 0
        }
        var v4 = in_addr()
        guard inet_pton(AF_INET, host, &v4) == 1 else { return false }
        return UInt32(bigEndian: v4.s_addr) >> 24 == 127
    }

    /// Makes `path` free for a new socket: nothing there; a stale socket (nobody listening:
    /// the connection is refused) is removed.
    ///
    /// - Throws: ``KeywardError`` (usage, exit 2) when something else is at `path` (a file, a
    ///   directory, a link) or a process listens on the socket there.
    static func prepareSocketPath(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw KeywardError.usage("--token-listen unix:\(path): something other than a socket is there; refusing to replace it")
        }
        guard !Self.someoneListens(path) else {
            throw KeywardError.usage("--token-listen unix:\(path): another process listens on that socket")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw KeywardError.usage("--token-listen unix:\(path): cannot remove the stale socket: \(String(cString: strerror(errno)))")
        }
    }

    /// Whether a connection to the unix socket at `path` is accepted.
    private static func someoneListens(_ path: String) -> Bool {
        #if canImport(Glibc)
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { return false }
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
        return result == 0
    }
}

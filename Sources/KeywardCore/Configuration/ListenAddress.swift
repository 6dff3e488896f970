import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where one of `keyward schedule run`'s listeners binds (DESIGN.md, "Operability"):
/// `--metrics-listen` takes any address, `--token-listen` a loopback one or a unix socket.
///
/// Accepted forms:
/// - `HOST:PORT`: an IPv4 literal (`127.0.0.1:9464`, `0.0.0.0:9464`), `localhost`, or a host
///   name (resolved when the listener binds);
/// - `[IPV6]:PORT`: an IPv6 literal in brackets (`[::1]:9464`), as in RFC 3986's authority;
/// - `:PORT`: every IPv4 interface (`0.0.0.0`);
/// - `unix:PATH`: a unix domain socket; a relative path is taken from the current directory.
///
/// `PORT` is a decimal number from 0 to 65535; 0 asks the system for a free port.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// A TCP listener on `host` (an IP literal or a host name; `localhost` is kept as written)
    /// and `port`.
    case tcp(host: String, port: Int)
    /// A unix domain socket at an absolute `path`.
    case unix(path: String)

    /// The longest unix socket path the kernel accepts (`sizeof(sun_path) - 1`, 107 bytes on Linux).
    public static let longestSocketPath = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// Parses `text` as one of the accepted forms.
    ///
    /// - Parameters:
    ///   - text: what the user gave.
    ///   - currentDirectory: the directory a relative `unix:` path is taken from.
    /// - Throws: ``ListenAddressError`` naming what is wrong (the caller prefixes its option name).
    public init(parsing text: String, currentDirectory: String = FileManager.default.currentDirectoryPath) throws(ListenAddressError) {
        if text.hasPrefix("unix:") {
            let raw = String(text.dropFirst("unix:".count))
            guard !raw.isEmpty else { throw ListenAddressError("unix: needs a socket path, as in unix:/run/keyward/tokens.sock") }
            guard !raw.utf8.contains(0) else { throw ListenAddressError("the socket path contains a NUL byte") }
            // `.` and `..` resolved (lexically), so one socket has one spelling.
            let joined = raw.hasPrefix("/") ? raw : (currentDirectory.hasSuffix("/") ? currentDirectory : currentDirectory + "/") + raw
            let path = joined.hasSuffix("/") ? joined : URL(fileURLWithPath: joined).standardized.path
            guard path.utf8.count <= Self.longestSocketPath else {
                throw ListenAddressError("the socket path is \(path.utf8.count) bytes long; a unix socket path holds at most \(Self.longestSocketPath)")
            }
            guard !path.hasSuffix("/") else { throw ListenAddressError("the socket path \(path) names a directory") }
            self = .unix(path: path)
            return
        }
        if text.contains("://") {
            throw ListenAddressError("'\(text)' is a URL; give the address alone: HOST:PORT, [IPV6]:PORT, :PORT or unix:PATH")
        }
        if text.hasPrefix("["), text.hasSuffix("]") {
            throw ListenAddressError("'\(text)' has no port: write [IPV6]:PORT, as in [::1]:8080")
        }
        guard let colon = text.lastIndex(of: ":") else {
            throw ListenAddressError("'\(text)' has no port: write HOST:PORT (127.0.0.1:8080), [IPV6]:PORT, :PORT or unix:PATH")
        }
        let hostPart = text[..<colon], portPart = text[text.index(after: colon)...]
        guard !portPart.isEmpty, portPart.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), portPart.utf8.count <= 5,
            let port = Int(portPart), port <= 65_535
        else { throw ListenAddressError("'\(portPart)' is not a port number from 0 to 65535") }
        let host: String
        if hostPart.hasPrefix("[") {
            guard hostPart.hasSuffix("]"), hostPart.count > 2 else { throw ListenAddressError("'\(hostPart)' is not an IPv6 address in brackets") }
            host = String(hostPart.dropFirst().dropLast())
            guard Self.isIPv6(host) else { throw ListenAddressError("'\(host)' is not an IPv6 address") }
        } else if hostPart.isEmpty {
            host = "0.0.0.0"
        } else {
            host = String(hostPart)
            guard !host.contains(":") else { throw ListenAddressError("write an IPv6 address in brackets, as in [::1]:\(port)") }
            guard Self.isIPv4(host) || Self.isHostName(host) else { throw ListenAddressError("'\(host)' is not an IP address or a host name") }
        }
        self = .tcp(host: host, port: port)
    }

    /// Whether only this machine can connect: an IPv4 address in 127.0.0.0/8, `::1`,
    /// `localhost`, or a unix socket. A host name other than `localhost` is not (it may resolve
    /// elsewhere).
    public var isLoopback: Bool {
        switch self {
        case .unix: return true
        case .tcp(let host, _):
            if host.lowercased() == "localhost" { return true }
            var v4 = in_addr()
            if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
            var v6 = in6_addr()
            if inet_pton(AF_INET6, host, &v6) == 1 {
                return withUnsafeBytes(of: &v6) { bytes in bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1 }
            }
            return false
        }
    }

    /// The host to hand the socket layer: `localhost` as `127.0.0.1`, so a loopback listener
    /// never depends on name resolution; `nil` for a unix socket.
    public var bindHost: String? {
        guard case .tcp(let host, _) = self else { return nil }
        return host.lowercased() == "localhost" ? "127.0.0.1" : host
    }

    /// The base URL of a listener bound here, with `port` the port actually bound (the asked
    /// one unless it was 0): `http://127.0.0.1:9464`, `http://[::1]:9464`, or `unix:PATH`.
    public func url(boundPort port: Int?) -> String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let asked):
            let shown = Self.isIPv6(host) ? "[\(host)]" : host
            return "http://\(shown):\(port ?? asked)"
        }
    }

    /// As the user would write it.
    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return Self.isIPv6(host) ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    /// Whether two listeners here would bind the same socket: the same unix path, or the same
    /// TCP port (not 0, which picks a free one) on the same host or where either is a wildcard
    /// (`0.0.0.0`, `::`), which covers every address.
    public func overlaps(_ other: ListenAddress) -> Bool {
        switch (self, other) {
        case (.unix(let a), .unix(let b)): return a == b
        case (.tcp(_, let a), .tcp(_, let b)):
            guard a == b, a != 0 else { return false }
            let wildcard: Set<String> = ["0.0.0.0", "::"]
            let hostA = bindHost ?? "", hostB = other.bindHost ?? ""
            return hostA == hostB || wildcard.contains(hostA) || wildcard.contains(hostB)
        default: return false
        }
    }

    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }

    static func isIPv6(_ text: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1
    }

    /// RFC 1123 host names: labels of letters, digits and `-`, not starting or ending with `-`,
    /// 1-63 bytes each, 253 in all; not all digits (that would be a malformed IPv4 literal).
    static func isHostName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        let valid = labels.allSatisfy { label in
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
            return label.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D }
        }
        return valid && !text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }
    }
}

/// Why a listen address was refused; the message names the part that is wrong.
public struct ListenAddressError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

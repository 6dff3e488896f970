import Foundation
import KeywardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks at start that a listener could bind its address, so `schedule run --metrics-listen`
/// with an address in use, not assignable here, or a host name that does not resolve exits 2
/// before the first cycle rather than after it (the listener itself opens after the first cycle,
/// DESIGN.md "Operability"; a port taken in between is still reported then, the same way).
///
/// A TCP address is resolved (`getaddrinfo`, passive) and its first result bound with
/// `SO_REUSEADDR` (as the server sets it), then closed at once. Port 0 is probed too (it can
/// still fail: an address not on this machine). For `unix:PATH`, that the directory exists
/// and nothing but a stale socket is at PATH (``UnixSocketPath/problem(_:)``).
enum BindProbe {
    /// - Returns: why `address` cannot be bound, as text for "cannot listen there: …"; `nil`
    ///   when it can.
    static func problem(_ address: ListenAddress) -> String? {
        switch address {
        case .unix(let path):
            let directory = (path as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                return "the directory \(directory) does not exist"
            }
            return UnixSocketPath.problem(path)
        case .tcp(_, let port):
            let host = address.bindHost ?? "127.0.0.1"
            var hints = addrinfo()
            hints.ai_flags = AI_PASSIVE
            hints.ai_family = AF_UNSPEC
            #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            #else
            hints.ai_socktype = SOCK_STREAM
            #endif
            var result: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &result)
            guard status == 0, let first = result else {
                return "cannot resolve \(host): \(String(cString: gai_strerror(status)))"
            }
            defer { freeaddrinfo(result) }
            let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
            guard descriptor >= 0 else { return String(cString: strerror(errno)) }
            defer { close(descriptor) }
            var on: Int32 = 1
            _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            guard bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else { return String(cString: strerror(errno)) }
            return nil
        }
    }
}

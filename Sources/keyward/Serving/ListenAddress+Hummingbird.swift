import Hummingbird
import KeywardCore

extension ListenAddress {
    /// Where Hummingbird binds this address: `localhost` as `127.0.0.1` (``bindHost``).
    var bindAddress: BindAddress {
        switch self {
        case .unix(let path): return .unixDomainSocket(path: path)
        case .tcp(_, let port): return .hostname(bindHost ?? "127.0.0.1", port: port)
        }
    }
}

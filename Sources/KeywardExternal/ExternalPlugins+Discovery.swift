import Foundation
import KeywardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ExternalPlugins {
    /// A `keyward-sink-NAME` or `keyward-provider-NAME` file found on `PATH`.
    public struct Found: Sendable, Equatable {
        public var kind: PluginKind
        /// NAME: the `type` a configuration entry gives to use it.
        public var type: String
        /// Where it was found (a symbolic link is not resolved).
        public var path: String

        public init(kind: PluginKind, type: String, path: String) {
            self.kind = kind
            self.type = type
            self.path = path
        }
    }

    /// The directories of `environment["PATH"]` that plugins are looked up in: the absolute
    /// ones, in order, each once (an empty or relative entry would make the plugin depend on the
    /// directory Keyward runs in).
    public static func searchPath(environment: [String: String]) -> [String] {
        PluginResolution.searchPath(environment)
    }

    /// Every `keyward-sink-*` and `keyward-provider-*` on the search path
    /// (``searchPath(environment:)``), the first one per kind and name winning as in a shell,
    /// sorted by kind (sinks first) then name. What is listed is not checked (``resolve``
    /// refuses one that is not executable or that group or others can write).
    public static func onPath(environment: [String: String]) -> [Found] {
        var found: [String: Found] = [:]
        for directory in searchPath(environment: environment) {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for name in names.sorted() {
                for kind in PluginKind.allCases {
                    let prefix = "keyward-\(kind.rawValue)-"
                    guard name.hasPrefix(prefix), name.count > prefix.count else { continue }
                    let key = "\(kind.rawValue)/\(name)"
                    if found[key] == nil {
                        found[key] = Found(kind: kind, type: String(name.dropFirst(prefix.count)),
                                           path: directory.hasSuffix("/") ? directory + name : directory + "/" + name)
                    }
                }
            }
        }
        return found.values.sorted { ($0.kind == .sink ? 0 : 1, $0.type) < ($1.kind == .sink ? 0 : 1, $1.type) }
    }
}

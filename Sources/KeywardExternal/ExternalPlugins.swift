import Foundation
import KeywardCore

/// External plugins over protocol 1 (DESIGN.md, "Plugins"): resolves `type: external` entries
/// and types found on `PATH` as `keyward-sink-NAME` / `keyward-provider-NAME`, checks who may
/// write them, calls and caches their `describe`, and builds their sinks and providers.
public struct ExternalPlugins: ExternalPluginResolving {
    public init() {}

    /// Makes `registry` resolve external plugins.
    public static func register(in registry: inout PluginRegistry) {
        registry.externalPlugins = ExternalPlugins()
    }

    public func resolve(kind: PluginKind, type: String, command: [String]?, directory: String, environment: [String: String],
                        timeout: Duration) throws(ExternalPluginLookupError) -> (command: [String], description: ExternalPluginDescription) {
        try PluginResolution.resolve(kind: kind, type: type, command: command, directory: directory, environment: environment, timeout: timeout)
    }

    public func makeSink(_ configuration: SinkConfiguration, reference: ExternalPluginReference, environment: PluginEnvironment) throws -> any SecretSink {
        fatalError("wtB implements")
    }

    public func makeProvider(_ configuration: ProviderConfiguration, reference: ExternalPluginReference, environment: PluginEnvironment) throws -> any SecretProvider {
        fatalError("wtB implements")
    }
}

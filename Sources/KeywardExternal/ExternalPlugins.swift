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

    /// An ``ExternalSink``.
    public func makeSink(_ configuration: SinkConfiguration, reference: ExternalPluginReference, environment: PluginEnvironment) throws -> any SecretSink {
        ExternalSink(configuration: configuration, reference: reference, environment: environment)
    }

    /// By the capabilities of its `describe` answer: ``ExternalProvider`` (fetch),
    /// ``ExternalRotatingProvider`` (reset), ``ExternalTokenProvider`` (token) or
    /// ``ExternalRotatingTokenProvider`` (both).
    public func makeProvider(_ configuration: ProviderConfiguration, reference: ExternalPluginReference, environment: PluginEnvironment) throws -> any SecretProvider {
        let calls = ExternalProviderCalls(configuration: configuration, reference: reference, environment: environment)
        switch (reference.description.has("reset"), reference.description.has("token")) {
        case (false, false): return ExternalProvider(calls: calls)
        case (true, false): return ExternalRotatingProvider(calls: calls)
        case (false, true): return ExternalTokenProvider(calls: calls)
        case (true, true): return ExternalRotatingTokenProvider(calls: calls)
        }
    }
}

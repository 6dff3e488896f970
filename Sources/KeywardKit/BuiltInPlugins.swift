import KeywardCore
import KeywardExporters
import KeywardExternal
import KeywardOpenBao
import KeywardTokenService

/// Every plugin type this build provides, registered by its `type` name: the token-service
/// provider, the file sinks (dotenv, shell, kubernetes-secret, json), the `openbao-kv` sink and the `openbao`
/// shared store, and external plugins (protocol 1). A program that
/// embeds Keyward starts from this registry and registers its own types beside them
/// (DESIGN.md, "Plugins").
public enum BuiltInPlugins {
    /// A new registry holding every built-in provider and sink type.
    public static func registry() -> PluginRegistry {
        var registry = PluginRegistry()
        TokenServiceProvider.register(in: &registry)
        Exporters.register(in: &registry)
        // The `openbao` shared store and the `openbao-kv` sink.
        OpenBaoPlugins.register(in: &registry)
        OpenBaoKVSink.register(in: &registry)
        // `type: external` entries and types found on PATH (protocol 1).
        ExternalPlugins.register(in: &registry)
        return registry
    }
}

import KeywardCore
import KeywardExporters
import KeywardTokenService

/// The composition root's registry: every plugin type this build provides.
enum BuiltInPlugins {
    static func registry() -> PluginRegistry {
        var registry = PluginRegistry()
        TokenServiceProvider.register(in: &registry)
        Exporters.register(in: &registry)
        return registry
    }
}

import KeywardCore

/// The file sinks of this module, for the composition root (the CLI) and tests.
public enum Exporters {
    /// Registers `dotenv` (``DotenvSink``), `shell` (``ShellSink``), `kubernetes-secret`
    /// (``KubernetesSecretSink``) and `json` (``JSONSink``) in `registry`.
    public static func register(in registry: inout PluginRegistry) {
        registry.registerSink(DotenvSink.descriptor) { configuration, _ in try DotenvSink(configuration: configuration) }
        registry.registerSink(ShellSink.descriptor) { configuration, _ in try ShellSink(configuration: configuration) }
        registry.registerSink(KubernetesSecretSink.descriptor) { configuration, _ in try KubernetesSecretSink(configuration: configuration) }
        registry.registerSink(JSONSink.descriptor) { configuration, _ in try JSONSink(configuration: configuration) }
    }
}

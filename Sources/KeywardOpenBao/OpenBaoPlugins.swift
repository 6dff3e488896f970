import Foundation
import KeywardCore
import Logging

/// The plugin types of this module: the `openbao` shared store (DESIGN.md, "Beyond one machine").
public enum OpenBaoPlugins {
    /// The `shared:` section's type name.
    public static let sharedStoreType = "openbao"

    /// The `openbao` shared store as the configuration loader checks it: every problem
    /// ``SharedStoreSettings/parse(_:)`` finds, on its key's line.
    public static let sharedStoreDescriptor = SharedStoreTypeDescriptor(type: sharedStoreType) { configuration in
        do {
            _ = try SharedStoreSettings.parse(configuration)
            return []
        } catch let error as ConfigurationError {
            return error.problems.map { problem in
                let key = problem.keyPath.hasPrefix("shared.") ? String(problem.keyPath.dropFirst("shared.".count))
                    : problem.keyPath == "shared" ? "" : problem.keyPath
                return SharedStoreTypeDescriptor.Problem(key: key, message: problem.message)
            }
        } catch {
            return [.init(key: "", message: "\(error)")]
        }
    }

    /// Registers the `openbao` shared store type.
    public static func register(in registry: inout PluginRegistry) {
        registry.registerSharedStore(sharedStoreDescriptor) { configuration, environment, local, resetMargin in
            let settings = try SharedStoreSettings.parse(configuration)
            let logger = Logger(label: "keyward.openbao")
            let client = try OpenBaoClient(settings: settings.server, credentials: environment.credentials, logger: logger)
            return OpenBaoSharedStore(settings: settings, client: client, local: local, resetMargin: resetMargin, logger: logger)
        }
    }
}

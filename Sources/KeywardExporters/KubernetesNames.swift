/// Kubernetes' name rules (``KubernetesSecretOptions``'s), for the other manifests Keyward
/// prints: `schedule print --kubernetes` checks its Secret name and namespace with them.
package enum KubernetesNames {
    /// `IsDNS1123Subdomain`: what `metadata.name` of most objects must be.
    package static let subdomainRule = "a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253, starting and ending with a letter or digit"
    /// `IsDNS1123Label`: what a namespace must be.
    package static let labelRule = "a DNS-1123 label: lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit"

    package static func isDNS1123Subdomain(_ text: String) -> Bool { KubernetesSecretOptions.isDNS1123Subdomain(text) }
    package static func isDNS1123Label(_ text: String) -> Bool { KubernetesSecretOptions.isDNS1123Label(text) }
}

import KeywardCore

/// The metadata of one Kubernetes `Secret` manifest: its name, namespace, type, labels and
/// annotations (DESIGN.md, "Sinks", kubernetes-secret).
///
/// ``validate()`` applies the API server's rules (`k8s.io/apimachinery/pkg/util/validation`
/// and `pkg/apis/core/validation`), so a manifest Keyward writes is never rejected for its
/// metadata by `kubectl apply`.
public struct KubernetesSecretOptions: Sendable, Equatable {
    /// `metadata.name`: a DNS-1123 subdomain.
    public var name: String
    /// `metadata.namespace`: a DNS-1123 label, or `nil` to leave it to `kubectl apply -n`.
    public var namespace: String?
    /// The Secret's `type`, e.g. `Opaque` or `kubernetes.io/basic-auth`.
    public var type: String
    /// `metadata.labels`, written sorted by key.
    public var labels: [String: String]
    /// `metadata.annotations`, written sorted by key.
    public var annotations: [String: String]

    /// The type Kubernetes gives a Secret that names none.
    public static let defaultType = "Opaque"

    public init(name: String, namespace: String? = nil, type: String = KubernetesSecretOptions.defaultType,
                labels: [String: String] = [:], annotations: [String: String] = [:]) {
        self.name = name
        self.namespace = namespace
        self.type = type
        self.labels = labels
        self.annotations = annotations
    }

    /// The default manifest name for an entity (DESIGN.md, "Commands", export): its id
    /// lower-cased with each `_` turned into `-`, so `FIU_EXAMPLE-1` gives `fiu-example-1`.
    /// The result is not checked here; ``validate()`` does that.
    public static func defaultName(for id: EntityID) -> String {
        String(id.rawValue.lowercased().map { $0 == "_" ? "-" : $0 })
    }

    /// Checks every field against Kubernetes' rules.
    ///
    /// - `name`: a DNS-1123 subdomain: at most 253 characters, dot-separated parts of lowercase
    ///   letters, digits and `-`, each starting and ending with a letter or digit.
    /// - `namespace`: a DNS-1123 label: at most 63 characters of lowercase letters, digits and
    ///   `-`, starting and ending with a letter or digit.
    /// - `type`: `[prefix/]name` like a label key. Kubernetes itself only requires it to be
    ///   non-empty; every built-in and conventional type has this form, so a typo is caught.
    /// - label keys: `[prefix/]name`, the name at most 63 characters matching
    ///   `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, the prefix a DNS-1123 subdomain;
    ///   label values: empty, or at most 63 characters of that same pattern.
    /// - annotation keys: as label keys, checked lower-cased (as the API server does);
    ///   annotations in all (keys plus values, in bytes) at most 256 KiB.
    ///
    /// - Throws: ``KeywardError`` (usage) naming the field and the rule broken (the first of
    ///   ``problems()``).
    public func validate() throws {
        if let first = problems().first { throw KeywardError.usage("kubernetes-secret: \(first.message)") }
    }

    /// Every rule of ``validate()`` that a field breaks, in field order, each with the
    /// configuration key it comes from (`name`, `namespace`, `secretType`, `labels.KEY`,
    /// `annotations.KEY`, `annotations`), so the configuration loader can name its line.
    public func problems() -> [(field: String, message: String)] {
        var found: [(field: String, message: String)] = []
        if !Self.isDNS1123Subdomain(name) {
            found.append(("name", "name '\(name)' is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253, starting and ending with a letter or digit)"))
        }
        if let namespace, !Self.isDNS1123Label(namespace) {
            found.append(("namespace", "namespace '\(namespace)' is not a DNS-1123 label (lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit)"))
        }
        if !Self.isQualifiedName(type) {
            found.append(("secretType", "type '\(type)' is not of the form [prefix/]name (e.g. Opaque, kubernetes.io/basic-auth)"))
        }
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            if !Self.isQualifiedName(key) {
                found.append(("labels.\(key)", "label key '\(key)' is not of the form [prefix/]name (name at most 63 of [-A-Za-z0-9_.], starting and ending alphanumeric; prefix a DNS-1123 subdomain)"))
            } else if !Self.isLabelValue(value) {
                found.append(("labels.\(key)", "the value of label '\(key)' is not a valid label value (empty, or at most 63 of [-A-Za-z0-9_.], starting and ending alphanumeric)"))
            }
        }
        var annotationBytes = 0
        for (key, value) in annotations.sorted(by: { $0.key < $1.key }) {
            if !Self.isQualifiedName(key.lowercased()) {
                found.append(("annotations.\(key)", "annotation key '\(key)' is not of the form [prefix/]name (name at most 63 of [-A-Za-z0-9_.], starting and ending alphanumeric; prefix a DNS-1123 subdomain)"))
            }
            annotationBytes += key.utf8.count + value.utf8.count
        }
        if annotationBytes > Self.maximumAnnotationsSize {
            found.append(("annotations", "annotations total \(annotationBytes) bytes; Kubernetes allows at most \(Self.maximumAnnotationsSize) (256 KiB)"))
        }
        return found
    }

    /// Kubernetes' `TotalAnnotationSizeLimitB`.
    static let maximumAnnotationsSize = 256 * 1024

    // MARK: Kubernetes validation rules (k8s.io/apimachinery/pkg/util/validation)

    /// `IsDNS1123Label`: at most 63 characters matching `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
    static func isDNS1123Label(_ text: String) -> Bool {
        text.utf8.count <= 63 && matchesLabelPattern(Array(text.utf8))
    }

    /// `IsDNS1123Subdomain`: at most 253 characters, dot-separated parts each matching
    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
    static func isDNS1123Subdomain(_ text: String) -> Bool {
        guard text.utf8.count <= 253 else { return false }
        return Array(text.utf8).split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            .allSatisfy { matchesLabelPattern(Array($0)) }
    }

    private static func matchesLabelPattern(_ bytes: [UInt8]) -> Bool {
        let lowerAlphanumeric: (UInt8) -> Bool = { $0.isASCIIDigit || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }
        guard let first = bytes.first, let last = bytes.last else { return false }
        return lowerAlphanumeric(first) && lowerAlphanumeric(last)
            && bytes.allSatisfy { lowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// `IsQualifiedName`: `[prefix/]name`, name at most 63 matching
    /// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, prefix a DNS-1123 subdomain.
    static func isQualifiedName(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return isQualifiedNamePart(String(parts[0]))
        case 2: return isDNS1123Subdomain(String(parts[0])) && isQualifiedNamePart(String(parts[1]))
        default: return false
        }
    }

    static func isQualifiedNamePart(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...63).contains(bytes.count), let first = bytes.first, let last = bytes.last else { return false }
        let alphanumeric: (UInt8) -> Bool = { $0.isASCIILetter || $0.isASCIIDigit }
        return alphanumeric(first) && alphanumeric(last)
            && bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    /// `IsValidLabelValue`: empty, or a qualified-name part.
    static func isLabelValue(_ text: String) -> Bool {
        text.isEmpty || isQualifiedNamePart(text)
    }
}

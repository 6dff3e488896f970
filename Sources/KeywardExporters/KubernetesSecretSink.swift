import KeywardCore
import Logging

/// The `kubernetes-secret` sink: writes the entities' pairs as a `v1` `Secret` manifest for
/// `kubectl apply -f` (DESIGN.md, "Sinks"; see ``KubernetesSecretFormat``).
///
/// ```yaml
/// sinks:
///   k8s:
///     type: kubernetes-secret
///     path: deploy/aa-credentials.yaml
///     entities: [FIU-EXAMPLE-1]
///     name: aa-credentials            # required unless perEntity
///     namespace: payments             # optional
///     secretType: Opaque              # optional; e.g. kubernetes.io/basic-auth
///     labels: {app.kubernetes.io/part-of: payments}     # optional
///     annotations: {example.com/owner: team-payments}   # optional
///     perEntity: false                # optional; true: one manifest per entity, named after it
/// ```
public struct KubernetesSecretSink: SecretSink {
    /// The registry entry: type `kubernetes-secret`, a file sink, with options `name`,
    /// `namespace`, `secretType`, `labels`, `annotations` and `perEntity`, checked against
    /// Kubernetes' rules when the configuration is loaded (``SinkValidation/kubernetes(_:)``).
    public static let descriptor = SinkTypeDescriptor(
        type: "kubernetes-secret", writesFile: true,
        options: ["name": .string, "namespace": .string, "secretType": .string,
                  "labels": .stringMap, "annotations": .stringMap, "perEntity": .boolean],
        validate: SinkValidation.kubernetes)

    public let name: String
    /// The file written (resolved).
    public let path: String
    /// The file mode, e.g. `0o600`.
    public let mode: UInt16
    /// The manifest's metadata; with ``perEntity``, its `name` is replaced by each entity's
    /// default name (``KubernetesSecretOptions/defaultName(for:)``).
    public let manifest: KubernetesSecretOptions
    /// One manifest per entity, in a multi-document file, instead of one for all.
    public let perEntity: Bool
    private let keys: [(key: String, template: KeyTemplate)]?

    /// - Parameter keys: output key to template, in order; `nil` for the default names.
    /// - Throws: ``KeywardError`` (usage) when the metadata break Kubernetes' rules (with
    ///   `perEntity`, the name is checked per entity at write time).
    public init(name: String, path: String, manifest: KubernetesSecretOptions, perEntity: Bool = false,
                keys: [(key: String, template: KeyTemplate)]? = nil, mode: UInt16 = 0o600) throws {
        var checked = manifest
        // With perEntity the real names come from the entities; check the rest now.
        if perEntity { checked.name = "placeholder" }
        do {
            try checked.validate()
        } catch let error as KeywardError {
            throw KeywardError.usage("sink '\(name)': \(error.message)")
        }
        self.name = name
        self.path = path
        self.manifest = manifest
        self.perEntity = perEntity
        self.keys = keys
        self.mode = mode
    }

    /// Builds the sink from its `sinks.<name>` section.
    ///
    /// - Throws: ``KeywardError`` (usage) when `path` is missing, `name` is missing without
    ///   `perEntity` or given with it, or any metadata break Kubernetes' rules.
    public init(configuration: SinkConfiguration) throws {
        let file = try FileSinkSettings(configuration)
        let options = configuration.options
        let perEntity = options["perEntity"]?.boolValue ?? false
        let manifestName = options["name"]?.stringValue
        switch (manifestName, perEntity) {
        case (nil, false):
            throw KeywardError.usage("sink '\(configuration.name)': missing name (the Secret's metadata.name)")
        case (.some, true):
            throw KeywardError.usage("sink '\(configuration.name)': name and perEntity cannot be combined (with perEntity each manifest is named after its entity)")
        default: break
        }
        func stringMap(_ key: String) -> [String: String] {
            guard case .map(let map) = options[key] else { return [:] }
            return map.compactMapValues(\.stringValue)
        }
        let manifest = KubernetesSecretOptions(
            name: manifestName ?? "", namespace: options["namespace"]?.stringValue,
            type: options["secretType"]?.stringValue ?? KubernetesSecretOptions.defaultType,
            labels: stringMap("labels"), annotations: stringMap("annotations"))
        try self.init(name: configuration.name, path: file.path, manifest: manifest, perEntity: perEntity,
                      keys: configuration.keys, mode: configuration.mode)
    }

    public var destination: String? { path }

    /// Renders the manifest(s) and replaces the file atomically; in a dry run, only says what
    /// it would do.
    ///
    /// - Throws: ``KeywardError`` naming the key, the manifest or the path; never a value.
    public func write(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        let bytes = try render(material)
        if context.dryRun { return try AtomicFileWriter().outcome(of: bytes, at: path, mode: mode) }
        let outcome = try AtomicFileWriter().write(bytes, to: path, mode: mode)
        context.logger.debug("kubernetes-secret sink wrote", metadata: ["sink": "\(name)", "path": "\(path)", "outcome": "\(outcome.rawValue)"])
        return outcome
    }

    /// What ``write(_:context:)`` would return, writing nothing.
    public func plan(_ material: [EntityMaterial], context: OperationContext) async throws -> SinkWriteOutcome {
        try AtomicFileWriter().outcome(of: try render(material), at: path, mode: mode)
    }

    private func render(_ material: [EntityMaterial]) throws -> [UInt8] {
        guard perEntity else {
            return try KubernetesSecretFormat.render(SinkKeys.pairs(for: material, keys: keys), options: manifest)
        }
        return try KubernetesSecretFormat.render(material.map { entity in
            var options = manifest
            options.name = KubernetesSecretOptions.defaultName(for: entity.id)
            return (options, try SinkKeys.pairs(for: [entity], keys: keys))
        })
    }
}

import KeywardCore

/// The configuration-time checks of the file sinks (``SinkTypeDescriptor/validate``): what
/// the formats would refuse at write time, found when the configuration is loaded, so that
/// `config check` and every command refuse it before the vault is unlocked or the network
/// called. The write-time checks stay, for `export` and for callers
/// that build sinks without a configuration.
enum SinkValidation {
    /// The output key names of a sink (its `keys:`, or the default names of each entity),
    /// each checked by `isValid`; a default name is reported against the entity it comes from.
    static func keyNames(_ configuration: SinkConfiguration, isValid: (String) -> Bool, rule: String) -> [SinkConfigurationProblem] {
        if let keys = configuration.keys {
            return keys.compactMap { entry in
                guard !isValid(entry.key) else { return nil }
                let shown = entry.key.isEmpty ? "an empty key" : "'\(entry.key)'"
                return SinkConfigurationProblem(.outputKey(entry.key), "\(shown) is not a valid key name for a \(configuration.type) sink (\(rule))")
            }
        }
        return configuration.entities.compactMap { id in
            let invalid = SinkKeys.defaultTemplates(for: id).map(\.key).filter { !isValid($0) }
            guard let first = invalid.first else { return nil }
            return SinkConfigurationProblem(
                .entity(id), "the default key names of '\(id)' (\(first) …) are not valid for a \(configuration.type) sink (\(rule)); give this sink `keys:`")
        }
    }

    /// `dotenv` and `shell`: every key a variable name (POSIX.1-2017, XCU 2.2 "Name").
    static func variableNames(_ configuration: SinkConfiguration) -> [SinkConfigurationProblem] {
        keyNames(configuration, isValid: DotenvFormat.isValidKey, rule: "a variable name: [A-Za-z_][A-Za-z0-9_]*")
    }

    /// `kubernetes-secret`: the manifest's metadata (``KubernetesSecretOptions/problems()``),
    /// the `name`/`perEntity` choice, the names per entity, the data keys, and the keys and
    /// annotation a built-in Secret type requires.
    static func kubernetes(_ configuration: SinkConfiguration) -> [SinkConfigurationProblem] {
        let options = configuration.options
        let perEntity = options["perEntity"]?.boolValue ?? false
        let manifestName = options["name"]?.stringValue
        var problems: [SinkConfigurationProblem] = []
        switch (manifestName, perEntity) {
        case (nil, false):
            problems.append(.init(.section, "missing name (the Secret's metadata.name), or perEntity: true"))
        case (.some, true):
            problems.append(.init(.option("name"), "name and perEntity cannot be combined (with perEntity each manifest is named after its entity)"))
        default: break
        }
        func stringMap(_ key: String) -> [String: String] {
            guard case .map(let map) = options[key] else { return [:] }
            return map.compactMapValues(\.stringValue)
        }
        let manifest = KubernetesSecretOptions(
            name: manifestName ?? "placeholder", namespace: options["namespace"]?.stringValue,
            type: options["secretType"]?.stringValue ?? KubernetesSecretOptions.defaultType,
            labels: stringMap("labels"), annotations: stringMap("annotations"))
        problems += manifest.problems().map { SinkConfigurationProblem(.option($0.field), $0.message) }
        if perEntity {
            var seen: [String: EntityID] = [:]
            for id in configuration.entities {
                let name = KubernetesSecretOptions.defaultName(for: id)
                if !KubernetesSecretOptions.isDNS1123Subdomain(name) {
                    problems.append(.init(.entity(id), "with perEntity the manifest of '\(id)' is named '\(name)', which is not a DNS-1123 subdomain"))
                } else if let other = seen[name] {
                    problems.append(.init(.entity(id), "with perEntity '\(other)' and '\(id)' would both be named '\(name)'"))
                }
                seen[name] = id
            }
        }
        problems += keyNames(configuration, isValid: KubernetesSecretFormat.isSecretKey,
                             rule: "at most 253 of [-._a-zA-Z0-9], not '.' or '..' and not starting with '..'")
        let keys = configuration.keys.map { $0.map(\.key) }
        for required in KubernetesSecretFormat.requiredKeys(manifest.type) {
            let present: Bool
            if let keys {
                present = required.contains { keys.contains($0) }
            } else {
                let defaults = Set(configuration.entities.flatMap { SinkKeys.defaultTemplates(for: $0).map(\.key) })
                present = required.contains { defaults.contains($0) }
            }
            if !present {
                problems.append(.init(.option("secretType"), "a Secret of type \(manifest.type) needs the key \(required.joined(separator: " or ")); add it under `keys:`"))
            }
        }
        if manifest.type == "kubernetes.io/service-account-token", manifest.annotations["kubernetes.io/service-account.name"] == nil {
            problems.append(.init(.option("secretType"), "a Secret of type \(manifest.type) needs the annotation kubernetes.io/service-account.name"))
        }
        return problems
    }
}

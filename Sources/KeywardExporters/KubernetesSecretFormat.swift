import KeywardCore

/// Renders key/value pairs as a Kubernetes `v1` `Secret` manifest in YAML (DESIGN.md, "Sinks",
/// kubernetes-secret), equal in content to what `kubectl create secret generic NAME
/// --from-literal=KEY=VALUE … --dry-run=client -o yaml` prints.
///
/// The YAML is written by hand, deterministically: fields in a fixed order, labels and
/// annotations sorted by key, `data` in the order of the pairs. Every scalar but `apiVersion`
/// and `kind` is double-quoted (JSON-style escapes, which YAML reads the same way), so no key,
/// name or base64 text can be read as a number, boolean or null. Values are base64 (RFC 4648,
/// section 4) on one line, never wrapped.
public enum KubernetesSecretFormat {
    /// The first line of every file Keyward writes in this format.
    public static let header = "# written by keyward; do not edit"

    /// Kubernetes' `MaxSecretSize`: the keys and raw (not base64) values of a Secret's data
    /// together, in bytes.
    public static let maximumDataSize = 1024 * 1024

    /// Renders one manifest of `pairs` under ``header``.
    ///
    /// - Throws: ``KeywardError`` (usage) for metadata ``KubernetesSecretOptions/validate()``
    ///   refuses, for a key that is not a valid Secret key, or a type whose required keys are
    ///   missing; (operation failed) when the data exceed ``maximumDataSize``. Errors name the
    ///   key or the field, never a value.
    public static func render(_ pairs: [SinkKeys.Pair], options: KubernetesSecretOptions) throws -> [UInt8] {
        try render([(options, pairs)])
    }

    /// Renders several manifests, in order, as one multi-document YAML stream (each document
    /// starts with `---`), under ``header``. Two manifests with the same namespace and name
    /// are refused (usage).
    ///
    /// - Throws: as ``render(_:options:)``.
    public static func render(_ manifests: [(options: KubernetesSecretOptions, pairs: [SinkKeys.Pair])]) throws -> [UInt8] {
        var output = Array("\(header)\n".utf8)
        var names: Set<String> = []
        for (options, pairs) in manifests {
            guard names.insert("\(options.namespace ?? "")/\(options.name)").inserted else {
                throw KeywardError.usage("kubernetes-secret: two manifests are named '\(options.name)'")
            }
            output.append(contentsOf: "---\n".utf8)
            try appendDocument(pairs, options: options, to: &output)
        }
        return output
    }

    private static func appendDocument(_ pairs: [SinkKeys.Pair], options: KubernetesSecretOptions, to output: inout [UInt8]) throws {
        try options.validate()
        var dataSize = 0
        for pair in pairs {
            guard isSecretKey(pair.key) else {
                throw KeywardError.usage("kubernetes-secret \(options.name): key '\(pair.key)' is not a valid Secret key (at most 253 of [-._a-zA-Z0-9], not '.' or '..' and not starting with '..')")
            }
            dataSize += pair.key.utf8.count + pair.value.count
        }
        for required in requiredKeys(options.type) where !required.contains(where: { key in pairs.contains { $0.key == key } }) {
            throw KeywardError.usage("kubernetes-secret \(options.name): a Secret of type \(options.type) needs the key \(required.joined(separator: " or "))")
        }
        if options.type == "kubernetes.io/service-account-token", options.annotations["kubernetes.io/service-account.name"] == nil {
            throw KeywardError.usage("kubernetes-secret \(options.name): a Secret of type \(options.type) needs the annotation kubernetes.io/service-account.name")
        }
        guard dataSize <= maximumDataSize else {
            throw KeywardError.operationFailed("kubernetes-secret \(options.name): the data total \(dataSize) bytes (keys and values), more than Kubernetes allows in a Secret (\(maximumDataSize) bytes, 1 MiB)")
        }
        // Line by line straight into the output: a per-entity export writes thousands of these.
        func line(_ text: String) {
            output.append(contentsOf: text.utf8)
            output.append(UInt8(ascii: "\n"))
        }
        line("apiVersion: v1\nkind: Secret\nmetadata:\n  name: \(quoted(options.name))")
        if let namespace = options.namespace { line("  namespace: \(quoted(namespace))") }
        for (field, map) in [("labels", options.labels), ("annotations", options.annotations)] where !map.isEmpty {
            line("  \(field):")
            for (key, value) in map.sorted(by: { $0.key < $1.key }) {
                line("    \(quoted(key)): \(quoted(value))")
            }
        }
        line("type: \(quoted(options.type))")
        line(pairs.isEmpty ? "data: {}" : "data:")
        for pair in pairs {
            output.append(contentsOf: "  ".utf8)
            output.append(contentsOf: quoted(pair.key).utf8)
            output.append(contentsOf: ": \"".utf8)
            pair.value.withRevealedBytes { appendBase64($0, to: &output) }
            output.append(contentsOf: "\"\n".utf8)
        }
    }

    /// `IsConfigMapKey`, which Secret keys follow: at most 253 characters of `[-._a-zA-Z0-9]`,
    /// not `.` or `..`, and not starting with `..`.
    static func isSecretKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard (1...253).contains(bytes.count), !key.hasPrefix(".."), key != "." else { return false }
        return bytes.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    /// The keys the API server requires for the built-in types (`ValidateSecret`): each inner
    /// list is a set of which at least one must be present.
    static func requiredKeys(_ type: String) -> [[String]] {
        switch type {
        case "kubernetes.io/basic-auth": [["username", "password"]]
        case "kubernetes.io/ssh-auth": [["ssh-privatekey"]]
        case "kubernetes.io/tls": [["tls.crt"], ["tls.key"]]
        case "kubernetes.io/dockercfg": [[".dockercfg"]]
        case "kubernetes.io/dockerconfigjson": [[".dockerconfigjson"]]
        default: []
        }
    }

    /// A YAML double-quoted scalar. `"` and `\` are escaped, and so is every character outside
    /// YAML 1.2's printable set (section 5.1) or that YAML treats as a line break (U+0085,
    /// U+2028, U+2029), as `\uXXXX`, which YAML and JSON read alike.
    static func quoted(_ text: String) -> String {
        // Names, keys and base64 are printable ASCII with nothing to escape.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            return "\"" + text + "\""
        }
        var output = "\""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: output += "\\\""
            case 0x5C: output += "\\\\"
            case 0x20...0x7E, 0xA0...0x2027, 0x202A...0xD7FF, 0xE000...0xFEFE, 0xFF00...0xFFFD, 0x10000...:
                output.unicodeScalars.append(scalar)
            default:
                let hex = String(scalar.value, radix: 16, uppercase: false)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return output + "\""
    }

    /// Standard base64 with padding (RFC 4648, section 4), one line.
    static func base64(_ bytes: UnsafeRawBufferPointer) -> String {
        var output: [UInt8] = []
        appendBase64(bytes, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    private static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Appends ``base64(_:)`` of `bytes` to `output`.
    static func appendBase64(_ bytes: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        let alphabet = base64Alphabet
        output.reserveCapacity(output.count + (bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let remaining = bytes.count - index
            let b0 = UInt32(bytes[index])
            let b1 = remaining > 1 ? UInt32(bytes[index + 1]) : 0
            let b2 = remaining > 2 ? UInt32(bytes[index + 2]) : 0
            let group = b0 << 16 | b1 << 8 | b2
            output.append(alphabet[Int(group >> 18 & 0x3F)])
            output.append(alphabet[Int(group >> 12 & 0x3F)])
            output.append(remaining > 1 ? alphabet[Int(group >> 6 & 0x3F)] : UInt8(ascii: "="))
            output.append(remaining > 2 ? alphabet[Int(group & 0x3F)] : UInt8(ascii: "="))
            index += 3
        }
    }
}

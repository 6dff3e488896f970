import Foundation
import KeywardCore
@testable import KeywardExporters
import Testing

/// Reads manifests the way a user's tools do: PyYAML for content, `kubectl create secret
/// generic --dry-run=client -o yaml` for what the manifest should equal, and
/// `kubernetes-validate --strict` for the API schema.
enum KubernetesReaders {
    /// The Kubernetes version whose bundled schemas the manifests are validated against.
    static let kubernetesVersion = "1.30.0"

    /// Every document of `file`, as PyYAML reads it, normalised to JSON: kind, name, namespace,
    /// type, labels, annotations, and data decoded from base64 to hex.
    static func documents(_ file: String) throws -> [[String: Any]] {
        let script = """
            import base64, json, sys, yaml
            with open(sys.argv[1], 'rb') as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
            out = []
            for d in docs:
                m = d.get('metadata') or {}
                out.append({'apiVersion': d.get('apiVersion'), 'kind': d.get('kind'), 'name': m.get('name'),
                            'namespace': m.get('namespace'), 'type': d.get('type'),
                            'labels': m.get('labels') or {}, 'annotations': m.get('annotations') or {},
                            'data': {k: base64.b64decode(v, validate=True).hex() for k, v in (d.get('data') or {}).items()}})
            print(json.dumps(out))
            """
        let output = try Readers.run("python3", ["-c", script, file])
        guard output.status == 0 else { throw Readers.Failure(description: "PyYAML could not read \(file): \(output.stderr)") }
        return try JSONSerialization.jsonObject(with: output.stdout) as? [[String: Any]] ?? []
    }

    /// The fields `kubectl create secret generic` sets, from one normalised document.
    static func comparable(_ document: [String: Any]) -> String {
        let fields: [String: Any] = ["apiVersion": document["apiVersion"] ?? NSNull(), "kind": document["kind"] ?? NSNull(),
                                     "name": document["name"] ?? NSNull(), "namespace": document["namespace"] ?? NSNull(),
                                     "type": document["type"] ?? NSNull(), "data": document["data"] ?? NSNull()]
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Runs `kubectl create secret generic` for the same pairs (text values with
    /// `--from-literal`, values holding NUL or non-UTF-8 bytes with `--from-file`) and writes
    /// its YAML to a file in `directory`.
    static func kubectl(_ pairs: [SinkKeys.Pair], options: KubernetesSecretOptions, directory: TemporaryDirectory) throws -> String {
        var arguments = ["create", "secret", "generic", options.name, "--dry-run=client", "-o", "yaml", "--type", options.type]
        if let namespace = options.namespace { arguments += ["--namespace", namespace] }
        for (index, pair) in pairs.enumerated() {
            let bytes = pair.value.revealBytes()
            if !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) {
                arguments.append("--from-literal=\(pair.key)=\(text)")
            } else {
                let file = directory.file("value-\(index)")
                try Data(bytes).write(to: URL(fileURLWithPath: file))
                arguments.append("--from-file=\(pair.key)=\(file)")
            }
        }
        let output = try Readers.run("kubectl", arguments)
        guard output.status == 0 else { throw Readers.Failure(description: "kubectl failed: \(output.stderr)") }
        let file = directory.file("kubectl-\(UUID().uuidString).yaml")
        try output.stdout.write(to: URL(fileURLWithPath: file))
        return file
    }

    /// `kubernetes-validate --strict` against ``kubernetesVersion``: `nil` when every document
    /// passed, otherwise its output.
    static func validate(_ file: String) throws -> String? {
        let output = try Readers.run("kubernetes-validate", ["--strict", "-k", kubernetesVersion, file])
        let text = String(decoding: output.stdout, as: UTF8.self) + output.stderr
        if output.status == 0 && !text.contains("ERROR") && !text.contains("WARN") { return nil }
        return text
    }
}

func pair(_ key: String, _ value: String) -> SinkKeys.Pair { SinkKeys.Pair(key: key, value: SecretValue(utf8: value)) }

/// Every hostile value, under keys that exercise the Secret key rules.
let hostilePairs: [SinkKeys.Pair] = allDialectValues.enumerated().map { SinkKeys.Pair(key: "K\($0.offset)", value: $0.element.value) }
    + [pair("tls.crt", pem), pair("-", "dash"), pair("_", "underscore"), pair(".hidden", "dot"), pair("a..b", "dots"),
       pair("username", "admin"), pair("password", "it's \"hard\"")]

@Suite("kubernetes-secret: a v1 Secret equal to kubectl's, valid by the API schema")
struct KubernetesSecretTests {
    static let configurations: [KubernetesSecretOptions] = [
        KubernetesSecretOptions(name: "aa-credentials"),
        KubernetesSecretOptions(name: "aa-credentials", namespace: "payments"),
        KubernetesSecretOptions(name: "0.a-b.c", namespace: "p-1", type: "kubernetes.io/basic-auth"),
        KubernetesSecretOptions(name: "labelled", namespace: "payments",
                                labels: ["app.kubernetes.io/name": "keyward", "tier": "", "A_b.c-D": "x_Y.z-1"],
                                annotations: ["example.com/note": "it's \"quoted\"\nline\t\u{7f}\u{85}\u{2028}\u{feff}é ☃ 🔑 \\",
                                              "Example.COM/Upper": "", "plain": "{\"json\": [1, 2]}"]),
    ]

    @Test("a manifest of every hostile value has kubectl's name, namespace, type and data, and passes kubernetes-validate --strict",
          arguments: configurations)
    func matchesKubectl(_ options: KubernetesSecretOptions) throws {
        let directory = try TemporaryDirectory()
        let file = directory.file("secret.yaml")
        try Data(try KubernetesSecretFormat.render(hostilePairs, options: options)).write(to: URL(fileURLWithPath: file))
        #expect(try KubernetesReaders.validate(file) == nil)
        let ours = try KubernetesReaders.documents(file)
        let theirs = try KubernetesReaders.documents(try KubernetesReaders.kubectl(hostilePairs, options: options, directory: directory))
        #expect(ours.count == 1)
        #expect(ours.map(KubernetesReaders.comparable) == theirs.map(KubernetesReaders.comparable))
        // Data decoded: each value byte for byte.
        let data = try #require(ours.first?["data"] as? [String: String])
        for pair in hostilePairs {
            #expect(try data[pair.key].map(Readers.bytes(fromHex:)) == pair.value.revealBytes(), "\(pair.key)")
        }
        #expect(ours.first?["labels"] as? [String: String] == options.labels)
        #expect(ours.first?["annotations"] as? [String: String] == options.annotations)
    }

    @Test("the layout: fixed field order, quoted scalars, one-line base64, labels sorted")
    func layout() throws {
        let options = KubernetesSecretOptions(name: "s", namespace: "ns", labels: ["b": "2", "a": "1"])
        let rendered = try KubernetesSecretFormat.render([pair("K", String(repeating: "x", count: 100)), pair("E", "")], options: options)
        let base64 = String(repeating: "eHh4", count: 33) + "eA=="
        #expect(String(decoding: rendered, as: UTF8.self) == """
            # written by keyward; do not edit
            ---
            apiVersion: v1
            kind: Secret
            metadata:
              name: "s"
              namespace: "ns"
              labels:
                "a": "1"
                "b": "2"
            type: "Opaque"
            data:
              "K": "\(base64)"
              "E": ""

            """)
        let empty = try KubernetesSecretFormat.render([], options: KubernetesSecretOptions(name: "s"))
        #expect(String(decoding: empty, as: UTF8.self).hasSuffix("type: \"Opaque\"\ndata: {}\n"))
    }

    @Test("base64 matches RFC 4648's test vectors", arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func base64(input: String, expected: String) {
        #expect(Array(input.utf8).withUnsafeBytes { KubernetesSecretFormat.base64($0) } == expected)
    }

    @Test("metadata.name must be a DNS-1123 subdomain", arguments: [
        ("a", true), ("aa-credentials", true), ("0", true), ("a.b-c.d", true), (String(repeating: "a", count: 253), true),
        (String(repeating: "a", count: 63) + "." + String(repeating: "b", count: 63), true),
        ("", false), ("Upper", false), ("-a", false), ("a-", false), ("a..b", false), ("a_b", false), (".a", false),
        ("a.-b", false), ("a b", false), (String(repeating: "a", count: 254), false), ("é", false),
    ])
    func nameRule(name: String, valid: Bool) throws {
        try check(KubernetesSecretOptions(name: name), valid: valid, mentions: "name '\(name)'")
    }

    @Test("namespace must be a DNS-1123 label", arguments: [
        ("payments", true), ("a-1", true), (String(repeating: "a", count: 63), true),
        ("", false), ("a.b", false), ("Payments", false), ("-a", false), (String(repeating: "a", count: 64), false),
    ])
    func namespaceRule(namespace: String, valid: Bool) throws {
        try check(KubernetesSecretOptions(name: "s", namespace: namespace), valid: valid, mentions: "namespace '\(namespace)'")
    }

    @Test("label keys and values follow Kubernetes' rules", arguments: [
        ("app", "v", true), ("app.kubernetes.io/name", "keyward", true), ("A_b.c-D", "", true), ("x", "A-b_c.D", true),
        (String(repeating: "k", count: 63), String(repeating: "v", count: 63), true),
        ("example.com/" + String(repeating: "k", count: 63), "v", true),
        ("", "v", false), ("/x", "v", false), ("x/", "v", false), ("a/b/c", "v", false), ("Example.com/x", "v", false),
        ("-x", "v", false), ("x-", "v", false), ("a b", "v", false), (String(repeating: "k", count: 64), "v", false),
        ("x", "-v", false), ("x", "v_", false), ("x", "a b", false), ("x", String(repeating: "v", count: 64), false), ("x", "é", false),
    ])
    func labelRule(key: String, value: String, valid: Bool) throws {
        try check(KubernetesSecretOptions(name: "s", labels: [key: value]), valid: valid, mentions: "label")
    }

    @Test("annotation keys follow the label-key rule (checked lower-cased); values are free; 256 KiB in all", arguments: [
        ("example.com/note", "anything\n\"at all\"", true), ("Example.COM/Upper_Case", "", true), ("x", String(repeating: "v", count: 262_143), true),
        ("", "v", false), ("a/b/c", "v", false), ("bad key", "v", false), ("x", String(repeating: "v", count: 262_144), false),
    ])
    func annotationRule(key: String, value: String, valid: Bool) throws {
        try check(KubernetesSecretOptions(name: "s", annotations: [key: value]), valid: valid, mentions: "annotation")
    }

    @Test("type must be [prefix/]name", arguments: [
        ("Opaque", true), ("kubernetes.io/basic-auth", true), ("example.com/custom", true), ("", false), ("a b", false), ("a/b/c", false),
    ])
    func typeRule(type: String, valid: Bool) throws {
        try check(KubernetesSecretOptions(name: "s", type: type), valid: valid, mentions: "type")
    }

    private func check(_ options: KubernetesSecretOptions, valid: Bool, mentions: String) throws {
        // basic-auth needs a username or password key; give it one so only the rule under test applies.
        let pairs = [pair("username", "u")]
        if valid {
            let directory = try TemporaryDirectory()
            let file = directory.file("s.yaml")
            try Data(try KubernetesSecretFormat.render(pairs, options: options)).write(to: URL(fileURLWithPath: file))
            let read = try KubernetesReaders.documents(file)
            #expect(read.first?["name"] as? String == options.name)
            #expect(read.first?["annotations"] as? [String: String] == options.annotations)
        } else {
            let error = try #require(throws: KeywardError.self) { try KubernetesSecretFormat.render(pairs, options: options) }
            #expect(error.category == .usage)
            #expect(error.message.contains(mentions), "\(error.message)")
        }
    }

    @Test("data keys must be [-._a-zA-Z0-9]+, at most 253, not '.', '..' or starting with '..'", arguments: [
        ("K", true), ("-", true), ("_", true), (".a", true), ("a..b", true), ("tls.crt", true), (String(repeating: "k", count: 253), true),
        ("", false), (".", false), ("..", false), ("..a", false), ("a b", false), ("a/b", false), ("a:b", false), ("é", false),
        (String(repeating: "k", count: 254), false),
    ])
    func keyRule(key: String, valid: Bool) throws {
        let render = { try KubernetesSecretFormat.render([pair(key, "v")], options: KubernetesSecretOptions(name: "s")) }
        if valid {
            _ = try render()
        } else {
            let error = try #require(throws: KeywardError.self) { try render() }
            #expect(error.category == .usage)
            #expect(error.message.contains("'\(key)'"))
        }
    }

    @Test("data up to 1 MiB (keys plus raw values) are written; one byte more is refused with a clear error")
    func sizeLimit() throws {
        let options = KubernetesSecretOptions(name: "big")
        let fits = [pair("A", String(repeating: "a", count: 524_287)), pair("B", String(repeating: "b", count: 524_287))]
        let directory = try TemporaryDirectory()
        let file = directory.file("big.yaml")
        try Data(try KubernetesSecretFormat.render(fits, options: options)).write(to: URL(fileURLWithPath: file))
        #expect(try KubernetesReaders.validate(file) == nil)
        let over = [pair("A", String(repeating: "a", count: 524_288)), pair("B", String(repeating: "b", count: 524_287))]
        let error = try #require(throws: KeywardError.self) { try KubernetesSecretFormat.render(over, options: options) }
        #expect(error.category == .operationFailed)
        #expect(error.message.contains("1048577 bytes"))
        #expect(error.message.contains("1 MiB"))
    }

    @Test("the built-in types' required keys are checked", arguments: [
        ("kubernetes.io/basic-auth", ["password"], true), ("kubernetes.io/basic-auth", ["username"], true),
        ("kubernetes.io/basic-auth", ["user"], false), ("kubernetes.io/tls", ["tls.crt", "tls.key"], true),
        ("kubernetes.io/tls", ["tls.crt"], false), ("kubernetes.io/ssh-auth", ["ssh-privatekey"], true),
        ("kubernetes.io/ssh-auth", [], false), ("kubernetes.io/dockerconfigjson", [".dockerconfigjson"], true),
        ("kubernetes.io/service-account-token", ["token"], false), ("example.com/custom", [], true),
    ])
    func requiredKeys(type: String, keys: [String], valid: Bool) throws {
        let render = { try KubernetesSecretFormat.render(keys.map { pair($0, "v") }, options: KubernetesSecretOptions(name: "s", type: type)) }
        if valid {
            _ = try render()
        } else {
            let error = try #require(throws: KeywardError.self) { try render() }
            #expect(error.message.contains(type))
        }
    }

    @Test("default manifest names come from the entity id, lower-cased, '_' to '-'")
    func defaultNames() {
        #expect(KubernetesSecretOptions.defaultName(for: "FIU-EXAMPLE-1") == "fiu-example-1")
        #expect(KubernetesSecretOptions.defaultName(for: "FIU_EXAMPLE_2") == "fiu-example-2")
    }

    @Test("a sink with name, namespace, type, labels and annotations writes a valid 0600 manifest; a second write is unchanged")
    func sink() async throws {
        let directory = try TemporaryDirectory()
        let sink = try makeSink("k8s", sinksYAML: """
              k8s:
                type: kubernetes-secret
                path: secret.yaml
                entities: [FIU-EXAMPLE-1]
                name: aa-credentials
                namespace: payments
                secretType: kubernetes.io/basic-auth
                labels:
                  app.kubernetes.io/part-of: payments
                annotations:
                  example.com/owner: "team payments"
                keys:
                  username: "{entity.id}"
                  password: "{entity.secret}"
            """, directory: directory.path)
        #expect(try await sink.write([material()], context: OperationContext()) == .written)
        let file = directory.file("secret.yaml")
        #expect(try KubernetesReaders.validate(file) == nil)
        let document = try #require(try KubernetesReaders.documents(file).first)
        #expect(document["name"] as? String == "aa-credentials")
        #expect(document["namespace"] as? String == "payments")
        #expect(document["type"] as? String == "kubernetes.io/basic-auth")
        #expect(document["labels"] as? [String: String] == ["app.kubernetes.io/part-of": "payments"])
        #expect(document["annotations"] as? [String: String] == ["example.com/owner": "team payments"])
        let data = try #require(document["data"] as? [String: String])
        #expect(try data.mapValues(Readers.bytes(fromHex:)) == ["username": Array("FIU-EXAMPLE-1".utf8), "password": Array("s3cr3t it's".utf8)])
        var info = stat()
        #expect(lstat(file, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o600)
        #expect(try await sink.write([material()], context: OperationContext()) == .unchanged)
        #expect(try directory.contents() == ["secret.yaml"])
    }

    @Test("perEntity writes one manifest per entity, named after it, as multi-document YAML that kubernetes-validate accepts")
    func perEntity() async throws {
        let directory = try TemporaryDirectory()
        let sink = try makeSink("k8s", sinksYAML: """
              k8s:
                type: kubernetes-secret
                path: secrets.yaml
                entities: [FIU-EXAMPLE-1, FIU-EXAMPLE-2]
                namespace: payments
                perEntity: true
            """, directory: directory.path)
        #expect(try await sink.write([material(), material("FIU-EXAMPLE-2", secret: "second", token: "t2")], context: OperationContext()) == .written)
        let file = directory.file("secrets.yaml")
        #expect(try KubernetesReaders.validate(file) == nil)
        let documents = try KubernetesReaders.documents(file)
        #expect(documents.map { $0["name"] as? String } == ["fiu-example-1", "fiu-example-2"])
        #expect(documents.map { $0["namespace"] as? String } == ["payments", "payments"])
        let second = try #require(documents.last?["data"] as? [String: String])
        #expect(second["FIU_EXAMPLE_2_SECRET"].map { try? Readers.bytes(fromHex: $0) } == Array("second".utf8))
        #expect(second["FIU_EXAMPLE_1_SECRET"] == nil)
    }

    @Test("bad sink sections are refused when the sink is built, saying why", arguments: [
        ("", "missing name"),
        ("\n    name: a\n    perEntity: true", "cannot be combined"),
        ("\n    name: Not_Valid", "'Not_Valid'"),
        ("\n    name: a\n    namespace: a.b", "'a.b'"),
        ("\n    name: a\n    labels: {\"bad key\": v}", "'bad key'"),
        ("\n    perEntity: true\n    annotations: {\"a/b/c\": v}", "'a/b/c'"),
        ("\n    name: a\n    perEntity: maybe", "perEntity"),
    ])
    func badSections(extra: String, reason: String) throws {
        let section = "    type: kubernetes-secret\n    path: s.yaml\n    entities: [FIU-EXAMPLE-1]" + extra
        do {
            _ = try makeSink("s", sinksYAML: "  s:\n" + section, directory: "/tmp")
            Issue.record("expected a refusal")
        } catch {
            #expect(String(describing: error).contains(reason), "\(error)")
        }
    }

    @Test("ExportFormat.kubernetesSecret renders with KubernetesSecretFormat and needs options")
    func exportFormat() throws {
        let pairs = [pair("K", "v")]
        #expect(ExportFormat(rawValue: "kubernetes-secret") == .kubernetesSecret)
        #expect(ExportFormat.allCases.map(\.rawValue) == ["dotenv", "shell", "kubernetes-secret", "json"])
        let options = KubernetesSecretOptions(name: "x", namespace: "ns")
        #expect(try ExportFormat.kubernetesSecret.render(pairs: pairs, kubernetes: options) == KubernetesSecretFormat.render(pairs, options: options))
        let error = try #require(throws: KeywardError.self) { try ExportFormat.kubernetesSecret.render(pairs: pairs) }
        #expect(error.category == .usage)
    }
}

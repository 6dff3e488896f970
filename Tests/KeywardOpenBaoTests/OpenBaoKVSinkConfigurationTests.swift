import Foundation
import KeywardCore
@testable import KeywardOpenBao
import KeywardTesting
import Testing

/// Loads `sinks.kv` (lines under it) through the configuration loader with `openbao-kv` registered.
func loadKVSink(_ lines: [String], shared: String = "", entities: [String] = ["FIU-KV-1"]) throws -> (SinkConfiguration, PluginRegistry) {
    var registry = PluginRegistry()
    OpenBaoKVSink.register(in: &registry)
    registry.registerProvider(type: "static") { configuration, _ in StaticProvider(name: configuration.name, secrets: [:]) }
    let yaml = """
        version: 1
        providers:
          p:
            type: static
        entities:
        \(entities.map { "  \($0):\n    provider: p" }.joined(separator: "\n"))
        \(shared)
        sinks:
          kv:
            type: openbao-kv
            entities: [\(entities.joined(separator: ", "))]
        \(lines.map { "    " + $0 }.joined(separator: "\n"))
        """
    let configuration = try ConfigurationLoader(registry: registry, environment: [:]).parse(yaml: yaml, directory: NSTemporaryDirectory())
    return (try #require(configuration.sinks["kv"]), registry)
}

/// The problems the loader reports for a section, as "keyPath: message" lines.
func kvSinkProblems(_ lines: [String], entities: [String] = ["FIU-KV-1"]) -> [String] {
    do {
        _ = try loadKVSink(lines, entities: entities)
        return []
    } catch let error as ConfigurationError {
        return error.problems.map { "\($0.keyPath): \($0.message)" }
    } catch {
        return ["\(error)"]
    }
}

@Suite("openbao-kv sink configuration: refused at load, with the key's line")
struct OpenBaoKVSinkConfigurationTests {
    @Test("mount and path must be plain segments: no leading '/', no empty, '.' or '..' segment")
    func paths() {
        #expect(OpenBaoKVSink.pathProblem("apps/payments/aa") == nil)
        #expect(OpenBaoKVSink.pathProblem("a") == nil)
        for bad in ["", "/apps", "apps//x", "apps/", "apps/./x", "apps/../x", "..", ".", "a?b", "a#b", "a\nb"] {
            #expect(OpenBaoKVSink.pathProblem(bad) != nil, "\(bad.debugDescription) was accepted")
        }
        #expect(kvSinkProblems(["mount: secret", "path: /etc/x"]) == ["sinks.kv.path: '/etc/x' must not start with '/'"])
        #expect(kvSinkProblems(["mount: secret", "path: apps/../other"]) == ["sinks.kv.path: 'apps/../other' has a '..' segment"])
        #expect(kvSinkProblems(["mount: secret/", "path: apps"]) == ["sinks.kv.mount: 'secret/' has an empty segment ('//' or a trailing '/')"])
        #expect(kvSinkProblems(["path: apps"]) == ["sinks.kv: missing mount (the KV v2 mount, e.g. secret)"])
        #expect(kvSinkProblems(["mount: secret"]) == ["sinks.kv: missing path (the entry's path under the mount, e.g. apps/payments)"])
    }

    @Test("merge is merge or replace")
    func mergeChoice() {
        #expect(kvSinkProblems(["mount: secret", "path: apps", "merge: union"]) == ["sinks.kv.merge: 'union' is not one of merge, replace"])
        #expect(kvSinkProblems(["mount: secret", "path: apps", "merge: replace"]) == [])
    }

    @Test("key names must fit custom_metadata's comma-separated record (no comma, at most 512 bytes in all)")
    func keyNames() {
        #expect(kvSinkProblems(["mount: secret", "path: apps", "keys: {'A,B': '{entity.secret}'}"])
            == ["sinks.kv.keys.A,B: 'A,B' holds a comma or a control character; an openbao-kv sink records its keys comma-separated in custom_metadata"])
        let many = (0..<40).map { "FIU-KV-\($0)" }
        let problems = kvSinkProblems(["mount: secret", "path: apps"], entities: many)
        #expect(problems.count == 1 && problems[0].hasPrefix("sinks.kv: its key names take ") && problems[0].contains("above the server's limit of 512"), "\(problems)")
    }

    @Test("the connection keys need address (without it the shared: connection is used)")
    func connectionNeedsAddress() {
        #expect(kvSinkProblems(["mount: secret", "path: apps", "namespace: team", "auth: {token: 'env:BAO_TOKEN'}"]) == [
            "sinks.kv.namespace: namespace belongs to the sink's own connection, which needs `address` (without it the `shared:` connection is used)",
            "sinks.kv.auth: auth belongs to the sink's own connection, which needs `address` (without it the `shared:` connection is used)",
        ])
        #expect(kvSinkProblems(["mount: secret", "path: apps", "auth: not-a-map"]).first?.hasPrefix("sinks.kv.auth: ") == true)
    }

    @Test("without address and without a shared: section, building the sink is a configuration error naming it")
    func noServer() throws {
        let (section, registry) = try loadKVSink(["mount: secret", "path: apps"])
        let error = #expect(throws: ConfigurationError.self) {
            try registry.makeSink(section, environment: PluginEnvironment(store: nil, credentials: CredentialResolver(environment: [:], store: nil)))
        }
        #expect(error?.category == .usage)
        #expect(error?.problems.first?.keyPath == "sinks.kv")
        #expect(error?.description.contains("needs a server") == true, "\(String(describing: error))")
    }

    @Test("the sink's key line is kept for problems found when it is built")
    func lineKept() throws {
        let (section, _) = try loadKVSink(["mount: secret", "path: apps"])
        #expect(section.line != nil)
        #expect(section.options["path"] == .string("apps"))
        #expect(section.path == nil, "a KV path is no file")
    }
}

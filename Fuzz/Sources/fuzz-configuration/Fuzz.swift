import FuzzSupport
import KeywardCore
import KeywardExporters

/// `keyward.yaml` text, as `ConfigurationLoader.load` reads it (UTF-8 only), against the real
/// sink descriptors (dotenv, shell, kubernetes-secret, json) and a `token-service` provider
/// declaring that type's options. Properties: the loader returns a configuration or throws a
/// `ConfigurationError` with at least one problem, each on a line of the text; it never traps,
/// hangs or throws anything else; loading the same text twice gives the same answer.
private let loader: ConfigurationLoader = {
    var registry = PluginRegistry()
    registry.registerProvider(ProviderTypeDescriptor(type: "token-service", options: [
        .init("baseURL", .string), .init("username", .string), .init("password", .credential), .init("timeout", .duration),
    ]), isDefault: true) { _, _ in throw KeywardError.usage("the fuzz target builds no provider") }
    Exporters.register(in: &registry)
    return ConfigurationLoader(registry: registry, environment: ["HOME": "/home/fuzz", "PATH": "/usr/bin:/bin"])
}()

private func outcome(_ text: String) -> String {
    do {
        let configuration = try loader.parse(yaml: text, file: "keyward.yaml", directory: "/srv/app")
        return "ok providers=\(configuration.providers.keys.sorted()) entities=\(configuration.entities.keys.map(\.rawValue).sorted()) "
            + "sinks=\(configuration.sinks.keys.sorted()) warnings=\(configuration.warnings.count)"
    } catch let error as ConfigurationError {
        require(!error.problems.isEmpty, "a ConfigurationError without problems")
        let lines = yamlLines(text) + 1
        for problem in error.problems {
            require(problem.line.map { (0...lines).contains($0) } ?? true, "a problem on line \(problem.line!) of a \(lines - 1)-line text")
        }
        return "error \(error.problems)"
    } catch {
        require(false, "the loader threw \(type(of: error)), not a ConfigurationError")
        return ""
    }
}

/// How many lines libyaml counts (and so Yams' marks): a line ends at CR LF, CR, LF, NEL
/// (U+0085), LS (U+2028) or PS (U+2029). (The first version of this target counted only LF; a
/// text with lone CRs showed problems "past" its last line: the target's mistake.)
private func yamlLines(_ text: String) -> Int {
    var lines = 1
    var previousCR = false
    for scalar in text.unicodeScalars {
        switch scalar.value {
        case 0x0A: if !previousCR { lines += 1 }
        case 0x0D, 0x85, 0x2028, 0x2029: lines += 1
        default: break
        }
        previousCR = scalar.value == 0x0D
    }
    return lines
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let text = String(validating: input(data, size), as: UTF8.self) else { return 0 }
    let first = outcome(text)
    let second = outcome(text)
    require(first == second, "two loads of one text differ:\n\(first)\n\(second)")
    return 0
}

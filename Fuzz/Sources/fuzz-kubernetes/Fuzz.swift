import Foundation
import FuzzSupport
import KeywardCore
import KeywardExporters
import Yams

/// The Kubernetes Secret manifest writer, read back with Yams (a YAML 1.1/1.2 parser, as
/// kubectl's sigs.k8s.io/yaml would read it). The input, cut at 0xFF bytes, gives an annotation
/// value, a second annotation value, a data key, and up to three data values (keys `k0`, `k1`,
/// `k2`). The property: the writer refuses, or the manifest parses as exactly one YAML document
/// whose `metadata.name`, `namespace`, `labels`, `annotations` (key by key, scalar by scalar)
/// and `type` are those given, and whose `data` holds exactly the given keys, in order, each
/// with a base64 string (RFC 4648, section 4) that decodes to exactly the value's bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let fields = parts(input(data, size), limit: 6)
    let text = { (index: Int) -> String in index < fields.count ? String(decoding: fields[index], as: UTF8.self) : "" }
    let annotations = ["example.com/note": text(0), "keyward.dev/other": text(1)]
    let options = KubernetesSecretOptions(name: "app-secrets", namespace: "payments", labels: ["app": "keyward"], annotations: annotations)
    var pairs: [SinkKeys.Pair] = []
    if fields.count > 2 { pairs.append(SinkKeys.Pair(key: text(2), value: SecretValue(bytes: fields.count > 3 ? fields[3] : []))) }
    for index in 4..<6 where index < fields.count {
        pairs.append(SinkKeys.Pair(key: "k\(index)", value: SecretValue(bytes: fields[index])))
    }

    let output: [UInt8]
    do {
        output = try KubernetesSecretFormat.render(pairs, options: options)
    } catch let error as KeywardError {
        require(error.category == .usage || error.category == .operationFailed, "refused with category \(error.category)")
        return 0
    } catch {
        require(false, "threw \(type(of: error)), not a KeywardError")
        return 0
    }
    guard let yaml = String(validating: output, as: UTF8.self) else {
        require(false, "the manifest is not UTF-8: \(hex(output))")
        return 0
    }
    let documents: [Node]
    do {
        documents = Array(try Yams.compose_all(yaml: yaml))
    } catch {
        require(false, "Yams cannot parse the manifest (\(error)): \(hex(output))")
        return 0
    }
    require(documents.count == 1, "\(documents.count) YAML documents: \(hex(output))")
    guard let root = documents.first?.mapping else { require(false, "the document is not a mapping"); return 0 }

    func scalar(_ node: Node?, _ what: String) -> String {
        guard let scalar = node?.scalar else { require(false, "\(what) is not a scalar: \(hex(output))"); return "" }
        return scalar.string
    }
    // Compared as Unicode scalars (Swift's String == would equate canonically equivalent text).
    func same(_ a: String, _ b: String) -> Bool { Array(a.unicodeScalars) == Array(b.unicodeScalars) }

    require(same(scalar(root["apiVersion"], "apiVersion"), "v1") && same(scalar(root["kind"], "kind"), "Secret"), "apiVersion or kind")
    guard let metadata = root["metadata"]?.mapping else { require(false, "no metadata mapping"); return 0 }
    require(same(scalar(metadata["name"], "name"), "app-secrets"), "name")
    require(same(scalar(metadata["namespace"], "namespace"), "payments"), "namespace")
    require(same(scalar(root["type"], "type"), "Opaque"), "type")
    guard let labels = metadata["labels"]?.mapping, labels.count == 1 else { require(false, "labels"); return 0 }
    require(same(scalar(labels["app"], "label"), "keyward"), "label value")
    guard let written = metadata["annotations"]?.mapping else { require(false, "no annotations mapping: \(hex(output))"); return 0 }
    require(written.count == annotations.count, "\(written.count) annotations read, \(annotations.count) written: \(hex(output))")
    for (key, value) in written {
        let name = scalar(key, "an annotation key")
        guard let expected = annotations.first(where: { same($0.key, name) })?.value else {
            require(false, "an annotation key not written: \(hex(Array(name.utf8)))")
            return 0
        }
        let read = scalar(value, "annotation \(name)")
        // Yams makes each scalar a String with Foundation's `String(bytes:encoding: .utf8)`,
        // which drops a leading U+FEFF: the manifest holds it (as "\ufeff"), and PyYAML and
        // libyaml itself read it back; only Yams loses it. (Found by this target: Yams' quirk,
        // not the writer's.)
        let yamsReadable = expected.unicodeScalars.first == "\u{FEFF}" ? String(expected.unicodeScalars.dropFirst()) : expected
        require(same(read, yamsReadable), "annotation \(name) reads as \(hex(Array(read.utf8))), written \(hex(Array(expected.utf8))): \(hex(output))")
    }
    let dataNode = root["data"]
    let entries: [(Node, Node)] = dataNode?.mapping.map { Array($0) } ?? []
    require(dataNode?.mapping != nil, "data is not a mapping: \(hex(output))")
    require(entries.count == pairs.count, "\(entries.count) data keys read, \(pairs.count) written: \(hex(output))")
    for (pair, (key, value)) in zip(pairs, entries) {
        require(same(scalar(key, "a data key"), pair.key), "data key \(hex(Array(pair.key.utf8))) reads as another")
        let encoded = scalar(value, "data \(pair.key)")
        guard let decoded = Data(base64Encoded: encoded) else {
            require(false, "data \(pair.key) is not base64: \(encoded)")
            return 0
        }
        require(Array(decoded) == pair.value.revealBytes(), "data \(pair.key) decodes to \(hex(decoded)), written \(hex(pair.value.revealBytes()))")
        require(encoded == decoded.base64EncodedString(), "data \(pair.key) is not canonical base64: \(encoded)")
    }
    return 0
}

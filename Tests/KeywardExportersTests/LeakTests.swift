import Foundation
import KeywardCore
import KeywardExporters
import KeywardTesting
import Testing

@Suite("no secret value in errors, descriptions, dumps or logs")
struct LeakTests {
    /// Everything a caller might print about an error.
    private func renderings(of error: any Error) -> [String] {
        var dumped = ""
        dump(error, to: &dumped)
        var texts = [String(describing: error), String(reflecting: error), "\(error)", error.localizedDescription, dumped]
        if let keyward = error as? KeywardError {
            texts.append(keyward.message)
            if let underlying = keyward.underlying { texts.append(String(describing: underlying)) }
        }
        return texts
    }

    @Test("a refused dotenv value never appears in the error", arguments: hostileValues.filter(\.refused))
    func dotenvRefusals(_ hostile: HostileValue) throws {
        // Put a recognisable prefix before the hostile part so short values are scanned too.
        let secret = SecretValue(bytes: Array("SECRET-MARKER-".utf8) + hostile.bytes)
        do {
            _ = try DotenvFormat.render([SinkKeys.Pair(key: "LEAKY", value: secret)])
            Issue.record("expected a refusal")
        } catch {
            for text in renderings(of: error) {
                #expect(LeakScanner.leaks(in: text, of: [secret]).isEmpty)
                #expect(!text.contains("SECRET-MARKER"))
            }
            // What the CLI prints (localizedDescription is Foundation's generic text for it).
            #expect(String(describing: error).contains("LEAKY"))
        }
    }

    @Test("refusals by the docker and systemd dialects, shell and kubernetes-secret name the key, never the value",
          arguments: allDialectValues.filter { dockerRefuses($0.bytes) || systemdRefuses($0.bytes) })
    func otherFormatRefusals(_ hostile: HostileValue) throws {
        let secret = SecretValue(bytes: Array("SECRET-MARKER-".utf8) + hostile.bytes)
        let pairs = [SinkKeys.Pair(key: "LEAKY", value: secret)]
        var errors: [any Error] = []
        for dialect in [DotenvFormat.Dialect.docker, .systemd] {
            do { _ = try DotenvFormat.render(pairs, dialect: dialect) } catch { errors.append(error) }
        }
        do { _ = try ShellFormat.render(pairs) } catch { errors.append(error) }
        #expect(!errors.isEmpty)
        for error in errors {
            for text in renderings(of: error) {
                #expect(LeakScanner.leaks(in: text, of: [secret]).isEmpty)
                #expect(!text.contains("SECRET-MARKER"))
            }
            #expect(String(describing: error).contains("LEAKY"))
        }
    }

    @Test("an oversize kubernetes-secret names the key count and size, never a value")
    func kubernetesOversize() throws {
        let secret = SecretValue(bytes: Array("SECRET-MARKER-".utf8) + [UInt8](repeating: UInt8(ascii: "A"), count: KubernetesSecretFormat.maximumDataSize))
        let error = try #require(throws: KeywardError.self) {
            try KubernetesSecretFormat.render([SinkKeys.Pair(key: "LEAKY", value: secret)], options: KubernetesSecretOptions(name: "s"))
        }
        for text in renderings(of: error) {
            #expect(!text.contains("SECRET-MARKER"))
            #expect(!text.contains("U0VDUkVU"), "base64 of the value")
        }
    }

    @Test("json refusals, sink failures and sink logs at trace level never show the value")
    func sinkErrorsAndLogs() async throws {
        let secretText = "s3cr3t-\u{FFFD}-it's-a\\b-MARKER"
        let directory = try TemporaryDirectory()
        let handler = CapturingLogHandler()
        let context = OperationContext(logger: handler.logger())
        var errors: [any Error] = []

        let binary = SecretValue(bytes: Array("MARKER-binary-".utf8) + [0xFF, 0xFE])
        do { _ = try JSONFormat.render([SinkKeys.Pair(key: "BIN", value: binary)], pretty: true) } catch { errors.append(error) }

        let dotenv = try makeSink("env", sinksYAML: """
              env:
                type: dotenv
                path: app.env
                entities: [FIU-EXAMPLE-1]
            """, directory: directory.path)
        // Written fine, then refused (the secret holds both ' and \), then blocked by a link.
        _ = try await dotenv.write([material(secret: "MARKER-fine-value")], context: context)
        do { _ = try await dotenv.write([material(secret: secretText)], context: context) } catch { errors.append(error) }
        try FileManager.default.removeItem(atPath: directory.file("app.env"))
        try FileManager.default.createSymbolicLink(atPath: directory.file("app.env"), withDestinationPath: "/dev/null")
        do { _ = try await dotenv.write([material(secret: "MARKER-link-value")], context: context) } catch { errors.append(error) }

        let json = try makeSink("j", sinksYAML: """
              j:
                type: json
                path: missing-dir/out.json
                entities: [FIU-EXAMPLE-1]
            """, directory: directory.path)
        do { _ = try await json.write([material(secret: "MARKER-json-value")], context: context) } catch { errors.append(error) }

        #expect(errors.count == 4)
        let secrets = [secretText, "MARKER-fine-value", "MARKER-link-value", "MARKER-json-value", "eyJhbGciOi.payload.sig"]
        for text in errors.flatMap(renderings(of:)) + handler.captured {
            #expect(LeakScanner.leaks(in: text, of: secrets).isEmpty, "leak in: \(text.prefix(80))")
            #expect(LeakScanner.leaks(in: text, of: [binary]).isEmpty)
        }
        #expect(!handler.captured.isEmpty)
        var dumped = ""
        dump(dotenv, to: &dumped)
        #expect(LeakScanner.leaks(in: dumped + String(describing: dotenv), of: secrets).isEmpty)
    }
}

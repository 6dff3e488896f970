import Foundation
import KeywardCore

/// The conformance suite every provider passes, built in or a third party's (DESIGN.md,
/// "Plugins"). Plain Swift that returns the failed cases, so a test target
/// wraps it in `#expect(failures.isEmpty)` and `keyward plugin test` can run it in the release
/// binary. Cases:
/// - fetch returns a non-empty secret that no description, dump or encoding of it shows, and a
///   second fetch returns the same secret;
/// - expiry: an expiry after the fetch and within the type's maximum validity; the notices for an
///   expired secret are there;
/// - reset (a ``SecretRotator``): a new secret, valid no longer than asked, that fetch then returns;
/// - token (an ``AccessTokenIssuer``): a token from the current secret that its description does
///   not show, with a future expiry; a wrong secret is refused without being echoed;
/// - the descriptor accepts the valid section, and refuses an unknown option and a value of the
///   wrong kind for each declared option, naming the key.
///
/// It acts on the service: run it against a test service (a simulator) and a test entity.
///
/// ```swift
/// let failures = await ProviderConformance(provider: provider, descriptor: MyProvider.descriptor,
///                                          entity: "FIU-TEST-1", options: ["endpoint: http://127.0.0.1:8080"]).run(context: context)
/// #expect(failures.isEmpty, "\(failures)")
/// ```
public struct ProviderConformance: Sendable {
    /// The provider under test, built from a valid section.
    public var provider: any SecretProvider
    /// Its type's descriptor.
    public var descriptor: ProviderTypeDescriptor
    /// An entity the provider serves; a rotator's cases reset its secret.
    public var entity: EntityID
    /// Lines of a valid section besides `type`, as YAML under the provider's name (e.g.
    /// `["directory: /tmp/x"]`), for the descriptor's cases.
    public var options: [String]

    public init(provider: any SecretProvider, descriptor: ProviderTypeDescriptor, entity: EntityID, options: [String]) {
        self.provider = provider
        self.descriptor = descriptor
        self.entity = entity
        self.options = options
    }

    /// Slack for clocks and rounding in the expiry cases: one hour.
    static let slack: TimeInterval = 3_600

    /// Runs every case; the failed ones, in the order above (empty when the provider conforms).
    public func run(context: OperationContext) async -> [ConformanceFailure] {
        var failures: [ConformanceFailure] = []
        func fail(_ testCase: String, _ message: String) {
            failures.append(ConformanceFailure(testCase: "provider: " + testCase, message: message))
        }

        // Fetch.
        var current: SecretRecord?
        do {
            let first = try await provider.readSecret(for: entity, context: context)
            current = first.record
            if first.record.value.isEmpty { fail("fetch returns a secret", "the secret is empty") }
            if let shown = Self.shown(first.record.value, in: first.record, warnings: first.warnings) {
                fail("fetch returns a secret whose description never shows its bytes", "\(shown) shows the secret")
            }
            let again = try await provider.readSecret(for: entity, context: context)
            if again.record.value != first.record.value { fail("a second fetch returns the same secret", "fetch changed the secret") }
        } catch {
            fail("fetch returns a secret", "fetch failed: \(error)")
        }

        // Expiry.
        let now = context.clock.now
        if let record = current, let expiresAt = record.expiresAt {
            if let maximum = descriptor.secretValidity.maximumDays, expiresAt.timeIntervalSince(now) > Double(maximum) * 86_400 + Self.slack {
                fail("an expiry within the type's maximum validity", "expires \(expiresAt), beyond \(maximum) days from \(now)")
            }
        }
        let expired = now.addingTimeInterval(-86_400)
        let notices = descriptor.expiryNotices(expired, now)
        if notices.isEmpty || notices.contains(where: \.isEmpty) { fail("an expired secret has notices", "got \(notices)") }
        if let value = current?.value, notices.contains(where: value.occurs(in:)) { fail("an expired secret has notices", "a notice shows the secret") }

        // Reset.
        if let rotator = provider as? any SecretRotator, let old = current {
            do {
                try await rotator.prepareReset(for: entity, context: context)
                let asked = 1
                let reset = try await rotator.resetSecret(for: entity, validityDays: asked, context: context)
                let resetAt = context.clock.now
                if reset.record.value == old.value || reset.record.value.isEmpty { fail("reset gives a new secret", "the secret did not change") }
                if let shown = Self.shown(reset.record.value, in: reset.record, warnings: reset.warnings) {
                    fail("reset gives a new secret", "\(shown) shows the secret")
                }
                if let expiresAt = reset.record.expiresAt {
                    if expiresAt <= resetAt { fail("reset gives a secret valid no longer than asked", "the new secret expired at \(expiresAt)") }
                    if expiresAt.timeIntervalSince(resetAt) > Double(asked) * 86_400 + Self.slack {
                        fail("reset gives a secret valid no longer than asked", "asked \(asked) day, it expires \(expiresAt)")
                    }
                }
                let fetched = try await provider.readSecret(for: entity, context: context)
                if fetched.record.value != reset.record.value { fail("fetch after a reset returns the new secret", "it returned another secret") }
                current = fetched.record
            } catch {
                fail("reset gives a new secret", "reset failed: \(error)")
            }
        }

        // Token.
        if let issuer = provider as? any AccessTokenIssuer, let secret = current?.value {
            do {
                let token = try await issuer.issueAccessToken(for: entity, secret: secret, context: context)
                if token.record.value.isEmpty { fail("token is issued from the current secret", "the token is empty") }
                if let shown = Self.shown(token.record.value, in: token.record, warnings: token.warnings) {
                    fail("token is issued from the current secret", "\(shown) shows the token")
                }
                if let expiresAt = token.record.expiresAt, expiresAt <= context.clock.now {
                    fail("token is issued from the current secret", "the token expired at \(expiresAt)")
                }
            } catch {
                fail("token is issued from the current secret", "failed: \(error)")
            }
            let wrong = SecretValue(utf8: "conformance-wrong-secret-\(UUID().uuidString)")
            do {
                _ = try await issuer.issueAccessToken(for: entity, secret: wrong, context: context)
                fail("token is refused for a wrong secret", "a token was issued")
            } catch {
                if wrong.occurs(in: "\(error)") || wrong.occurs(in: String(reflecting: error)) {
                    fail("token is refused for a wrong secret", "the error shows the wrong secret")
                }
            }
        }

        failures += descriptorCases()
        return failures
    }

    /// The descriptor's cases, through the configuration loader as every command loads it.
    func descriptorCases() -> [ConformanceFailure] {
        var failures: [ConformanceFailure] = []
        func fail(_ testCase: String, _ message: String) {
            failures.append(ConformanceFailure(testCase: "provider: " + testCase, message: message))
        }
        var registry = PluginRegistry()
        let provider = self.provider
        registry.registerProvider(descriptor) { _, _ in provider }
        let loader = ConfigurationLoader(registry: registry, environment: [:])
        func load(_ lines: [String]) -> [ConfigurationError.Problem]? {
            let yaml = "version: 1\nproviders:\n  p:\n    type: \(descriptor.type)\n" + lines.map { "    \($0)\n" }.joined()
            do {
                _ = try loader.parse(yaml: yaml, file: "conformance.yaml", directory: FileManager.default.temporaryDirectory.path)
                return nil
            } catch let error as ConfigurationError {
                return error.problems
            } catch {
                return [.init(keyPath: "", line: nil, column: nil, message: "\(error)")]
            }
        }

        if let problems = load(options) { fail("the descriptor accepts a valid section", "refused: \(problems)") }
        let unknown = "conformanceUnknownOption"
        let refused = load(options + ["\(unknown): 1"])
        if refused?.contains(where: { $0.keyPath == "providers.p.\(unknown)" && $0.line == 5 + options.count }) != true {
            fail("the descriptor rejects unknown options", "no problem for providers.p.\(unknown) at its line: \(refused ?? [])")
        }
        guard let declared = descriptor.options else {
            fail("the descriptor declares its options", "it accepts any key")
            return failures
        }
        for option in declared {
            let lines = options.filter { !$0.hasPrefix(option.name + ":") } + ["\(option.name): {conformance: wrong-kind}"]
            let problems = load(lines)
            if problems?.contains(where: { $0.keyPath == "providers.p.\(option.name)" }) != true {
                fail("the descriptor refuses a value of the wrong kind for \(option.name)", "no problem for providers.p.\(option.name): \(problems ?? [])")
            }
        }
        return failures
    }

    /// Which rendering of `record` (or of the warnings) shows `value`, if any.
    static func shown(_ value: SecretValue, in record: SecretRecord, warnings: [String]) -> String? {
        var dumped = ""
        dump(record, to: &dumped)
        let encoded = (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let renderings: [(String, String)] = [
            ("its description", String(describing: record)), ("its debug description", String(reflecting: record)),
            ("the value's description", String(describing: value)), ("the value's debug description", String(reflecting: value)),
            ("its dump", dumped), ("the value's JSON encoding", encoded), ("a warning", warnings.joined(separator: "\n")),
        ]
        return renderings.first { value.occurs(in: $0.1) }?.0
    }
}

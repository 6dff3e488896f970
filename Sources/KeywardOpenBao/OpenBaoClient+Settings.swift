import Foundation
import KeywardCore

extension OpenBaoServerSettings {
    /// The keys ``parse(options:lines:keyPrefix:directory:)`` reads: `address`, `auth`,
    /// `namespace`, `caFile`, `timeout`. A section that holds more (`shared:` adds `type`,
    /// `mount`, `prefix`, `leaseTTL`; the `openbao-kv` sink its own) rejects unknown keys with
    /// this list and its own.
    public static let optionKeys: [String] = ["address", "auth", "namespace", "caFile", "timeout"]

    /// The keys of `auth.approle`.
    public static let appRoleKeys: [String] = ["roleId", "secretId", "mount"]

    /// The timeout when `timeout` is not given (DESIGN.md, "Beyond one machine": per request,
    /// retries included).
    public static let defaultTimeout: Duration = .seconds(10)

    /// Reads a server connection from a configuration section (`shared:`, or an `openbao-kv`
    /// sink with its own `address`): DESIGN.md, "Beyond one machine".
    ///
    /// - `address` (required): `https://HOST[:PORT]`, or `http://` to a loopback host only.
    /// - `auth` (required): a map with exactly one of `token: REF` or
    ///   `approle: {roleId: REF, secretId: REF, mount: approle}`; `REF` is `env:NAME`,
    ///   `file:PATH` (relative to `directory`) or `vault:ENTRY`. An `openbao:` reference is
    ///   refused (it would need this very connection to be resolved).
    /// - `namespace`: sent as `X-Vault-Namespace`.
    /// - `caFile`: a PEM file of CA certificates, relative to `directory` unless absolute.
    /// - `timeout`: a duration (`10s`, `1m`: ``DurationParser``), default 10 s.
    ///
    /// Other keys in `options` are ignored here (see ``optionKeys``).
    ///
    /// - Parameters:
    ///   - options: the section's keys as YAML gave them (strings, maps), or already typed
    ///     (``ConfigurationValue/credential(_:)``, ``ConfigurationValue/duration(_:)``).
    ///   - lines: each key's line; nested keys as `auth.token`, `auth.approle.roleId`.
    ///   - keyPrefix: the section's key path in problems (`shared`, `sinks.bao`).
    ///   - directory: the configuration file's directory.
    /// - Throws: ``ConfigurationError`` with one problem per fault, each naming its key path
    ///   (`shared.auth.token`) and line; never echoing a value that could be a credential.
    public static func parse(options: [String: ConfigurationValue], lines: [String: Int], keyPrefix: String,
                             directory: String) throws -> OpenBaoServerSettings
    {
        var reader = SettingsReader(lines: lines, keyPrefix: keyPrefix, directory: directory)
        let address = reader.address(options["address"])
        let auth = reader.auth(options["auth"])
        let namespace = reader.namespace(options["namespace"])
        let caFile = reader.caFile(options["caFile"])
        let timeout = reader.timeout(options["timeout"])
        guard reader.problems.isEmpty, let address, let auth else {
            throw ConfigurationError(file: nil, problems: reader.problems)
        }
        return OpenBaoServerSettings(address: address, auth: auth, namespace: namespace, caFile: caFile, timeout: timeout ?? defaultTimeout)
    }
}

/// Reads one section's connection keys, collecting every problem.
private struct SettingsReader {
    let lines: [String: Int]
    let keyPrefix: String
    let directory: String
    var problems: [ConfigurationError.Problem] = []

    /// The line of `key`, or of its nearest parent that has one.
    func line(_ key: String) -> Int? {
        var key = key
        while true {
            if let line = lines[key] { return line }
            guard let dot = key.lastIndex(of: ".") else { return nil }
            key = String(key[..<dot])
        }
    }

    mutating func fail(_ key: String, _ message: String) {
        problems.append(.init(keyPath: keyPrefix.isEmpty ? key : "\(keyPrefix).\(key)", line: line(key), column: nil, message: message))
    }

    mutating func string(_ value: ConfigurationValue?, _ key: String) -> String? {
        guard let value else { return nil }
        guard let text = value.stringValue else {
            fail(key, "expected a string")
            return nil
        }
        return text
    }

    mutating func address(_ value: ConfigurationValue?) -> URL? {
        guard let value else {
            fail("address", "missing: the server's address, https://HOST[:PORT]")
            return nil
        }
        guard let text = string(value, "address") else { return nil }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty, url.path.isEmpty || url.path == "/", url.query == nil, url.fragment == nil,
            url.user == nil, url.password == nil
        else {
            fail("address", "expected https://HOST[:PORT] (or http:// on loopback), without path, query or user")
            return nil
        }
        if scheme == "http", !OpenBaoTransport.isLoopback(host) {
            fail("address", "http:// is allowed only to a loopback host (127.0.0.0/8, ::1, localhost): a token would cross the network in clear; use https://")
            return nil
        }
        return url
    }

    mutating func auth(_ value: ConfigurationValue?) -> OpenBaoAuth? {
        guard let value else {
            fail("auth", "missing: a map with one of token: REF or approle: {roleId: REF, secretId: REF, mount: approle}")
            return nil
        }
        guard case .map(let map) = value else {
            fail("auth", "expected a map with one of token: REF or approle: {roleId: REF, secretId: REF, mount: approle}")
            return nil
        }
        for key in map.keys.sorted() where key != "token" && key != "approle" {
            fail("auth.\(key)", "unknown key (expected one of token, approle)")
        }
        switch (map["token"], map["approle"]) {
        case (let token?, nil):
            return reference(token, "auth.token").map { .token($0) }
        case (nil, let approle?):
            guard case .map(let role) = approle else {
                fail("auth.approle", "expected a map {roleId: REF, secretId: REF, mount: approle}")
                return nil
            }
            for key in role.keys.sorted() where !OpenBaoServerSettings.appRoleKeys.contains(key) {
                fail("auth.approle.\(key)", "unknown key (expected roleId, secretId, mount)")
            }
            var roleID: CredentialReference?, secretID: CredentialReference?
            if let node = role["roleId"] { roleID = reference(node, "auth.approle.roleId") } else { fail("auth.approle.roleId", "missing: \(CredentialReference.formDescription)") }
            if let node = role["secretId"] { secretID = reference(node, "auth.approle.secretId") } else { fail("auth.approle.secretId", "missing: \(CredentialReference.formDescription)") }
            var mount = "approle"
            if let node = role["mount"], let text = string(node, "auth.approle.mount") {
                if Self.isPathLike(text) { mount = text } else {
                    fail("auth.approle.mount", "expected the AppRole auth mount's path (segments of letters, digits, '-', '_', '.'), e.g. approle")
                }
            }
            guard let roleID, let secretID else { return nil }
            return .appRole(roleID: roleID, secretID: secretID, mount: mount)
        case (nil, nil):
            fail("auth", "expected one of token: REF or approle: {roleId: REF, secretId: REF, mount: approle}")
            return nil
        case (_?, _?):
            fail("auth", "give one of token and approle, not both")
            return nil
        }
    }

    /// A credential reference, by Core's rules (``CredentialReference``): `env:NAME`,
    /// `file:PATH` (relative to the configuration's directory; the file must exist and be
    /// private, ``SecretFileRule``), `vault:ENTRY`. Never echoes the text: it may be the secret.
    mutating func reference(_ value: ConfigurationValue, _ key: String) -> CredentialReference? {
        if let reference = value.credentialValue { return reference }
        guard let text = value.stringValue else {
            fail(key, "must be \(CredentialReference.formDescription)")
            return nil
        }
        if text.hasPrefix("openbao:") {
            fail(key, "an openbao: reference cannot authenticate the connection it would be read through; use env:, file: or vault:")
            return nil
        }
        do {
            if let reference = try CredentialReference.parseLocal(text, resolvePath: resolve) { return reference }
        } catch {
            fail(key, error.message)
            return nil
        }
        fail(key, "must be \(CredentialReference.formDescription); a literal token or ID is not accepted in the configuration")
        return nil
    }

    mutating func namespace(_ value: ConfigurationValue?) -> String? {
        guard let value, let text = string(value, "namespace") else { return nil }
        guard Self.isPathLike(text) else {
            fail("namespace", "expected a namespace path (segments of letters, digits, '-', '_', '.'), e.g. payments or team/payments")
            return nil
        }
        return text
    }

    mutating func caFile(_ value: ConfigurationValue?) -> String? {
        guard let value, let text = string(value, "caFile") else { return nil }
        guard !text.isEmpty else {
            fail("caFile", "expected the path of a PEM file of CA certificates")
            return nil
        }
        let path = resolve(text)
        guard FileManager.default.isReadableFile(atPath: path) else {
            fail("caFile", "\(path): no readable file there")
            return nil
        }
        return path
    }

    mutating func timeout(_ value: ConfigurationValue?) -> Duration? {
        guard let value else { return nil }
        if let duration = value.durationValue { return duration }
        guard let text = string(value, "timeout") else { return nil }
        guard let seconds = DurationParser.seconds(text) else {
            fail("timeout", "invalid duration '\(text)': expected \(DurationParser.formDescription)")
            return nil
        }
        return .seconds(seconds)
    }

    func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        if path == "~" || path.hasPrefix("~/") {
            let home = ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? FileManager.default.homeDirectoryForCurrentUser.path
            return URL(fileURLWithPath: home + path.dropFirst()).standardizedFileURL.path
        }
        return URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: directory, isDirectory: true)).standardizedFileURL.path
    }

    static func isPathLike(_ text: String) -> Bool {
        let segments = text.split(separator: "/", omittingEmptySubsequences: false)
        return !text.isEmpty && segments.allSatisfy { segment in
            !segment.isEmpty && segment != "." && segment != ".."
                && segment.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
        }
    }
}

/// Rules about addresses shared by the configuration loader and HTTP clients.
package enum NetworkRules {
    /// `true` for loopback hosts: 127.0.0.0/8 (RFC 1122), `::1` (RFC 4291) and `localhost`.
    /// Plain `http://` is allowed only to these (token-service-contract.md, "Environments").
    package static func isLoopback(host: String) -> Bool {
        let bare = host.trimmingCharacters(in: ["[", "]"]).lowercased()
        if bare == "localhost" || bare == "::1" { return true }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else { return false }
        return octets[0] == "127"
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}

/// A sink key's value template, such as `{entity.secret}` or `Bearer {entity.token}`
/// (DESIGN.md, "Configuration", placeholders). Parsed once at configuration time, so an
/// unknown placeholder is an error there, never an empty or literal output later.
public struct KeyTemplate: Sendable, Equatable {
    /// The placeholders DESIGN.md defines.
    public enum Placeholder: String, Sendable, CaseIterable {
        case id = "entity.id"
        case secret = "entity.secret"
        case token = "entity.token"
        case secretExpiresAt = "entity.secretExpiresAt"
        case tokenExpiresAt = "entity.tokenExpiresAt"
    }

    public enum Part: Sendable, Equatable {
        case literal(String)
        case placeholder(Placeholder)
    }

    public var parts: [Part]

    /// Parses `text`. `{{` and `}}` stand for literal braces.
    ///
    /// - Throws: a message naming the unknown placeholder or the unbalanced brace.
    public init(parsing text: String) throws(TemplateError) {
        var parts: [Part] = []
        var literal = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            if character == "{", next < text.endIndex, text[next] == "{" {
                literal.append("{")
                index = text.index(after: next)
            } else if character == "}", next < text.endIndex, text[next] == "}" {
                literal.append("}")
                index = text.index(after: next)
            } else if character == "{" {
                guard let close = text[next...].firstIndex(of: "}") else {
                    throw TemplateError(message: "unclosed '{' in key template")
                }
                let name = String(text[next..<close])
                guard let placeholder = Placeholder(rawValue: name) else {
                    let known = Placeholder.allCases.map { "{\($0.rawValue)}" }.joined(separator: ", ")
                    throw TemplateError(message: "unknown placeholder {\(name)} (known: \(known))")
                }
                if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
                parts.append(.placeholder(placeholder))
                index = text.index(after: close)
            } else if character == "}" {
                throw TemplateError(message: "unmatched '}' in key template (write '}}' for a literal brace)")
            } else {
                literal.append(character)
                index = next
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        self.parts = parts
    }

    public init(_ placeholder: Placeholder) {
        self.parts = [.placeholder(placeholder)]
    }

    /// A template error, without position: the loader adds the key and line.
    public struct TemplateError: Error, Sendable {
        public var message: String
    }
}

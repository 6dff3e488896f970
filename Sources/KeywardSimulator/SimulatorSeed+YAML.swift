import Foundation
import Yams

extension SimulatorSeed {
    /// Reads a seed from YAML text (DESIGN.md, "The simulator", seed file).
    ///
    /// Unknown keys are an error, as in `keyward.yaml`. Durations are `90s`, `15m`, `24h`, `180d`.
    /// - Throws: ``SimulatorSeedError`` naming the field and its line.
    public static func load(yaml: String) throws -> SimulatorSeed {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            // libyaml's problem texts describe the syntax ("mapping values are not allowed
            // in this context"); they never quote the document.
            throw SimulatorSeedError(field: "", line: error.line, reason: "not valid YAML: \(error.problem)")
        } catch {
            throw SimulatorSeedError(field: "", line: nil, reason: "not valid YAML")
        }
        guard let root else { throw SimulatorSeedError(field: "", line: nil, reason: "the seed is empty") }
        var reader = SeedReader()
        return try reader.read(root)
    }

    /// Parses `90s`, `15m`, `24h`, `180d` into seconds; `nil` for anything else or zero.
    static func parseDuration(_ text: String) -> TimeInterval? {
        guard let unit = text.last, let count = Int(text.dropLast()), count > 0, text.first?.isNumber == true else {
            return nil
        }
        let multiplier: Int
        switch unit {
        case "s": multiplier = 1
        case "m": multiplier = 60
        case "h": multiplier = 3_600
        case "d": multiplier = 86_400
        default: return nil
        }
        let (seconds, overflow) = count.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : TimeInterval(seconds)
    }
}

extension YamlError {
    /// The 1-based line of a parse error, when Yams reports one.
    fileprivate var line: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return mark.line
        default:
            return nil
        }
    }

    fileprivate var problem: String {
        switch self {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _):
            return problem
        case .duplicatedKeysInMapping(let duplicates, _):
            return "duplicate keys \(duplicates.joined(separator: ", "))"
        default:
            return "unreadable document"
        }
    }
}

/// Walks the composed YAML tree so that every error can name its field and line.
private struct SeedReader {
    func read(_ root: Node) throws -> SimulatorSeed {
        let top = try mapping(root, field: "", allowed: ["users", "entities", "userTokenLifetime", "entityTokenLifetime"])
        var seed = SimulatorSeed(users: [], entities: [])

        if let node = top["entities"] {
            for (index, item) in try sequence(node, field: "entities").enumerated() {
                let field = "entities[\(index)]"
                let fields = try mapping(item, field: field, allowed: ["id", "secret", "expiresIn"])
                let id = try string(required(fields["id"], field: "\(field).id", parent: item), field: "\(field).id")
                guard !id.isEmpty else { throw error(item, "\(field).id", "must not be empty") }
                if seed.entities.contains(where: { $0.id == id }) {
                    throw error(fields["id"]!, "\(field).id", "entity \"\(id)\" is defined twice")
                }
                var secret: String?
                if let node = fields["secret"], !isNull(node) {
                    secret = try string(node, field: "\(field).secret")
                    if secret?.isEmpty == true { throw error(node, "\(field).secret", "must not be empty (omit it to generate one)") }
                }
                var expiresIn: TimeInterval?
                if let node = fields["expiresIn"], !isNull(node) {
                    expiresIn = try duration(node, field: "\(field).expiresIn")
                }
                seed.entities.append(.init(id: id, secret: secret, expiresIn: expiresIn))
            }
        }

        if let node = top["users"] {
            for (index, item) in try sequence(node, field: "users").enumerated() {
                let field = "users[\(index)]"
                let fields = try mapping(item, field: field, allowed: ["username", "password", "entities"])
                let username = try string(required(fields["username"], field: "\(field).username", parent: item), field: "\(field).username")
                guard !username.isEmpty else { throw error(item, "\(field).username", "must not be empty") }
                if seed.users.contains(where: { $0.username == username }) {
                    throw error(fields["username"]!, "\(field).username", "user \"\(username)\" is defined twice")
                }
                let password = try string(required(fields["password"], field: "\(field).password", parent: item), field: "\(field).password")
                var entities: [String] = []
                if let node = fields["entities"], !isNull(node) {
                    for (position, entry) in try sequence(node, field: "\(field).entities").enumerated() {
                        let entityField = "\(field).entities[\(position)]"
                        let id = try string(entry, field: entityField)
                        guard seed.entities.contains(where: { $0.id == id }) else {
                            throw error(entry, entityField, "entity \"\(id)\" is not defined under entities")
                        }
                        entities.append(id)
                    }
                }
                seed.users.append(.init(username: username, password: password, entities: entities))
            }
        }

        if let node = top["userTokenLifetime"], !isNull(node) {
            seed.userTokenLifetime = try duration(node, field: "userTokenLifetime")
        }
        if let node = top["entityTokenLifetime"], !isNull(node) {
            seed.entityTokenLifetime = try duration(node, field: "entityTokenLifetime")
        }
        return seed
    }

    private func error(_ node: Node, _ field: String, _ reason: String) -> SimulatorSeedError {
        SimulatorSeedError(field: field, line: node.mark?.line, reason: reason)
    }

    private func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private func mapping(_ node: Node, field: String, allowed: Set<String>) throws -> [String: Node] {
        guard case .mapping(let mapping) = node else {
            throw error(node, field, "expected a mapping of keys to values")
        }
        var result: [String: Node] = [:]
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else { throw error(key, field, "keys must be plain strings") }
            let name = scalar.string
            let path = field.isEmpty ? name : "\(field).\(name)"
            guard allowed.contains(name) else {
                throw error(key, path, "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            guard result[name] == nil else { throw error(key, path, "appears twice") }
            result[name] = value
        }
        return result
    }

    private func sequence(_ node: Node, field: String) throws -> [Node] {
        if isNull(node) { return [] }
        guard case .sequence(let sequence) = node else { throw error(node, field, "expected a list") }
        return Array(sequence)
    }

    private func required(_ node: Node?, field: String, parent: Node) throws -> Node {
        guard let node, !isNull(node) else { throw error(parent, field, "is required") }
        return node
    }

    private func string(_ node: Node, field: String) throws -> String {
        // Values are never echoed: this may be a password or a secret.
        guard case .scalar(let scalar) = node else { throw error(node, field, "expected a string") }
        return scalar.string
    }

    private func duration(_ node: Node, field: String) throws -> TimeInterval {
        guard case .scalar(let scalar) = node, let seconds = SimulatorSeed.parseDuration(scalar.string) else {
            throw error(node, field, "expected a positive duration such as 90s, 15m, 24h or 180d")
        }
        return seconds
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// The admin HTTP API under `/_sim` (DESIGN.md, "The simulator"): the same controls tests have
/// in-process, for a simulator run as `keyward simulator`. Admin calls are not counted.
///
/// | call | effect |
/// | --- | --- |
/// | `GET /_sim/counters` | `{"userToken": n, "secretRead": n, "secretReset": n, "entityToken": n}` |
/// | `POST /_sim/counters/reset` | zeroes the counters, answers them |
/// | `GET /_sim/secrets` | `{"<entity id>": "<current secret>", …}` |
/// | `POST /_sim/clock` `{"advanceSeconds": N}` | moves the clock forward N ≥ 0 seconds |
/// | `POST /_sim/faults` `{"endpoint", "kind", "ms", "count", "retryAfter"}` | queues a fault |
/// | `DELETE /_sim/faults` | forgets queued faults |
/// | `POST /_sim/revoke-user-tokens` | every user token minted so far is refused (401, as after a service restart); answers `{"revoked": n}` |
/// | `POST /_sim/config` `{"expiresOnUnit": "s"\|"ms"}` | the unit of `expiresOn` |
/// | `POST /_sim/entities/<ID>/expiry` `{"expiresInSeconds": N\|null}` | the entity's secret now expires N seconds from the simulator's now (`null`: never); its bytes stay |
///
/// Bad input answers 400 with `{"error": "…"}`.
extension TokenServiceSimulator {
    private struct AdminError: Error {
        var message: String
    }

    func addAdminRoutes(to router: Router<BasicRequestContext>) {
        router.get("_sim/counters") { _, _ in
            Self.json(.ok, self.counterDocument())
        }
        router.post("_sim/counters/reset") { _, _ in
            self.resetCounters()
            return Self.json(.ok, self.counterDocument())
        }
        router.get("_sim/secrets") { _, _ in
            let secrets = self.state.withLockedValue { $0.entities.mapValues(\.secret) }
            return Self.json(.ok, secrets)
        }
        router.post("_sim/clock") { request, _ in
            try await self.admin(request, allowed: ["advanceSeconds"]) { fields in
                guard let value = fields["advanceSeconds"] else { throw AdminError(message: "advanceSeconds is required") }
                let seconds: Double
                switch value {
                case .integer(let whole): seconds = Double(whole)
                case .number(let fraction): seconds = fraction
                default: throw AdminError(message: "advanceSeconds must be a number of seconds")
                }
                guard seconds >= 0, seconds.isFinite else {
                    throw AdminError(message: "advanceSeconds must not be negative: the clock only moves forward")
                }
                self.advanceClock(bySeconds: seconds)
                return Self.json(.ok, ClockDocument(now: WireFormat.timestamp(self.now, fractionDigits: 3), offsetSeconds: self.clockOffset))
            }
        }
        router.post("_sim/faults") { request, _ in
            try await self.admin(request, allowed: ["endpoint", "kind", "ms", "count", "retryAfter"]) { fields in
                let (fault, endpoint, count) = try Self.fault(from: fields)
                self.inject(fault, endpoint: endpoint, count: count)
                return Self.json(.ok, FaultDocument(endpoint: endpoint?.rawValue ?? "any", kind: fault.kind, count: count))
            }
        }
        router.post("_sim/revoke-user-tokens") { _, _ in
            Self.json(.ok, ["revoked": self.revokeUserTokens()])
        }
        router.delete("_sim/faults") { _, _ in
            self.clearFaults()
            return Response(status: .noContent)
        }
        router.post("_sim/entities/:id/expiry") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await self.admin(request, allowed: ["expiresInSeconds"]) { fields in
                guard let value = fields["expiresInSeconds"] else {
                    throw AdminError(message: "expiresInSeconds is required (a number of seconds, or null for no expiry)")
                }
                let seconds: Double?
                switch value {
                case .null: seconds = nil
                case .integer(let whole): seconds = Double(whole)
                case .number(let fraction) where fraction.isFinite: seconds = fraction
                default: throw AdminError(message: "expiresInSeconds must be a number of seconds, or null for no expiry")
                }
                guard self.setSecretExpiry(for: id, expiresIn: seconds) else {
                    return Self.json(.notFound, ["error": "no entity \(id)"])
                }
                let expiresAt = self.secretExpiry(for: id).map { WireFormat.timestamp($0, fractionDigits: 3) }
                return Self.json(.ok, ExpiryDocument(entity: id, expiresAt: expiresAt))
            }
        }
        router.post("_sim/config") { request, _ in
            try await self.admin(request, allowed: ["expiresOnUnit"]) { fields in
                guard let value = fields["expiresOnUnit"] else { throw AdminError(message: "expiresOnUnit is required") }
                guard let text = value.string, let unit = ExpiresOnUnit(rawValue: text) else {
                    throw AdminError(message: "expiresOnUnit must be \"s\" or \"ms\"")
                }
                self.setExpiresOnUnit(unit)
                return Self.json(.ok, ["expiresOnUnit": unit.rawValue])
            }
        }
    }

    private struct ClockDocument: Encodable {
        var now: String
        var offsetSeconds: Double
    }

    private struct ExpiryDocument: Encodable {
        var entity: String
        /// `nil` (encoded `null`): the secret never expires.
        var expiresAt: String?

        private enum CodingKeys: String, CodingKey { case entity, expiresAt }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(entity, forKey: .entity)
            try container.encode(expiresAt, forKey: .expiresAt)
        }
    }

    private struct FaultDocument: Encodable {
        var endpoint: String
        var kind: String
        var count: Int
    }

    private func counterDocument() -> [String: Int] {
        Dictionary(uniqueKeysWithValues: counters().map { ($0.key.rawValue, $0.value) })
    }

    /// Reads a JSON object body, refuses unknown keys, and turns an ``AdminError`` into a 400.
    private func admin(
        _ request: Request,
        allowed: Set<String>,
        _ handle: ([String: JSONValue]) throws -> Response
    ) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: Self.maximumBodySize)
        do {
            guard let fields = JSONValue.object(from: Array(buffer: body)) else {
                throw AdminError(message: "the body must be a JSON object")
            }
            if let unknown = fields.keys.filter({ !allowed.contains($0) }).sorted().first {
                throw AdminError(message: "unknown field \"\(unknown)\"; expected \(allowed.sorted().joined(separator: ", "))")
            }
            return try handle(fields)
        } catch let error as AdminError {
            return Self.json(.badRequest, ["error": error.message])
        }
    }

    private static func fault(
        from fields: [String: JSONValue]
    ) throws -> (SimulatorFault, SimulatorEndpoint?, Int) {
        let endpointNames = SimulatorEndpoint.allCases.map(\.rawValue) + ["any"]
        var endpoint: SimulatorEndpoint?
        if let value = fields["endpoint"], value != .null {
            guard let name = value.string, endpointNames.contains(name) else {
                throw AdminError(message: "endpoint must be one of \(endpointNames.joined(separator: ", "))")
            }
            endpoint = SimulatorEndpoint(rawValue: name)
        }
        func positiveInteger(_ name: String, default defaultValue: Int?, allowZero: Bool = false) throws -> Int {
            guard let value = fields[name], value != .null else {
                guard let defaultValue else { throw AdminError(message: "\(name) is required for this kind") }
                return defaultValue
            }
            guard let number = value.integer, allowZero ? number >= 0 : number > 0 else {
                throw AdminError(message: "\(name) must be a\(allowZero ? " non-negative" : " positive") integer")
            }
            return number
        }
        let count = try positiveInteger("count", default: 1)
        let kinds = ["latency", "status500", "html502", "rateLimit429", "drop", "truncate", "dropAfterApplying", "oversized"]
        guard let kind = fields["kind"]?.string else {
            throw AdminError(message: "kind is required: one of \(kinds.joined(separator: ", "))")
        }
        let fault: SimulatorFault
        switch kind {
        case "latency": fault = .latency(milliseconds: try positiveInteger("ms", default: nil))
        case "status500": fault = .status500
        case "html502": fault = .html502
        case "rateLimit429": fault = .rateLimit429(retryAfterSeconds: try positiveInteger("retryAfter", default: 1, allowZero: true))
        case "drop": fault = .drop
        case "truncate": fault = .truncate
        case "dropAfterApplying": fault = .dropAfterApplying
        case "oversized": fault = .oversized
        default: throw AdminError(message: "kind must be one of \(kinds.joined(separator: ", "))")
        }
        return (fault, endpoint, count)
    }
}

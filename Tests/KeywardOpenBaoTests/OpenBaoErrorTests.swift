import KeywardCore
import KeywardOpenBao
import Testing

@Suite("OpenBao errors: categories follow DESIGN.md's table and messages name server, path and status")
struct OpenBaoErrorTests {
    @Test("403 is authentication (exit 3), a missing or KV v1 mount is usage (exit 2), a CAS conflict or a sealed server fails the operation (exit 1)")
    func categories() {
        func category(_ kind: OpenBaoError.Kind) -> FailureCategory {
            OpenBaoError(kind, server: "http://127.0.0.1:8200", path: "secret/data/x", status: 400, detail: "d").category
        }
        #expect(category(.forbidden) == .authentication)
        #expect(category(.mountNotFound) == .usage)
        #expect(category(.kvVersion1) == .usage)
        #expect(category(.casConflict) == .operationFailed)
        #expect(category(.sealed) == .operationFailed)
        #expect(category(.unreachable) == .operationFailed)
    }

    @Test("the message names the server, the path and the status")
    func message() {
        let error = OpenBaoError(.forbidden, server: "http://127.0.0.1:8200", path: "secret/data/keyward/leases/FIU-1", status: 403,
                                 detail: "permission denied")
        #expect(error.description == "OpenBao http://127.0.0.1:8200: secret/data/keyward/leases/FIU-1: HTTP 403: permission denied")
    }
}

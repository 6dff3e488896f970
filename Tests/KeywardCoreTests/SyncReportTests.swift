import Foundation
import KeywardCore
import Testing

@Suite("sync outcomes to exit categories")
struct SyncReportTests {
    func entity(_ outcome: String, code: String? = nil) -> SyncReport.EntityOutcome {
        var json = #"{"id":"FIU-1","outcome":"\#(outcome)","warnings":[],"changes":[]"#
        if let code { json += #","error":{"code":"\#(code)","message":"m"}"# }
        json += "}"
        return try! JSONDecoder().decode(SyncReport.EntityOutcome.self, from: Data(json.utf8))
    }

    func sink(_ outcome: String) -> SyncReport.SinkOutcome {
        try! JSONDecoder().decode(SyncReport.SinkOutcome.self, from: Data(#"{"name":"s","outcome":"\#(outcome)"}"#.utf8))
    }

    @Test("nothing failed: no category")
    func success() {
        #expect(SyncReport(dryRun: false, entities: [entity("ok"), entity("unchanged")], sinks: [sink("unchanged")]).failureCategory == nil)
    }

    @Test("an outage is not partial, even when sinks were left unchanged")
    func outage() {
        let report = SyncReport(dryRun: false, entities: [entity("failed", code: "operationFailed"), entity("failed", code: "operationFailed")],
                                sinks: [sink("unchanged")])
        #expect(report.failureCategory == .operationFailed)
    }

    @Test("only authentication failures: authentication")
    func authentication() {
        #expect(SyncReport(dryRun: false, entities: [entity("failed", code: "authentication")], sinks: []).failureCategory == .authentication)
    }

    @Test("some failed, some synced or written: partial")
    func partial() {
        #expect(SyncReport(dryRun: false, entities: [entity("failed", code: "authentication"), entity("ok")], sinks: []).failureCategory == .partial)
        #expect(SyncReport(dryRun: false, entities: [entity("ok")], sinks: [sink("failed")]).failureCategory == .partial)
        #expect(SyncReport(dryRun: false, entities: [entity("failed", code: "operationFailed")], sinks: [sink("written")]).failureCategory == .partial)
    }
}

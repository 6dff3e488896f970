import Foundation
import FuzzSupport
import KeywardCore
@_spi(Fuzzing) import KeywardExternal

/// What Keyward makes of an external plugin's stdout (protocol 1, DESIGN.md "Plugins"): the
/// input is the plugin's stdout; the first byte also picks its exit status (0, or 1 in a
/// quarter of the runs), and a known secret the request carried is redacted from errors.
/// Properties: the answer is an object that speaks protocol 1 and holds no `error`, or a typed
/// `ExternalPluginError` whose message is printable (no control character but none, the
/// message cut to its limit) and never holds the request's secret; every answer object is then
/// checked as a `describe`, a `fetch`, and a `token` answer, each of which either gives a
/// record whose value is the answer's string, byte for byte (no NUL, never empty), or a
/// protocol violation. Nothing traps, hangs or leaks.
private let knownSecret = Array("s3cr3t-Value/with+base64==".utf8)
private let now = Date(timeIntervalSince1970: 1_800_000_000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let stdout = input(data, size)
    let status: Int32 = (stdout.first ?? 0) & 3 == 3 ? 1 << 8 : 0
    switch PluginAnswerDecoding.answer(stdout: stdout, stderr: stdout, status: status, secrets: [knownSecret]) {
    case .failure(let error):
        require(!Array(error.message.utf8).contains(knownSecret), "the error message holds the request's secret")
        require(!error.message.unicodeScalars.contains { $0.properties.generalCategory == .control }, "a control character in the message")
        require(!error.description.isEmpty, "an empty description")
    case .success(let answer):
        require(status == 0, "an answer accepted from a plugin that exited 1")
        require(answer["protocol"] == .integer(1) && answer["error"] == nil, "an answer without protocol 1, or with an error")
        checkAnswer(answer)
    }
    return 0
}

private func checkAnswer(_ answer: [String: JSONValue]) {
    do {
        let description = try PluginAnswerDecoding.description(of: answer, expecting: nil)
        require(description.protocols.contains(1) && !description.name.isEmpty, "a describe answer accepted without protocol 1 or a name")
    } catch {}
    for operation in ["fetch", "reset"] {
        do {
            let provided = try PluginAnswerDecoding.secret(of: answer, operation: operation, now: now)
            let value = provided.record.value.revealBytes()
            require(answer["secret"]?.stringValue.map { Array($0.utf8) } == value, "\(operation): the record's value is not the answer's secret")
            require(!value.isEmpty && !value.contains(0), "\(operation): an empty secret or one holding a NUL")
        } catch let error as ExternalPluginError {
            require(error.code == .protocolViolation, "\(operation): a refusal that is not a protocol violation")
        } catch {
            require(false, "\(operation): threw \(type(of: error))")
        }
    }
    do {
        let provided = try PluginAnswerDecoding.token(of: answer, now: now)
        let value = provided.record.value.revealBytes()
        require(answer["token"]?.stringValue.map { Array($0.utf8) } == value, "token: the record's value is not the answer's token")
        require(!value.isEmpty && !value.contains(0), "token: an empty token or one holding a NUL")
        require(provided.record.expiresAt.map { $0 > now } ?? false, "token: accepted without a future expiresAt")
    } catch let error as ExternalPluginError {
        require(error.code == .protocolViolation, "token: a refusal that is not a protocol violation")
    } catch {
        require(false, "token: threw \(type(of: error))")
    }
}

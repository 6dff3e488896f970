import Foundation
import KeywardCore
@testable import KeywardExternal
import Testing

@Suite("ExternalPlugin describe")
struct ExternalPluginDescribeTests {
    /// A plugin answering `answer` to describe.
    static func describing(_ answer: String, expecting kind: PluginKind? = nil) throws -> Result<ExternalPluginDescription, ExternalPluginError> {
        let scripts = try PluginScripts()
        let path = try scripts.script("plugin", "#!/bin/sh\ncat >/dev/null\ncat <<'JSON'\n\(answer)\nJSON\n")
        return Result { () throws(ExternalPluginError) in try scripts.plugin(path).describe(expecting: kind) }
            .mapError { var error = $0; error.plugin = "PLUGIN"; return error }
    }

    @Test("a provider's describe: fetch, reset, token, a secret option, options left out meaning none")
    func provider() throws {
        let answer = #"{"protocol":1,"kind":"provider","name":"files","protocols":[1,2],"capabilities":["fetch","reset","token","future"],"options":{"password":{"type":"secret","required":true}}}"#
        #expect(try Self.describing(answer, expecting: .provider).get() == ExternalPluginDescription(
            kind: .provider, name: "files", protocols: [1, 2], capabilities: ["fetch", "reset", "token", "future"],
            options: ["password": .init(kind: .credential, required: true)]))
        let bare = #"{"protocol":1,"kind":"sink","name":"s","protocols":[1],"capabilities":["write"]}"#
        #expect(try Self.describing(bare).get().options == [:])
    }

    @Test("every bad describe answer is refused with what was wrong", arguments: [
        (#"{"protocol":1,"kind":"sink","name":"s","protocols":[2],"capabilities":["write"]}"#, nil,
         "its describe answer says it speaks protocols 2; Keyward speaks 1"),
        (#"{"protocol":1,"kind":"sink","name":"s","capabilities":["write"]}"#, nil,
         "its describe answer has no \"protocols\" list of whole numbers"),
        (#"{"protocol":1,"kind":"widget","name":"s","protocols":[1],"capabilities":["write"]}"#, nil,
         "its describe answer has no \"kind\" \"sink\" or \"provider\""),
        (#"{"protocol":1,"kind":"sink","name":"s","protocols":[1],"capabilities":["write"]}"#, PluginKind.provider,
         "its describe answer says it is a sink, but the configuration uses it as a provider"),
        (#"{"protocol":1,"kind":"sink","protocols":[1],"capabilities":["write"]}"#, nil,
         "its describe answer has no \"name\""),
        (#"{"protocol":1,"kind":"sink","name":"s","protocols":[1],"capabilities":["read"]}"#, nil,
         "its describe answer does not claim the \"write\" capability a sink needs"),
        (#"{"protocol":1,"kind":"provider","name":"p","protocols":[1],"capabilities":["reset"]}"#, nil,
         "its describe answer does not claim the \"fetch\" capability a provider needs"),
        (#"{"protocol":1,"kind":"sink","name":"s","protocols":[1],"capabilities":"write"}"#, nil,
         "its describe answer has no \"capabilities\" list of strings"),
        (#"{"protocol":1,"kind":"sink","name":"s","protocols":[1],"capabilities":["write"],"options":{"n":{"type":"float"}}}"#, nil,
         "its describe answer gives option \"n\" no \"type\" among string, integer, boolean, duration, list, secret"),
        (#"{"protocol":1,"kind":"sink","name":"s","protocols":[1],"capabilities":["write"],"options":{"n":{"type":"string","required":"yes"}}}"#, nil,
         "its describe answer gives option \"n\" a \"required\" that is not true or false"),
        (#"{"protocol":1,"kind":"sink","name":"s","protocols":[1],"capabilities":["write"],"options":{"keys":{"type":"string"}}}"#, nil,
         "its describe answer has an option \"keys\", the name of a common key of a sink entry"),
        (#"{"protocol":1,"kind":"provider","name":"p","protocols":[1],"capabilities":["fetch"],"options":{"timeout":{"type":"duration"}}}"#, nil,
         "its describe answer has an option \"timeout\", the name of a common key of a provider entry"),
        (#"{"protocol":1,"kind":"sink","name":"s","protocols":[1],"capabilities":["write"],"options":{"onChangeTimeout":{"type":"duration"}}}"#, nil,
         "its describe answer has an option \"onChangeTimeout\", the name of a common key of a sink entry"),
        (#"{"protocol":1,"kind":"sink","name":"s","protocols":[1],"capabilities":["write"],"options":["path"]}"#, nil,
         "its describe answer has \"options\" that are not an object"),
        (#"{"protocol":2,"kind":"sink","name":"s","protocols":[1],"capabilities":["write"]}"#, nil,
         "speaks protocol 2; Keyward speaks 1"),
        ("not json", nil, "did not answer a JSON object"),
    ] as [(String, PluginKind?, String)])
    func refused(answer: String, kind: PluginKind?, message: String) throws {
        #expect(try Self.describing(answer, expecting: kind) == .failure(ExternalPluginError(plugin: "PLUGIN", code: .protocolViolation, message: message)))
    }

    @Test("a sink may take options named path, mode and allowGroupRead (Keyward writes no file for it)")
    func pathOption() throws {
        let answer = #"{"protocol":1,"kind":"sink","name":"s","protocols":[1],"capabilities":["write"],"options":{"path":{"type":"string","required":true},"mode":{"type":"string"},"allowGroupRead":{"type":"boolean"}}}"#
        #expect(try Self.describing(answer, expecting: .sink).get().options == ["path": .init(kind: .string, required: true),
                                                                                "mode": .init(kind: .string, required: false),
                                                                                "allowGroupRead": .init(kind: .boolean, required: false)])
    }

    @Test("the failure names the plugin's path")
    func namesPath() throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("keyward-sink-broken", "#!/bin/sh\nexit 4\n")
        #expect(throws: ExternalPluginError(plugin: path, code: .protocolViolation, message: "exited with status 4")) {
            try scripts.plugin(path).describe(expecting: .sink)
        }
        #expect(ExternalPluginError(plugin: path, code: .protocolViolation, message: "exited with status 4").description == "plugin \(path): exited with status 4")
    }
}

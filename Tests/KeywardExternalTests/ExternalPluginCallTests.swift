import Foundation
import KeywardCore
@testable import KeywardExternal
import Logging
import Testing

@Suite("ExternalPlugin describe and call")
struct ExternalPluginCallTests {
    static let goodSink = """
        #!/bin/sh
        cat >/dev/null
        printf '%s\\n' '{"protocol":1,"kind":"sink","name":"demo","protocols":[1],"capabilities":["write","read"],"options":{"path":{"type":"string","required":true},"token":{"type":"secret","required":false},"every":{"type":"duration"},"tags":{"type":"list","required":false},"count":{"type":"integer","required":false},"on":{"type":"boolean","required":false}}}'
        """

    @Test("describe reads a sink's kind, name, protocols, capabilities and options")
    func describeSink() throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("sink", Self.goodSink)
        let description = try scripts.plugin(path).describe(expecting: .sink)
        #expect(description == ExternalPluginDescription(
            kind: .sink, name: "demo", protocols: [1], capabilities: ["write", "read"],
            options: ["path": .init(kind: .string, required: true), "token": .init(kind: .credential, required: false),
                      "every": .init(kind: .duration, required: false), "tags": .init(kind: .list, required: false),
                      "count": .init(kind: .integer, required: false), "on": .init(kind: .boolean, required: false)]))
    }

    @Test("call sends the request with protocol 1 on stdin and returns the answer object")
    func callEchoes() async throws {
        let scripts = try PluginScripts()
        let path = try scripts.script("echo", """
            #!/usr/bin/env python3
            import json, sys
            request = json.load(sys.stdin)
            print(json.dumps({"protocol": 1, "seen": request}))
            """)
        let (logger, _) = RecordingLogHandler.logger()
        let answer = try await scripts.plugin(path).call(["operation": .string("fetch"), "n": .integer(7)], logger: logger)
        #expect(answer == ["protocol": .integer(1), "seen": .object(["protocol": .integer(1), "operation": .string("fetch"), "n": .integer(7)])])
    }
}

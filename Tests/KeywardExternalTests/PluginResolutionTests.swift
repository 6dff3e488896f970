import Foundation
import KeywardTesting
import KeywardCore
@testable import KeywardExternal
import Testing

/// `ExternalPlugins.resolve` (wtA): where `type: external` commands and PATH types are found,
/// the trust checks, and the on-disk describe cache's place.
@Suite("external plugin resolution")
struct PluginResolutionTests {
    static let answer = #"{"protocol":1,"kind":"sink","name":"t","protocols":[1],"capabilities":["write"],"options":{}}"#

    /// A private directory with `bin/` (0700) holding `name` (0755), which answers describe.
    func setUp(_ name: String = "plugin") throws -> (directory: String, plugin: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyward-resolve-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
        let plugin = directory + "/bin/" + name
        try ScriptFile.write("#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' '\(Self.answer)'\n", to: plugin)
        return (directory, plugin)
    }

    func environment(_ directory: String) -> [String: String] {
        ["PATH": "\(directory)/bin:relative/bin::/usr/bin:/bin", "XDG_CACHE_HOME": directory + "/cache", "HOME": directory]
    }

    @Test("type: external: an absolute path, a path against the configuration's directory, or a bare name on PATH")
    func commandForms() throws {
        let (directory, plugin) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let resolver = ExternalPlugins()
        for command in [[plugin, "--x"], ["./bin/plugin", "--x"], ["bin/../bin/plugin", "--x"], ["plugin", "--x"]] {
            let resolved = try resolver.resolve(kind: .sink, type: "external", command: command, directory: directory,
                                                environment: environment(directory), timeout: .seconds(10))
            #expect(resolved.command == [plugin, "--x"], "\(command)")
            #expect(resolved.description.name == "t")
        }
    }

    @Test("only PATH's absolute directories are searched, and reported")
    func searchPath() throws {
        let (directory, _) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: ExternalPluginLookupError.notFound(executable: "keyward-provider-none", searched: [directory + "/bin", "/usr/bin", "/bin"])) {
            try ExternalPlugins().resolve(kind: .provider, type: "none", command: nil, directory: directory, environment: environment(directory),
                                          timeout: .seconds(10))
        }
        #expect(ExternalPlugins.searchPath(environment: ["PATH": "/a:/a:b::/c/"]) == ["/a", "/c/"])
    }

    @Test("a plugin in a sticky directory others can write (like /tmp) is refused")
    func stickyDirectory() throws {
        let (directory, plugin) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: directory + "/bin")
        #expect(throws: ExternalPluginLookupError.unusable("the directory \(directory)/bin holding the plugin \(plugin) can be written by others (a shared directory like /tmp): move it to a directory only you can write, e.g. ~/.local/bin")) {
            try ExternalPlugins().resolve(kind: .sink, type: "external", command: [plugin], directory: directory, environment: environment(directory),
                                          timeout: .seconds(10))
        }
    }

    @Test("a directory above the plugin's that others can write is refused (they could rename bin/ and plant another); a sticky one is not")
    func ancestors() throws {
        let (directory, plugin) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory)
        let refused = ExternalPluginLookupError.unusable("the directory \(directory) above the plugin \(plugin) can be written by group or others, who could rename what it holds and put something else in its place: run `chmod go-w \(directory)`")
        #expect(throws: refused) {
            try ExternalPlugins().resolve(kind: .sink, type: "external", command: [plugin], directory: directory, environment: environment(directory),
                                          timeout: .seconds(10))
        }
        // Relative to a configuration directory others can write, and as a script an interpreter runs.
        #expect(throws: refused) {
            try ExternalPlugins().resolve(kind: .sink, type: "external", command: ["./bin/plugin"], directory: directory, environment: environment(directory))
        }
        #expect(throws: ExternalPluginLookupError.unusable("the directory \(directory) above the file bin/plugin the plugin runs \(plugin) can be written by group or others, who could rename what it holds and put something else in its place: run `chmod go-w \(directory)`")) {
            try ExternalPlugins().resolve(kind: .sink, type: "external", command: ["/bin/sh", "bin/plugin"], directory: directory, environment: environment(directory))
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: directory)
        let resolved = try ExternalPlugins().resolve(kind: .sink, type: "external", command: [plugin], directory: directory, environment: environment(directory),
                                                     timeout: .seconds(10))
        #expect(resolved.command == [plugin])
    }

    @Test("a directory is not a plugin; a missing path is named")
    func notAFile() throws {
        let (directory, _) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/bin/dir", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        #expect(throws: ExternalPluginLookupError.unusable("\(directory)/bin/dir is not a regular file, so it cannot be a plugin")) {
            try ExternalPlugins().resolve(kind: .sink, type: "external", command: ["./bin/dir"], directory: directory, environment: environment(directory))
        }
        #expect(throws: ExternalPluginLookupError.unusable("\(directory)/bin/gone does not exist")) {
            try ExternalPlugins().resolve(kind: .sink, type: "external", command: ["bin/gone"], directory: directory, environment: environment(directory))
        }
    }

    @Test("the describe cache lives in $XDG_CACHE_HOME/keyward/plugins, else ~/.cache/keyward/plugins")
    func cacheDirectory() throws {
        #expect(DescribeCache.directory(environment: ["XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"]) == "/x/cache/keyward/plugins")
        #expect(DescribeCache.directory(environment: ["XDG_CACHE_HOME": "relative", "HOME": "/home/u"]) == "/home/u/.cache/keyward/plugins")
        #expect(DescribeCache.directory(environment: [:]) == nil)

        let (directory, plugin) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try ExternalPlugins().resolve(kind: .sink, type: "external", command: [plugin], directory: directory, environment: environment(directory))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/cache/keyward/plugins")
        #expect(files.count == 1 && files[0].hasSuffix(".json"))
    }
}

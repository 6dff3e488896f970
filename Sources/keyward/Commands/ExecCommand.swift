import ArgumentParser
import Foundation
import KeywardCore
import KeywardKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `keyward exec ENTITY… [--pristine] [--mask] -- CMD [ARG…]`: run CMD with the entities'
/// credentials in its environment; with `--mask`, its output masked (``MaskedExec``).
struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command with the entities' credentials added to its environment.",
        discussion: """
            CMD gets the default variables (<ID>_ENTITY_ID, <ID>_SECRET, <ID>_ACCESS_TOKEN, \
            <ID>_SECRET_EXPIRES_AT, <ID>_TOKEN_EXPIRES_AT) added to the current environment, with \
            Keyward's own unlock variables (KEYWARD_KEY_FILE, KEYWARD_PASSPHRASE, \
            KEYWARD_PASSPHRASE_FILE, KEYWARD_NEW_PASSPHRASE) removed; with --pristine, only those \
            variables plus PATH and HOME. Keyward replaces itself with CMD (execve), so signals \
            reach CMD directly and the exit status is CMD's. Secrets never appear on CMD's \
            command line. Keyward's own failures exit 125, a CMD that cannot be executed 126, \
            a CMD not found 127. Passes what the vault holds (run `keyward sync` first), never a \
            dead credential: an entity token that is missing or due is minted first, and a \
            rotation left open is finished first (as `keyward token` does); when that cannot be \
            done, CMD is not run and Keyward exits 125 naming the entity.

            With --mask, Keyward stays as CMD's parent and passes CMD's stdout and stderr \
            through a filter that replaces every secret and token CMD was given, in every \
            encoded form (raw, base64/base64url, percent/form encoding, JSON escapes), with \
            <redacted:ID/secret> or <redacted:ID/token>. Bytes that may begin a value wait up \
            to 100 ms for the rest; a value written more slowly than that may escape. CMD's \
            output streams are pseudo-terminals where Keyward's are terminals; SIGINT, \
            SIGTERM, SIGHUP and SIGQUIT sent to Keyward are passed to CMD; the exit status is \
            still CMD's (128 + N when signal N killed it). Output CMD writes to /dev/tty \
            itself is not masked.

            With --serve-tokens, Keyward also stays as CMD's parent (signals forwarded as with \
            --mask) and, for CMD's lifetime, serves GET <KEYWARD_TOKEN_URL>/<ID>/token for the \
            named entities only, on a loopback port chosen for this run: the answer is \
            {"token":…,"expiresAt":…}, a token minted when due, so a long-running CMD never holds \
            an expired one. CMD gets KEYWARD_TOKEN_URL (http://127.0.0.1:PORT/v1/entities) and \
            KEYWARD_TOKEN_AUTH (a random value made for this run, sent as \
            `Authorization: Bearer $KEYWARD_TOKEN_AUTH` with `X-Keyward-Request: true`), and no \
            <ID>_ACCESS_TOKEN or <ID>_TOKEN_EXPIRES_AT. With --mask too, every token served \
            during the run is masked as well, from before CMD receives it.
            """
    )

    /// Keyward's own unlock variables, never passed on.
    static let unlockVariables: Set<String> = VaultUnlock.variables

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Give CMD only the entity variables plus PATH and HOME.")
    var pristine = false

    @Flag(name: .long, help: "Mask the entities' secrets and tokens, in every encoded form, in CMD's stdout and stderr.")
    var mask = false

    @Flag(name: .long, help: "Serve the entities' tokens to CMD on a loopback endpoint for its lifetime (KEYWARD_TOKEN_URL, KEYWARD_TOKEN_AUTH) instead of token variables.")
    var serveTokens = false

    @Argument(help: ArgumentHelp("The entities whose credentials CMD gets, then -- CMD [ARG…].", valueName: "entity"))
    var entities: [String] = []

    /// What follows the first `--`, word for word (CMD's own options such as `--help` never
    /// reach Keyward's parser): set on the parsed command by ``KeywardCommand/main()`` with
    /// ``splitAtTerminator(_:)``. Not an `@Argument(parsing: .postTerminator)`: ArgumentParser
    /// refuses a second positional array after `entities` (its PositionalArgumentsValidator
    /// stops debug builds with "Can't have a positional argument `command` following an array
    /// of positional arguments `entities`").
    var command: [String] = []

    /// `keyward exec …` splits at its first `--`: the words before are parsed by ArgumentParser,
    /// the words after are CMD and its arguments. `nil` for any other command line.
    static func splitAtTerminator(_ arguments: [String]) -> (parsed: [String], command: [String])? {
        guard arguments.first == "exec", let terminator = arguments.firstIndex(of: "--") else { return nil }
        return (Array(arguments[..<terminator]), Array(arguments[(terminator + 1)...]))
    }

    func run() async throws {
        guard !entities.isEmpty else { throw CommandExit(code: ExitCodes.execOwnFailure, message: "name at least one entity (usage: keyward exec ENTITY… [--pristine] [--mask] [--serve-tokens] -- CMD [ARG…])") }
        guard let program = command.first, !program.isEmpty else {
            throw CommandExit(code: ExitCodes.execOwnFailure, message: "name a command after -- (usage: keyward exec ENTITY… [--pristine] [--mask] [--serve-tokens] -- CMD [ARG…])")
        }

        var environment: [String: String]
        var masked: [(source: LeakPatternSet.Source, value: SecretValue)] = []
        // With --serve-tokens: the session the endpoint mints with, kept open for CMD's lifetime.
        var serving: (session: EngineSession, listener: TokenListener, task: Task<Void, any Error>)?
        var maskUpdates: MaskedExec.MaskUpdates?
        do {
            // Not a dry run: a token that is due is minted, and an open rotation finished, first.
            let session = try EngineSession.open(global) { _ = try $0.selectEntities(entities) }
            let material = try await session.dispatcher.exportMaterial(entities, operation: "exec", context: session.context)
            var pairs = try SinkKeys.pairs(for: material, keys: nil)
            // --serve-tokens: no fixed token, not even one inherited from Keyward's own environment.
            let tokenKeys = serveTokens ? Set(pairs.map(\.key).filter { $0.hasSuffix("_ACCESS_TOKEN") || $0.hasSuffix("_TOKEN_EXPIRES_AT") }) : []
            pairs.removeAll { tokenKeys.contains($0.key) }
            environment = try Self.childEnvironment(base: ProcessInfo.processInfo.environment, pristine: pristine, pairs: pairs)
            for key in tokenKeys { environment[key] = nil }
            if mask { masked = Self.maskedValues(material) }
            if serveTokens {
                if mask { maskUpdates = MaskedExec.MaskUpdates(values: masked) }
                let started = try await ExecTokenServing.start(session: session, entities: try session.dispatcher.selectEntities(entities),
                                                               masked: maskUpdates)
                environment["KEYWARD_TOKEN_URL"] = started.url
                environment["KEYWARD_TOKEN_AUTH"] = started.auth
                // A proxy from the environment (http_proxy) must not see the endpoint's requests:
                // they carry the bearer token and get a live access token back.
                // Both spellings get the same list (each keeps what either held): tools differ in
                // which they read first (Go: NO_PROXY; curl: no_proxy).
                let noProxy = Self.noProxy(adding: ["127.0.0.1", "localhost", "::1"],
                                           to: [environment["NO_PROXY"], environment["no_proxy"]].compactMap { $0 }.joined(separator: ","))
                environment["NO_PROXY"] = noProxy
                environment["no_proxy"] = noProxy
                // With --mask, the run's bearer token is masked too.
                maskUpdates?.add(name: "KEYWARD_TOKEN_AUTH", value: SecretValue(utf8: started.auth))
                serving = (session, started.listener, started.task)
            }
        } catch let exit as CommandExit {
            throw exit
        } catch {
            throw CommandExit(code: ExitCodes.execOwnFailure, message: ExitCodes.execMessage(for: error))
        }

        let path = try Self.resolve(program, searchPath: environment["PATH"] ?? "/usr/bin:/bin")
        if let serving, !mask {
            let status = await Self.runUnmaskedChild(path: path, arguments: command, environment: environment)
            withExtendedLifetime(serving.session) {}
            Foundation.exit(status)
        }
        guard mask else { Self.replaceProcess(path: path, arguments: command, environment: environment) }
        let patterns = LeakPatternSet(values: masked, wrappedAt: LeakPatternSet.wrappedBase64Widths)
        for source in patterns.skipped {
            Output.warn("--mask: \(source.name) is shorter than \(MultiPatternMatcher.minimumLength) bytes and is not masked")
        }
        let status = await Self.runMasked(path: path, arguments: command, environment: environment, patterns: patterns, updates: maskUpdates)
        if let serving { withExtendedLifetime(serving.session) {} }
        Foundation.exit(status)
    }

    /// `NO_PROXY`'s value with `hosts` added (comma-separated, as curl, Python, Go and Node read
    /// it), keeping what was there.
    static func noProxy(adding hosts: [String], to existing: String?) -> String {
        var entries = (existing ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for host in hosts where !entries.contains(host) { entries.append(host) }
        return entries.joined(separator: ",")
    }

    /// What `--mask` removes: each entity's secret and access token, the values CMD is given
    /// (DESIGN.md, "Leak scanning and masked output"), named `entities/<ID>/secret` and
    /// `entities/<ID>/token` so the markers read `<redacted:ID/secret>`.
    static func maskedValues(_ material: [EntityMaterial]) -> [(source: LeakPatternSet.Source, value: SecretValue)] {
        var values: [(source: LeakPatternSet.Source, value: SecretValue)] = []
        for entity in material {
            values.append((.init(name: "entities/\(entity.id.rawValue)/secret", version: "v\(entity.secret.version)"), entity.secret.value))
            if let token = entity.token {
                values.append((.init(name: "entities/\(entity.id.rawValue)/token"), token.value))
            }
        }
        return values
    }

    /// Runs ``MaskedExec`` on a thread of its own (it blocks in poll and waitpid) and returns
    /// the status Keyward exits with.
    static func runMasked(path: String, arguments: [String], environment: [String: String], patterns: LeakPatternSet,
                          updates: MaskedExec.MaskUpdates? = nil) async -> Int32 {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: MaskedExec.run(path: path, arguments: arguments, environment: environment, patterns: patterns,
                                                              updates: updates))
            }
            thread.start()
        }
    }

    /// ``MaskedExec/runUnmasked(path:arguments:environment:)`` on a thread of its own.
    static func runUnmaskedChild(path: String, arguments: [String], environment: [String: String]) async -> Int32 {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: MaskedExec.runUnmasked(path: path, arguments: arguments, environment: environment))
            }
            thread.start()
        }
    }

    /// The child's environment.
    ///
    /// - Throws: ``CommandExit`` 125 for a value that an environment variable cannot hold (NUL).
    static func childEnvironment(base: [String: String], pristine: Bool, pairs: [SinkKeys.Pair]) throws -> [String: String] {
        var environment: [String: String]
        if pristine {
            environment = base.filter { $0.key == "PATH" || $0.key == "HOME" }
        } else {
            environment = base.filter { !unlockVariables.contains($0.key) }
        }
        for pair in pairs {
            guard !pair.value.revealBytes().contains(0), pair.value.isValidUTF8 else {
                throw CommandExit(code: ExitCodes.execOwnFailure, message: "\(pair.key): the value cannot be passed in an environment variable (NUL byte or invalid UTF-8)")
            }
            environment[pair.key] = pair.value.revealUTF8()
        }
        return environment
    }

    /// Finds CMD as a shell would: a name with `/` as is, else the first executable match on PATH.
    ///
    /// - Throws: ``CommandExit`` 127 when nothing is found, 126 when what is found cannot be executed.
    static func resolve(_ program: String, searchPath: String) throws -> String {
        let candidates = program.contains("/") ? [program] : searchPath.split(separator: ":").map { "\($0.isEmpty ? "." : String($0))/\(program)" }
        var foundButNotExecutable: String?
        for candidate in candidates {
            var info = stat()
            guard stat(candidate, &info) == 0 else { continue }
            if (info.st_mode & S_IFMT) != S_IFDIR, access(candidate, X_OK) == 0 { return candidate }
            foundButNotExecutable = foundButNotExecutable ?? candidate
        }
        if let foundButNotExecutable {
            throw CommandExit(code: 126, message: "\(foundButNotExecutable): not executable")
        }
        throw CommandExit(code: 127, message: "\(program): command not found")
    }

    /// Replaces this process with CMD. Returns only on failure, by exiting 126.
    static func replaceProcess(path: String, arguments: [String], environment: [String: String]) -> Never {
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        // Keyward ignores SIGPIPE for its own output (main); CMD gets the default back, as a
        // shell would start it (an ignored signal survives execve).
        signal(SIGPIPE, SIG_DFL)
        execve(path, argv, envp)
        let reason = String(cString: strerror(errno))
        Output.writeError("keyward: \(path): cannot execute: \(reason)\n")
        Foundation.exit(errno == ENOENT ? 127 : 126)
    }
}

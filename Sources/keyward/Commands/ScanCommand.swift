import ArgumentParser
import Foundation
import KeywardCore
import KeywardKit

/// `keyward scan [PATH…] [--stdin] [--staged] [--all-versions] [--output text|json|sarif]`
/// (DESIGN.md, "Leak scanning and masked output").
struct ScanCommand: AsyncParsableCommand, OutputFormatOffering {
    static let outputFormats: [RequestedOutput] = [.text, .json, .sarif]

    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Look for the vault's secrets and tokens, and their encodings, in files.",
        discussion: """
            Searches files (directories walked, .git and symbolic links skipped, paths matched by \
            .keywardscanignore skipped), standard input (--stdin) or the files staged in git's \
            index (--staged, for a pre-commit hook) for every secret and token the vault holds \
            (current and previous versions; every retained one with --all-versions) and the \
            credentials the configuration resolves, raw and encoded: base64 and base64url at each \
            alignment, percent and form encoding, JSON string escapes. Prints \
            PATH:LINE:COLUMN: NAME VERSION (fingerprint F, ENCODING) for each, never the value. \
            Values shorter than 8 bytes are not searched (--verbose lists them). Exits 7 when \
            anything is found, 0 when nothing is, 1 when a file could not be read, 2 on a usage \
            error. With no PATH, scans the current directory.
            """
    )

    @OptionGroup var options: ScanOptions

    @Argument(help: ArgumentHelp("Files or directories to scan (default: the current directory).", valueName: "path"))
    var paths: [String] = []

    @Flag(name: .long, help: "Scan standard input (as '-').")
    var stdin = false

    @Flag(name: .long, help: "Scan the files staged in git's index (run from the repository's top directory).")
    var staged = false

    @Flag(name: .long, help: "Look for every retained version, not only the current and previous ones.")
    var allVersions = false

    func validate() throws {
        if staged && (stdin || !paths.isEmpty) { throw ValidationError("--staged scans git's index: name no path and no --stdin with it") }
        if paths.contains("-") { throw ValidationError("use --stdin to scan standard input") }
    }

    func run() async throws {
        let global = try options.global()
        var ignore = ScanTargets(ignoreFilesIn: ["."] + paths.filter { isDirectory($0) })
        if staged { ignore = ScanTargets(ignoreFilesIn: ["."]) }
        // Paths are checked before the vault is unlocked: a typo exits 2, not after a prompt.
        let targets: (files: [String], problems: [ScanTargets.Problem]) =
            staged || (stdin && paths.isEmpty) ? ([], []) : ignore.files(under: paths.isEmpty ? ["."] : paths)
        if let missing = targets.problems.first(where: { $0.reason.contains("No such file") }) {
            throw CommandExit(code: ExitCodes.usage, message: "scan: \(missing)")
        }
        let stagedFiles = staged ? try GitIndex.stagedPaths().filter { !ignore.isIgnored($0, isDirectory: false) } : []

        let context = global.makeContext(dryRun: true)
        let session = try KeywardSession.openVault(global.sessionOptions, context: context, warn: global.warnOnce)
        let patterns = try await session.dispatcher.leakPatternSet(allVersions: allVersions, context: context)
        if !global.quiet {
            for problem in patterns.unresolved { Output.warn("not searched: \(problem)") }
        }
        if global.verbose {
            for source in patterns.skipped {
                Output.warn("not searched (shorter than \(MultiPatternMatcher.minimumLength) bytes): \(source.name)" + (source.version.map { " \($0)" } ?? ""))
            }
            Output.writeDiagnostic("keyward: debug: searching \(patterns.sources.count) values in \(patterns.matcher.patterns.count) forms\n")
        }
        let scanner = SecretScanner(patterns: patterns)
        var findings: [LeakFinding] = []
        var failures = targets.problems.map(\.description)
        var scanned = 0
        func report(_ found: [LeakFinding]) {
            findings += found
            if options.output == .text { for finding in found { Output.print(finding.summary) } }
        }
        if stdin {
            do throws(SecretScanner.ReadError) { report(try scanner.scan(descriptor: STDIN_FILENO, path: "-")) } catch { failures.append(error.description) }
            scanned += 1
        }
        for file in targets.files {
            do throws(SecretScanner.ReadError) { report(try scanner.scan(file: file)) } catch { failures.append(error.description) }
            scanned += 1
        }
        for path in stagedFiles {
            do { report(scanner.scan(bytes: try GitIndex.stagedContent(of: path), path: path)) } catch {
                failures.append((error as? CommandExit)?.message ?? "\(path): cannot be read from git's index")
            }
            scanned += 1
        }

        switch options.output {
        case .text: break
        case .json: try Output.printJSON(ScanDocument(findings: findings, skipped: patterns.skipped, filesScanned: scanned))
        case .sarif: try Output.printJSON(SARIFLog(findings: findings))
        case .prometheus: break  // refused by OutputFormatRule before the command runs
        }
        for failure in failures { Output.writeDiagnostic("keyward: error: \(failure)\n") }
        if !findings.isEmpty {
            let files = Set(findings.map(\.path)).count
            throw CommandExit(code: ExitCodes.leakFound, message: global.quiet ? nil
                : "\(findings.count) secret value\(findings.count == 1 ? "" : "s") found in \(files) file\(files == 1 ? "" : "s") (\(scanned) scanned)")
        }
        if !failures.isEmpty {
            throw CommandExit(code: ExitCodes.operationFailed, message: "\(failures.count) path\(failures.count == 1 ? "" : "s") could not be read")
        }
        if !global.quiet { Output.writeDiagnostic("keyward: nothing found (\(scanned) file\(scanned == 1 ? "" : "s") scanned)\n") }
    }

    private func isDirectory(_ path: String) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
    }
}

/// `scan`'s options: those of every command, with `--output` also taking `sarif` (which
/// formats `scan` accepts is ``OutputFormatRule``'s one rule, as for every command).
struct ScanOptions: ParsableArguments {

    @Option(name: .long, help: ArgumentHelp("The configuration file (default: $KEYWARD_CONFIG, else ./keyward.yaml).", valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("The vault file (default: $KEYWARD_VAULT, else vault.path, else $XDG_DATA_HOME/keyward/vault.db).", valueName: "path"))
    var vault: String?

    @Option(name: .long, help: "Result format: text, json or sarif (SARIF 2.1.0, for code-scanning tools).")
    var output: RequestedOutput = .text

    @Flag(name: .long, help: "Print only errors on stderr.")
    var quiet = false

    @Flag(name: .long, help: "Print debug diagnostics on stderr, and the values too short to search (by name).")
    var verbose = false

    func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose cannot be used together") }
    }

    /// The same settings as every command's ``GlobalOptions``.
    func global() throws -> GlobalOptions {
        var global = try GlobalOptions.parse([])
        global.config = config
        global.vault = vault
        global.quiet = quiet
        global.verbose = verbose
        return global
    }
}

/// `scan --output json`: `{"version":1,"findings":[…],"skipped":[…],"filesScanned":N}`.
struct ScanDocument: Encodable {
    let version = 1
    let findings: [LeakFinding]
    let skipped: [String]
    let filesScanned: Int

    init(findings: [LeakFinding], skipped: [LeakPatternSet.Source], filesScanned: Int) {
        self.findings = findings
        self.skipped = skipped.map { $0.name + ($0.version.map { " \($0)" } ?? "") }
        self.filesScanned = filesScanned
    }
}

/// The files staged in git's index, through the `git` command (the pre-commit hook's view).
enum GitIndex {
    /// Paths added, copied, modified or renamed in the index, relative to the repository's top.
    ///
    /// - Throws: ``CommandExit`` (exit 2) when git is missing or this is not a repository.
    static func stagedPaths() throws -> [String] {
        do { _ = try git(["rev-parse", "--is-inside-work-tree"]) } catch {
            throw CommandExit(code: ExitCodes.usage, message: "scan --staged: not inside a git work tree (run it from the repository's top directory)")
        }
        let output = try git(["diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"])
        return output.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The staged content of `path` (what the commit will hold, not the work tree's file).
    static func stagedContent(of path: String) throws -> [UInt8] {
        try git(["cat-file", "blob", ":" + path])
    }

    private static func git(_ arguments: [String]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw CommandExit(code: ExitCodes.usage, message: "scan --staged: cannot run git: \(error.localizedDescription)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message.prefix(300), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            throw CommandExit(code: ExitCodes.usage, message: "scan --staged: git \(arguments.first ?? "") failed: \(text)")
        }
        return Array(data)
    }
}

/// `scan --output sarif`: a SARIF 2.1.0 log (OASIS "Static Analysis Results Interchange Format
/// Version 2.1.0") with one rule and one result per finding, for code-scanning tools. Columns
/// are byte columns, as in the text output. Never a value: the message names the secret, its
/// version, fingerprint and encoding.
struct SARIFLog: Encodable {
    static let ruleID = "keyward/leaked-secret"

    struct Message: Encodable { let text: String }
    struct Rule: Encodable {
        let id = SARIFLog.ruleID
        let name = "LeakedSecret"
        let shortDescription = Message(text: "A secret or token held by the Keyward vault appears in a file.")
        let fullDescription = Message(text: "The value, or one of its encodings (base64, base64url, percent, form, JSON escapes), is present. Rotate the secret (keyward rotate --force ENTITY) and remove the file's copy.")
        let defaultConfiguration = ["level": "error"]
    }
    struct Driver: Encodable {
        let name = "keyward"
        let informationUri = "https://github.com/keyward/keyward"
        let rules = [Rule()]
    }
    struct Tool: Encodable { let driver = Driver() }
    struct Region: Encodable { let startLine: Int; let startColumn: Int }
    struct ArtifactLocation: Encodable { let uri: String }
    struct PhysicalLocation: Encodable { let artifactLocation: ArtifactLocation; let region: Region }
    struct Location: Encodable { let physicalLocation: PhysicalLocation }
    struct Result: Encodable {
        let ruleId = SARIFLog.ruleID
        let ruleIndex = 0
        let level = "error"
        let message: Message
        let locations: [Location]
        let partialFingerprints: [String: String]
    }
    struct Run: Encodable {
        let tool = Tool()
        let results: [Result]
    }

    let schema = "https://json.schemastore.org/sarif-2.1.0.json"
    let version = "2.1.0"
    let runs: [Run]

    enum CodingKeys: String, CodingKey { case schema = "$schema", version, runs }

    init(findings: [LeakFinding]) {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: ";?#[]:")
        let results = findings.map { finding in
            let uri = finding.path.addingPercentEncoding(withAllowedCharacters: allowed) ?? finding.path
            let text = finding.name + (finding.secretVersion.map { " \($0)" } ?? "")
                + " (" + (finding.fingerprint.map { "fingerprint \($0), " } ?? "") + finding.encoding.rawValue + ")"
            return Result(message: Message(text: text),
                          locations: [Location(physicalLocation: PhysicalLocation(artifactLocation: ArtifactLocation(uri: uri),
                                                                                  region: Region(startLine: finding.line, startColumn: finding.column)))],
                          partialFingerprints: ["keywardValue/v1": "\(finding.name):\(finding.fingerprint ?? "-"):\(finding.encoding.rawValue)"])
        }
        runs = [Run(results: results)]
    }
}

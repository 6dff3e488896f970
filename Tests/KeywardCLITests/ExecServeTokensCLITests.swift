import Foundation
import KeywardCore
import KeywardSimulator
import KeywardTesting
import Testing

/// `keyward exec --serve-tokens ENTITY… -- CMD` (issue 17, item 2; DESIGN.md "Operability"):
/// CMD fetches its token from Keyward over KEYWARD_TOKEN_URL with KEYWARD_TOKEN_AUTH.
@Suite("keyward exec --serve-tokens", .serialized)
struct ExecServeTokensCLITests {
    /// A python3 child that fetches FIU-ALPHA's token (and tries FIU-BETA's and a secret path),
    /// prints what it learnt as JSON (never the token or the auth value: their SHA-256), then
    /// exits 3. With `printToken`, it also prints the token itself.
    static func child(printToken: Bool = false, printAuth: Bool = false) -> [String] {
        let script = """
            import base64, hashlib, json, os, sys, urllib.request, urllib.error
            base = os.environ["KEYWARD_TOKEN_URL"]
            auth = os.environ["KEYWARD_TOKEN_AUTH"]
            def get(path, headers=True):
                h = {"Authorization": "Bearer " + auth, "X-Keyward-Request": "true"} if headers else {}
                try:
                    with urllib.request.urlopen(urllib.request.Request(base + path, headers=h)) as r:
                        return r.status, json.load(r), r.headers.get("Cache-Control")
                except urllib.error.HTTPError as e:
                    return e.code, None, e.headers.get("Cache-Control")
            status, body, cache = get("/FIU-ALPHA/token")
            token = body["token"]
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            print(json.dumps({"status": status, "cache": cache, "sub": claims["sub"], "exp": claims["exp"],
                              "expiresAt": body["expiresAt"], "url": base, "authLength": len(auth),
                              "authHash": hashlib.sha256(auth.encode()).hexdigest(),
                              "tokenHash": hashlib.sha256(token.encode()).hexdigest(),
                              "tokenVariables": sorted(k for k in os.environ if k.endswith("_ACCESS_TOKEN") or k.endswith("_TOKEN_EXPIRES_AT")),
                              "noProxy": os.environ.get("NO_PROXY"), "noProxyLower": os.environ.get("no_proxy"),
                              "beta": get("/FIU-BETA/token")[0], "secret": get("/FIU-ALPHA/secret")[0],
                              "noAuth": get("/FIU-ALPHA/token", headers=False)[0]}))
            \(printToken ? "print(token)" : "")
            \(printAuth ? "print(auth)" : "")
            sys.stdout.flush()
            sys.exit(3)
            """
        return ["python3", "-c", script]
    }

    static func sha256(_ text: String) async throws -> String {
        let result = try await CommandRunner.run(["-c", "import hashlib,sys; print(hashlib.sha256(sys.stdin.read().encode()).hexdigest())"],
                                                 stdin: text, executable: "python3")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("CMD fetches a valid token for the named entity over KEYWARD_TOKEN_URL/AUTH, gets no token variable, and a new auth value each run")
    func childFetchesToken() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA", "FIU-BETA"]).status == 0)
        let token = try await fixture.vaultGet("entities/FIU-ALPHA/token").trimmingCharacters(in: .newlines)

        var authHashes: [String] = []
        for _ in 0..<2 {
            // A proxy in the environment (a closed port) must not be asked: Keyward adds the
            // loopback names to NO_PROXY. A token variable Keyward itself inherited is not passed on.
            let result = try await fixture.run(["exec", "--serve-tokens", "FIU-ALPHA", "--"] + Self.child(),
                                               extraEnvironment: ["http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
                                                                  "NO_PROXY": "internal.example", "no_proxy": "corp.example",
                                                                  "FIU_ALPHA_ACCESS_TOKEN": "stale-token-from-the-parent"])
            #expect(result.status == 3, "CMD's status: \(result.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.all)")
            #expect(report["status"] as? Int == 200)
            #expect(report["cache"] as? String == "no-store")
            #expect(report["sub"] as? String == "FIU-ALPHA")
            let exp = try #require(report["exp"] as? Double)
            #expect(Date(timeIntervalSince1970: exp) > fixture.simulator.now, "valid")
            #expect(report["tokenHash"] as? String == (try await Self.sha256(token)), "the vault's fresh token")
            #expect(report["tokenVariables"] as? [String] == [], "no fixed token in the environment")
            #expect(report["noProxy"] as? String == "internal.example,corp.example,127.0.0.1,localhost,::1", "both kept, and the loopback names added")
            #expect(report["noProxyLower"] as? String == report["noProxy"] as? String, "one list under both spellings")
            #expect((report["url"] as? String)?.hasPrefix("http://127.0.0.1:") == true)
            #expect((report["url"] as? String)?.hasSuffix("/v1/entities") == true)
            #expect(report["authLength"] as? Int == 64, "32 random bytes in hex")
            #expect(report["beta"] as? Int == 404, "only the named entities are served")
            #expect(report["secret"] as? Int == 404)
            #expect(report["noAuth"] as? Int == 401)
            authHashes.append(try #require(report["authHash"] as? String))
            let values = (fixture.secrets() + [token]).map { SecretValue(utf8: $0) }
            #expect(LeakScanner.leaks(in: result.all, of: values).isEmpty, "no secret or token in Keyward's or CMD's output")
        }
        #expect(authHashes[0] != authHashes[1], "a new KEYWARD_TOKEN_AUTH each run")
        #expect(fixture.counter(.entityToken) == 2, "the sync's two mints: the fresh token was served, not minted again")
    }

    @Test("with --mask, a token minted during the run is masked too: CMD moves both clocks, fetches again and prints both")
    func maskedMidRunMint() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let first = try await fixture.vaultGet("entities/FIU-ALPHA/token").trimmingCharacters(in: .newlines)
        let offsetFile = fixture.directory.appendingPathComponent("clock-offset")
        try "0".write(to: offsetFile, atomically: true, encoding: .utf8)
        let root = try #require(fixture.simulator.rootURL).absoluteString
        let script = """
            import json, os, sys, urllib.request
            def token():
                request = urllib.request.Request(os.environ["KEYWARD_TOKEN_URL"] + "/FIU-ALPHA/token",
                    headers={"Authorization": "Bearer " + os.environ["KEYWARD_TOKEN_AUTH"], "X-Keyward-Request": "true"})
                return json.load(urllib.request.urlopen(request))["token"]
            first = token()
            print("first", first, flush=True)
            # 86,100 s on, the 24 h token has 300 s left, inside tokenRefreshBefore (600 s): due.
            urllib.request.urlopen(urllib.request.Request(os.environ["SIM_ROOT"] + "/_sim/clock", method="POST",
                data=json.dumps({"advanceSeconds": 86100}).encode(), headers={"Content-Type": "application/json"}))
            with open(os.environ["KEYWARD_CLOCK_OFFSET_FILE"], "w") as f:
                f.write("86100")
            second = token()
            print("second", second, flush=True)
            print("same", first == second, flush=True)
            """
        let minted = fixture.counter(.entityToken)
        let result = try await fixture.run(["exec", "--serve-tokens", "--mask", "FIU-ALPHA", "--", "python3", "-c", script],
                                           extraEnvironment: ["SIM_ROOT": root, "KEYWARD_CLOCK_OFFSET_FILE": offsetFile.path])
        #expect(result.status == 0, "\(result.stderr)")
        // Compared to a Bool first, so a failure cannot print a token.
        let allMasked = result.stdout == "first <redacted:FIU-ALPHA/token>\nsecond <redacted:FIU-ALPHA/token>\nsame False\n"
        #expect(allMasked, "each printed token is its marker")
        #expect(fixture.counter(.entityToken) == minted + 1, "one mint during the run")
        let second = try await fixture.vaultGet("entities/FIU-ALPHA/token").trimmingCharacters(in: .newlines)
        #expect(second != first)
        #expect(LeakScanner.leaks(in: result.all, of: [SecretValue(utf8: first), SecretValue(utf8: second)]).isEmpty)
    }

    @Test("with --mask, a served token CMD prints is masked; 127 for a CMD not found")
    func maskedAndNotFound() async throws {
        let fixture = try await EngineFixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.run(["sync", "FIU-ALPHA"]).status == 0)
        let token = try await fixture.vaultGet("entities/FIU-ALPHA/token").trimmingCharacters(in: .newlines)
        let result = try await fixture.run(["exec", "--serve-tokens", "--mask", "FIU-ALPHA", "--"] + Self.child(printToken: true, printAuth: true))
        #expect(result.status == 3, "\(result.stderr)")
        // Compared to Bools first, and no output in the messages: a failure must not print the token.
        let tokenMasked = result.stdout.contains("<redacted:FIU-ALPHA/token>")
        #expect(tokenMasked, "the served token CMD printed is its marker")
        // The run's bearer token is masked too: its line is the marker alone.
        let authMasked = result.stdout.split(separator: "\n").last == "<redacted:KEYWARD_TOKEN_AUTH>"
        #expect(authMasked, "the line CMD printed KEYWARD_TOKEN_AUTH on is its marker")
        #expect(LeakScanner.leaks(in: result.all, of: [SecretValue(utf8: token)]).isEmpty)
        #expect(try await fixture.run(["exec", "--serve-tokens", "FIU-ALPHA", "--", "no-such-command-xyz"]).status == 127)
        // exec's own usage failures are 125, --output included (DESIGN.md, "Exit codes").
        let output = try await fixture.run(["exec", "--output", "prometheus", "--serve-tokens", "FIU-ALPHA", "--", "true"])
        #expect(output.status == 125, "\(output.all)")
        #expect(output.stderr.contains("--output prometheus: `keyward exec` prints text or json"), "\(output.stderr)")
    }
}

import Foundation

// Reads what `swift package keyward-export` wrote to .env (loaded by your process manager, or
// `set -a; . ./.env; set +a` in a shell) and calls another AA network member with the token.
let environment = ProcessInfo.processInfo.environment
guard let entity = environment["AA_CLIENT_ID"], environment["AA_ACCESS_TOKEN"] != nil else {
    print("run `swift package --allow-writing-to-package-directory keyward-export`, then `set -a; . ./.env; set +a`")
    exit(1)
}
print("calling the AA as \(entity) with a bearer token of \(environment["AA_ACCESS_TOKEN"]!.count) characters")

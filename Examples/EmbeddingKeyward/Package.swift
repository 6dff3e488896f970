// swift-tools-version:6.2
// A Swift program that embeds Keyward through its libraries and adds a sink of its own: a
// `credentials-directory` sink that writes one file per key (for systemd's LoadCredential=,
// Docker or Kubernetes secret volumes). See README.md; the root package compiles these same
// sources (targets `CredentialsDirectorySink`, `embedded-keyward` and their tests), so
// `make test` builds and tests them without resolving the dependency graph a second time.
import PackageDescription

let package = Package(
    name: "EmbeddingKeyward",
    platforms: [.macOS(.v14)],
    dependencies: [
        // In your package: .package(url: "https://github.com/<org>/keyward.git", from: "0.1.0")
        .package(name: "keyward", path: "../.."),
    ],
    targets: [
        .target(
            name: "CredentialsDirectorySink",
            dependencies: [.product(name: "KeywardCore", package: "keyward")]
        ),
        .executableTarget(
            name: "embedded-keyward",
            dependencies: [
                "CredentialsDirectorySink",
                .product(name: "KeywardKit", package: "keyward"),
                .product(name: "KeywardCore", package: "keyward"),
            ]
        ),
        .testTarget(
            name: "CredentialsDirectorySinkTests",
            dependencies: [
                "CredentialsDirectorySink",
                .product(name: "KeywardTesting", package: "keyward"),
                .product(name: "KeywardCore", package: "keyward"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version:6.2
// Keyward: keeps Account Aggregator entity credentials in an encrypted vault, syncs and
// rotates them through the IAM token service, and delivers them to where services read them.
// The target layout follows ../shared/DESIGN.md ("Architecture") and STYLE.md ("Layout").
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "keyward",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "keyward", targets: ["keyward"]),
        .library(name: "KeywardCore", targets: ["KeywardCore"]),
        .library(name: "KeywardTokenService", targets: ["KeywardTokenService"]),
        .library(name: "KeywardTokenServiceWire", targets: ["KeywardTokenServiceWire"]),
        .library(name: "KeywardVault", targets: ["KeywardVault"]),
        .library(name: "KeywardExporters", targets: ["KeywardExporters"]),
        .library(name: "KeywardSimulator", targets: ["KeywardSimulator"]),
        .library(name: "KeywardTesting", targets: ["KeywardTesting"]),
        .library(name: "KeywardKit", targets: ["KeywardKit"]),
        .library(name: "KeywardOpenBao", targets: ["KeywardOpenBao"]),
        .library(name: "KeywardExternal", targets: ["KeywardExternal"]),
        .plugin(name: "KeywardExport", targets: ["KeywardExport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.24.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.5.0", traits: []),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.24.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        // Already built for jwt-kit; KeywardOpenBao takes SHA-256 from it (a lease's secret digest).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        // Already built for AsyncHTTPClient; KeywardOpenBao trusts a `caFile` through its TLSConfiguration.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.27.0"),
        // Counters, gauges and the cycle histogram (DESIGN.md, "Operability"): the engine records
        // through swift-metrics (already built for Hummingbird); `schedule run --metrics-listen`
        // and `status --output prometheus` expose them with swift-prometheus's text format.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
    ],
    targets: [
        // libgcrypt, as a system library found through pkg-config. Only KeywardVault imports it.
        .systemLibrary(
            name: "CGcrypt",
            pkgConfig: "libgcrypt",
            providers: [.apt(["libgcrypt20-dev"])]
        ),
        .target(
            name: "KeywardCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSwift
        ),
        // The token service's answer bodies decoded from bytes: no HTTP client, no NIO, so the
        // fuzz targets (Fuzz/) decode them without building the transport.
        .target(
            name: "KeywardTokenServiceWire",
            dependencies: ["KeywardCore"],
            swiftSettings: strictSwift
        ),
        .target(
            name: "KeywardTokenService",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                "KeywardCore",
                "KeywardTokenServiceWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "KeywardVault",
            dependencies: [
                "KeywardCore",
                "CGcrypt",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API (sqlite3_column_*) for the manifest's range scans.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // File sinks: dotenv, json (shell and kubernetes-secret later). Core only.
        .target(
            name: "KeywardExporters",
            dependencies: ["KeywardCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift
        ),
        // The simulator depends on nothing but the contract: no Keyward module.
        .target(
            name: "KeywardSimulator",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift
        ),
        // OpenBao / HashiCorp Vault: the KV v2 client, the `shared:` store (rotation leases and
        // publication) and the `openbao-kv` sink. Core and AsyncHTTPClient only.
        .target(
            name: "KeywardOpenBao",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                "KeywardCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSwift
        ),
        // External plugins, protocol 1 (DESIGN.md, "Plugins"): any executable as a sink or a
        // provider, one process per request. Core only.
        .target(
            name: "KeywardExternal",
            dependencies: ["KeywardCore", .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strictSwift
        ),
        .target(
            name: "KeywardTesting",
            dependencies: [
                "KeywardCore", "KeywardExternal", .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSwift
        ),
        // The library composition root: the session rules (configuration, vault path, unlock
        // order) and every built-in plugin. What the CLI and a program embedding Keyward import;
        // Core stays free of plugin modules.
        .target(
            name: "KeywardKit",
            dependencies: ["KeywardCore", "KeywardTokenService", "KeywardVault", "KeywardExporters", "KeywardOpenBao", "KeywardExternal"],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "keyward",
            dependencies: [
                "KeywardCore",
                "KeywardKit",
                "KeywardTokenService",
                "KeywardVault",
                "KeywardExporters",
                "KeywardExternal",
                "KeywardSimulator",
                // The conformance suites `keyward plugin test` runs (plain Swift, no test framework).
                "KeywardTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // The /metrics, /healthz and token endpoints (already built for the simulator).
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            // Release builds (make install, bench/) link with `-Xlinker --no-export-dynamic`, given
            // on their command line: the static Swift runtime links executables with
            // --export-dynamic, which put ~54,000 symbols in keyward's dynamic symbol table that
            // the loader and the runtime (dladdr at start-up) search on every run. It is not an
            // unsafeFlags setting here, since SwiftPM refuses those in a package that others
            // depend on by version.
            swiftSettings: strictSwift
        ),
        // `swift package --allow-writing-to-package-directory keyward-export`: a service's
        // development .env or manifest from its own keyward.yaml, through the keyward tool.
        .plugin(
            name: "KeywardExport",
            capability: .command(
                intent: .custom(verb: "keyward-export", description: "Write this package's development secrets files from its keyward.yaml sinks"),
                permissions: [.writeToPackageDirectory(reason: "keyward-export writes the .env or manifest files that keyward.yaml's sinks name")]
            ),
            dependencies: ["keyward"]
        ),
        // Benchmarks: their own executable, never part of `swift test` (see bench/).
        .executableTarget(
            name: "KeywardBenchmarks",
            dependencies: [
                "KeywardCore",
                "KeywardExternal",
                "KeywardTokenService",
                "KeywardVault",
                "KeywardSimulator",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSwift
        ),
        // The vault benchmark: the Vault API beside ../shared/bench/vault-baseline.c (bench/vault.sh).
        .executableTarget(
            name: "KeywardVaultBenchmark",
            dependencies: ["KeywardCore", "KeywardVault"],
            swiftSettings: strictSwift
        ),
        // Examples/EmbeddingKeyward (a program embedding Keyward with a sink of its own) is also
        // a package by itself; its sources are compiled here as well, so `make test` builds it
        // and runs its sink through the conformance suite without resolving and building the
        // whole dependency graph a second time (~10 minutes of two cores on a fresh clone).
        .target(
            name: "CredentialsDirectorySink",
            dependencies: ["KeywardCore"],
            path: "Examples/EmbeddingKeyward/Sources/CredentialsDirectorySink",
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "embedded-keyward",
            dependencies: ["CredentialsDirectorySink", "KeywardKit", "KeywardCore"],
            path: "Examples/EmbeddingKeyward/Sources/embedded-keyward",
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "CredentialsDirectorySinkTests",
            dependencies: ["CredentialsDirectorySink", "KeywardCore", "KeywardTesting"],
            path: "Examples/EmbeddingKeyward/Tests/CredentialsDirectorySinkTests",
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KeywardOpenBaoTests",
            dependencies: ["KeywardOpenBao", "KeywardCore", "KeywardTesting", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KeywardExternalTests",
            dependencies: ["KeywardExternal", "KeywardCore", "KeywardTesting", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KeywardCoreTests",
            dependencies: ["KeywardCore", "KeywardTesting", "KeywardTokenService"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KeywardKitTests",
            dependencies: ["KeywardKit", "KeywardCore", "KeywardVault", "KeywardTesting"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KeywardTokenServiceTests",
            dependencies: ["KeywardTokenService", "KeywardTokenServiceWire", "KeywardSimulator", "KeywardTesting"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KeywardExportersTests",
            dependencies: ["KeywardExporters", "KeywardTesting"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KeywardSimulatorTests",
            dependencies: [
                "KeywardSimulator",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KeywardVaultTests",
            dependencies: ["KeywardVault", "KeywardTesting", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KeywardCLITests",
            dependencies: ["KeywardCore", "KeywardTesting", "KeywardSimulator", "keyward"],
            swiftSettings: strictSwift
        ),
    ],
    swiftLanguageModes: [.v6]
)

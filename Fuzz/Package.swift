// swift-tools-version:6.2
// Keyward's libFuzzer targets (issue 16, item 1): a package of its own, so the main package's
// executables, tests and CI never build with sanitizers. Build and run through `make fuzz`.
import PackageDescription

// Every target: libFuzzer supplies `main`, so the targets' sources are parsed as a library and
// export `LLVMFuzzerTestOneInput` through `@_cdecl`.
let fuzzSettings: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "KeywardFuzz",
    dependencies: [
        // Named: a path dependency is otherwise known by its directory's name, which differs per clone.
        .package(name: "keyward", path: ".."),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
    ],
    targets: [
        // What every target shares: the property check (abort, so libFuzzer keeps the input)
        // and cutting one input into several values.
        .target(name: "FuzzSupport"),
        .executableTarget(
            name: "fuzz-configuration",
            dependencies: ["FuzzSupport", .product(name: "KeywardCore", package: "keyward"), .product(name: "KeywardExporters", package: "keyward")],
            swiftSettings: fuzzSettings
        ),
        .executableTarget(
            name: "fuzz-token-service",
            dependencies: ["FuzzSupport", .product(name: "KeywardCore", package: "keyward"), .product(name: "KeywardTokenServiceWire", package: "keyward")],
            swiftSettings: fuzzSettings
        ),
        .executableTarget(
            name: "fuzz-external",
            dependencies: ["FuzzSupport", .product(name: "KeywardCore", package: "keyward"), .product(name: "KeywardExternal", package: "keyward")],
            swiftSettings: fuzzSettings
        ),
        .executableTarget(
            name: "fuzz-exporters",
            dependencies: ["FuzzSupport", .product(name: "KeywardCore", package: "keyward"), .product(name: "KeywardExporters", package: "keyward")],
            swiftSettings: fuzzSettings
        ),
        .executableTarget(
            name: "fuzz-kubernetes",
            dependencies: [
                "FuzzSupport", .product(name: "KeywardCore", package: "keyward"), .product(name: "KeywardExporters", package: "keyward"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: fuzzSettings
        ),
        .executableTarget(
            name: "fuzz-vault",
            dependencies: ["FuzzSupport", .product(name: "KeywardCore", package: "keyward"), .product(name: "KeywardVault", package: "keyward")],
            swiftSettings: fuzzSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version:6.2
// A Swift service that takes its development credentials from Keyward:
//   swift package --allow-writing-to-package-directory keyward-export
import PackageDescription

let package = Package(
    name: "ConsumerService",
    platforms: [.macOS(.v14)],
    dependencies: [
        // In a real service: .package(url: "https://github.com/<org>/keyward.git", from: "0.1.0")
        .package(name: "keyward", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "ConsumerService")
    ]
)

import Foundation
import KeywardCore
import KeywardTesting
import Testing

@testable import KeywardVault

/// Keeps each case's sandbox alive until the suite has run.
private final class Sandboxes: @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [Sandbox] = []

    func vault() throws -> Vault {
        let box = try Sandbox()
        lock.withLock { kept.append(box) }
        return try box.makeVault().0
    }
}

@Suite("the vault passes KeywardTesting's store conformance suite")
struct VaultStoreConformanceTests {
    @Test("put/get, versions and labels, delete and list, through the SecretStore seam")
    func conformance() async throws {
        let sandboxes = Sandboxes()
        let failures = await StoreConformance { try sandboxes.vault() }.run()
        #expect(failures.isEmpty, "\(failures.map(\.description).joined(separator: "\n"))")
    }
}

import Foundation
import KeywardCore
import Logging

/// How Argon2id parameters are policed. Production enforces ``Argon2Parameters/floor`` on
/// creation and on unlock; the weak setting exists only at `package` level so this module's
/// tests run fast, and no public API or command can reach it.
package enum KDFPolicy: Sendable {
    case production
    case testingOnly(Argon2Parameters)

    var creationParameters: Argon2Parameters {
        switch self {
        case .production: .standard
        case .testingOnly(let parameters): parameters
        }
    }

    func check(_ parameters: Argon2Parameters) throws {
        do {
            try parameters.checkBounds()
        } catch {
            throw VaultError.integrity("an unlock slot asks for Argon2id parameters outside the accepted bounds (\(parameters))")
        }
        if case .production = self, !parameters.meetsFloor {
            throw VaultError.integrity(
                "an unlock slot uses Argon2id parameters below the floor (\(parameters); the floor is t=2, m=65536 KiB); refusing it")
        }
    }
}

/// HKDF with HMAC-SHA256 (RFC 5869), built on ``HMACSHA256`` because libgcrypt 1.10 has no HKDF
/// (it arrived in 1.11).
package enum HKDF {
    /// Extract-then-expand: `length` bytes (at most 255 × 32) of output key material in secure
    /// memory.
    /// - Parameters:
    ///   - ikm: input key material (RFC 5869 §2.2).
    ///   - salt: optional salt; empty means 32 zero bytes (§2.2).
    ///   - info: context and application-specific information (§2.3).
    /// - Throws: ``CryptoError`` for a length outside 1...8160 or a library failure.
    package static func deriveKey(ikm: SecureBytes, salt: [UInt8], info: [UInt8], length: Int = 32) throws -> SecureBytes {
        guard (1...(255 * HMACSHA256.tagLength)).contains(length) else {
            throw CryptoError(.badLength, "HKDF output length must be 1...8160 bytes")
        }
        // Extract: PRK = HMAC(salt, IKM).
        let extractor = try HMACSHA256(key: SecureBytes(copying: salt.isEmpty ? [UInt8](repeating: 0, count: 32) : salt))
        var prkBytes = try extractor.authenticate { input in ikm.withUnsafeBytes { input.write($0) } }
        let prk = SecureBytes(copying: prkBytes)
        SecureBytes.wipe(&prkBytes)
        return try expand(prk: prk, info: info, length: length)
    }

    /// Expand only (RFC 5869 §2.3): T(i) = HMAC(PRK, T(i-1) | info | i).
    package static func expand(prk: SecureBytes, info: [UInt8], length: Int) throws -> SecureBytes {
        let expander = try HMACSHA256(key: prk)
        let output = SecureBytes(count: length)
        var previous: [UInt8] = []
        var produced = 0
        var counter: UInt8 = 1
        defer { SecureBytes.wipe(&previous) }
        while produced < length {
            var block = try expander.authenticate { input in
                input.write(previous)
                input.write(info)
                input.write(counter)
            }
            let take = min(block.count, length - produced)
            output.withUnsafeMutableBytes { target in
                for index in 0..<take { target[produced + index] = block[index] }
            }
            produced += take
            SecureBytes.wipe(&previous)
            previous = block
            SecureBytes.wipe(&block)
            counter &+= 1
        }
        return output
    }
}

import KeywardCore

/// One version of an entry as `history` shows it: Core's ``SecretVersionInfo`` (never the value,
/// only its fingerprint and length), under the name the vault's API has always used.
public typealias VaultVersionInfo = SecretVersionInfo

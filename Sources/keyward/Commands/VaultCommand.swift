import ArgumentParser

/// `keyward vault …`: manage the encrypted vault (DESIGN.md, "Commands" and "Unlocking the vault").
struct VaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "Manage the encrypted vault.",
        discussion: """
            Unlocking, in order: $KEYWARD_KEY_FILE (a file of 32 random bytes, base64), \
            $KEYWARD_PASSPHRASE, $KEYWARD_PASSPHRASE_FILE, then a prompt on the terminal; a key or \
            passphrase file must be private (chmod 600) and a passphrase not empty, or the command exits 4. \
            The vault file: --vault, else $KEYWARD_VAULT, else the configuration's vault.path, else \
            $XDG_DATA_HOME/keyward/vault.db. A configuration named with --config or $KEYWARD_CONFIG must \
            exist, and one that is found (or ./keyward.yaml) must be valid, or the command exits 2.
            """,
        subcommands: [
            Init.self, Put.self, Get.self, List.self, History.self, Remove.self,
            Passwd.self, Rekey.self, Verify.self, Key.self,
        ]
    )
}

import ArgumentParser

/// `keyward vault …`: manage the encrypted vault (DESIGN.md, "Commands" and "Unlocking the vault").
struct VaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "Manage the encrypted vault.",
        discussion: """
            Unlocking, in order: $KEYWARD_KEY_FILE (a file of 32 random bytes, base64), \
            $KEYWARD_PASSPHRASE, $KEYWARD_PASSPHRASE_FILE, then a prompt on the terminal. \
            The vault file: --vault, else $KEYWARD_VAULT, else $XDG_DATA_HOME/keyward/vault.db.
            """,
        subcommands: [
            Init.self, Put.self, Get.self, List.self, History.self, Remove.self,
            Passwd.self, Rekey.self, Verify.self, Key.self,
        ]
    )
}

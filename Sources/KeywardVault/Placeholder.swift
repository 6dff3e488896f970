public enum KeywardVaultPlaceholder {}

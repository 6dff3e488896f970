public enum KeywardTokenServicePlaceholder {}

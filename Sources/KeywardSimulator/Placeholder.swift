public enum KeywardSimulatorPlaceholder {}

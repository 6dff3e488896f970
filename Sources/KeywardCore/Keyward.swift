/// Facts about this build of Keyward.
public enum Keyward {
    /// The version of this build, as `keyward --version` prints it and the token service client
    /// sends it in `User-Agent: keyward/<version>`.
    public static let version = "0.1.0"
}

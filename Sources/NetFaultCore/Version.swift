/// netfault's version: `netfault --version`, netfault-serve's and netfault-matrix's `--version`,
/// serve's /version and the man pages (generated from `--help`) all read this one constant.
/// CHANGELOG.md records what each version brought.
public enum NetFaultVersion {
    public static let current = "0.3.0"
}

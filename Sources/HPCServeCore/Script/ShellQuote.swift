/// Quoting for bash: the only way a free-form value reaches a generated script.
public enum ShellQuote {
    /// `value` as one bash word that expands to exactly `value` (single quotes; `'` as `'\''`).
    ///
    /// Callers must have rejected NUL already: bash cannot hold it in a string.
    public static func quote(_ value: String) -> String {
        if !value.isEmpty, value.unicodeScalars.allSatisfy(isPlain) { return value }
        return "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Characters that never need quoting in any bash context we use.
    private static func isPlain(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".", "/", ":", ",", "+", "@", "%":
            return true
        default:
            return false
        }
    }
}

/// Quoting for bash: the only way a free-form value reaches a generated script.
public enum ShellQuote {
    /// `value` as one bash word that expands to exactly `value` (single quotes; `'` as `'\''`).
    ///
    /// A value with characters that do not print as themselves (controls, bidirectional
    /// overrides, invisible format characters, marks: see `Validate.isPrinting`) is written in
    /// `$'…'` with those characters as `\xHH` bytes, so the word reads true on a terminal or
    /// in an editor, pastes safely, and means the same bytes in every locale.
    /// Callers must have rejected NUL already: bash cannot hold it in a string.
    public static func quote(_ value: String) -> String {
        if !value.isEmpty, value.unicodeScalars.allSatisfy(isPlain) { return value }
        if value.unicodeScalars.allSatisfy(Validate.isPrinting) {
            return "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
        var out = "$'"
        for scalar in value.unicodeScalars {
            switch scalar {
            case "'": out += "\\'"
            case "\\": out += "\\\\"
            case let c where Validate.isPrinting(c): out.unicodeScalars.append(c)
            default:
                for byte in String(scalar).utf8 {
                    let hex = String(byte, radix: 16)
                    out += "\\x" + (hex.count == 1 ? "0" : "") + hex
                }
            }
        }
        return out + "'"
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

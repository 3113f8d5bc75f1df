/// Checks for every value that can reach a generated script. Each returns the value or
/// throws a `UsageError` that names the option, shows the value safely and says what is allowed.
public enum Validate {
    /// Longest value accepted for any option: nothing legitimate comes close.
    public static let maxLength = 1024

    /// A value shown in an error message: in single quotes, at most 60 scalars, with
    /// everything that does not print as itself escaped (see `escapeNonPrinting`), and a
    /// quote or backslash in the value escaped too, so the quotes around it cannot be faked.
    public static func show(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars.prefix(60) {
            switch scalar {
            case "'": out += "\\'"
            case "\\": out += "\\\\"
            default: out += escape(scalar)
            }
        }
        if value.unicodeScalars.count > 60 { out += "…" }
        return "'" + out + "'"
    }

    /// Bytes that may not be UTF-8, shown like `show` does: a byte that does not decode as
    /// `\xff` (a character that does not print is `\u{…}`, an ASCII control `\x1b`), the rest as text.
    public static func show(bytes: [UInt8]) -> String {
        var out = ""
        var i = bytes.startIndex
        var shown = 0
        while i < bytes.endIndex, shown < 60 {
            var iterator = bytes[i...].makeIterator()
            var decoder = UTF8()
            if case .scalarValue(let scalar) = decoder.decode(&iterator) {
                switch scalar {
                case "'": out += "\\'"
                case "\\": out += "\\\\"
                default: out += escape(scalar)
                }
                i += UTF8.width(scalar)
            } else {
                out += "\\x" + hex(bytes[i], width: 2)
                i += 1
            }
            shown += 1
        }
        if i < bytes.endIndex { out += "…" }
        return "'" + out + "'"
    }

    /// `text` with every scalar that does not print as itself escaped: C0 and C1 control
    /// characters, DEL, bidirectional overrides and isolates, other invisible format characters,
    /// line and paragraph separators, and marks (which would join the character before them).
    /// For whole messages on their way to a terminal; `show` is for one value inside them.
    public static func escapeNonPrinting(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars { out += escape(scalar) }
        return out
    }

    /// Whether `c` shows on a terminal as itself (see `escapeNonPrinting`).
    public static func isPrinting(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x20 || (0x7f...0x9f).contains(c.value) { return false }
        if c.isASCII { return true }
        switch c.properties.generalCategory {
        case .format, .lineSeparator, .paragraphSeparator, .control, .surrogate, .privateUse, .unassigned,
            .nonspacingMark, .spacingMark, .enclosingMark:
            return false
        case .spaceSeparator:
            return false  // a space that is not U+0020 looks like one but is not
        default:
            return true
        }
    }

    /// Bidirectional embeddings, overrides, isolates and marks: they reorder what a terminal
    /// or an editor shows around them.
    static func isBidiControl(_ c: Unicode.Scalar) -> Bool {
        (0x202a...0x202e).contains(c.value) || (0x2066...0x2069).contains(c.value)
            || c.value == 0x200e || c.value == 0x200f || c.value == 0x061c
    }

    private static func escape(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\n": return "\\n"
        case "\t": return "\\t"
        case "\r": return "\\r"
        case let c where c.isASCII && !isPrinting(c):
            return "\\x" + hex(UInt8(c.value), width: 2)
        case let c where !isPrinting(c):  // \u{…} for a character, \xff only for a byte that is not UTF-8
            return "\\u{" + String(c.value, radix: 16) + "}"
        default:
            return String(scalar)
        }
    }

    private static func hex(_ byte: UInt8, width: Int) -> String {
        let digits = String(byte, radix: 16)
        return String(repeating: "0", count: width - digits.count) + digits
    }

    /// Rejects empty and over-long values, control characters (newline, NUL, escape, the C1
    /// range) and bidirectional controls: no value hpcserve takes needs them, and in a script
    /// or on a terminal they hide what the text really says.
    public static func basic(_ value: String, option: String) throws {
        if value.isEmpty { throw UsageError("\(option) needs a value") }
        if value.utf8.count > maxLength {
            throw UsageError("\(option) value is too long (\(value.utf8.count) bytes, at most \(maxLength))")
        }
        if value.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }) {
            throw UsageError(
                "\(option) value \(show(value)) contains a control character (newline, tab, NUL, escape…); "
                    + "give it on one line"
            )
        }
        if value.unicodeScalars.contains(where: { isBidiControl($0) || $0.value == 0x2028 || $0.value == 0x2029 }) {
            throw UsageError(
                "\(option) value \(show(value)) contains a bidirectional control or line separator "
                    + "(U+202E…), which changes how text around it is shown; remove it"
            )
        }
    }

    /// A value made only of `allowed` characters, not starting with `-`.
    public static func charset(_ value: String, option: String, allowed: String, what: String) throws -> String {
        try basic(value, option: option)
        let ok = value.unicodeScalars.allSatisfy { isAlnum($0) || allowed.unicodeScalars.contains($0) }
        if !ok || value.startsWith(scalars: "-") {
            throw UsageError(
                "\(option) value \(show(value)) is not a valid \(what); use letters, digits and \(describe(allowed))")
        }
        return value
    }

    static func isAlnum(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
    }

    private static func describe(_ allowed: String) -> String {
        allowed.map { "'\($0)'" }.joined(separator: " ")
    }

    /// A Slurm time limit in one of sbatch's formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S
    /// (or UNLIMITED / INFINITE).
    public static func time(_ value: String, option: String = "--time") throws -> String {
        try basic(value, option: option)
        let bad = UsageError(
            "\(option) value \(show(value)) is not a Slurm time; use M, M:S, H:M:S, D-H, D-H:M or D-H:M:S "
                + "(e.g. 90, 2:00:00, 1-12)"
        )
        // ASCII only, so that splitting below is on bytes (no mark can join a separator).
        guard value.unicodeScalars.allSatisfy(\.isASCII) else { throw bad }
        let upper = value.uppercased()
        if upper == "UNLIMITED" || upper == "INFINITE" { return upper }
        let digits = { (s: String) in s.isASCIIDigits && s.utf8.count <= 6 }
        let dayParts = value.pieces(at: "-")
        switch dayParts.count {
        case 1:
            let parts = value.pieces(at: ":")
            guard (1...3).contains(parts.count), parts.allSatisfy(digits) else { throw bad }
        case 2:
            let parts = dayParts[1].pieces(at: ":")
            guard digits(dayParts[0]), (1...3).contains(parts.count), parts.allSatisfy(digits) else { throw bad }
        default:
            throw bad
        }
        if try minutes(value) == 0 { throw UsageError("\(option) must be longer than zero") }
        return value
    }

    /// Total minutes of a validated Slurm time (seconds rounded up), `nil` for unlimited.
    public static func minutes(_ value: String) throws -> Int? {
        let upper = value.uppercased()
        if upper == "UNLIMITED" || upper == "INFINITE" { return nil }
        var days = 0
        var rest = Substring(value)
        if let dash = value.firstIndex(of: "-") {
            days = Int(value[..<dash]) ?? 0
            rest = value[value.index(after: dash)...]
        }
        let n = rest.split(separator: ":").map { Int($0) ?? 0 }
        var seconds: Int
        if value.contains("-") {
            // D-H, D-H:M, D-H:M:S
            seconds = n[0] * 3600 + (n.count > 1 ? n[1] * 60 : 0) + (n.count > 2 ? n[2] : 0)
        } else {
            switch n.count {
            case 1: seconds = n[0] * 60  // M
            case 2: seconds = n[0] * 60 + n[1]  // M:S
            default: seconds = n[0] * 3600 + n[1] * 60 + n[2]  // H:M:S
            }
        }
        seconds += days * 86400
        return (seconds + 59) / 60
    }

    /// A whole number in `range`.
    public static func integer(_ value: String, option: String, range: ClosedRange<Int>) throws -> Int {
        try basic(value, option: option)
        guard value.isASCIIDigits, value.utf8.count <= 9, let n = Int(value), range.contains(n) else {
            throw UsageError(
                "\(option) value \(show(value)) is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    /// A TCP port (1–65535).
    public static func port(_ value: String, option: String) throws -> Int {
        try integer(value, option: option, range: 1...65535)
    }

    /// A port range `A-B`.
    public static func portRange(_ value: String, option: String) throws -> ClosedRange<Int> {
        try basic(value, option: option)
        let parts = value.pieces(at: "-")
        guard parts.count == 2,
            let a = try? port(parts[0], option: option),
            let b = try? port(parts[1], option: option), a <= b
        else {
            throw UsageError(
                "\(option) value \(show(value)) is not a port range; use A-B with 1 <= A <= B <= 65535 "
                    + "(e.g. 20000-32767)"
            )
        }
        return a...b
    }

    /// Memory as sbatch takes it: a number with an optional K, M, G or T suffix.
    public static func memory(_ value: String, option: String = "--mem") throws -> String {
        try basic(value, option: option)
        var digits = value
        if let last = value.unicodeScalars.last, "KMGTkmgt".unicodeScalars.contains(last) {
            digits = value.dropping(lastScalars: 1)
        }
        guard digits.isASCIIDigits, digits.utf8.count <= 12 else {
            throw UsageError(
                "\(option) value \(show(value)) is not a memory size; use a number with an optional K, M, G "
                    + "or T suffix (e.g. 16G)"
            )
        }
        return value
    }

    /// A Slurm name: partition, account, QOS, reservation (comma lists allowed).
    public static func slurmName(_ value: String, option: String, what: String) throws -> String {
        try charset(value, option: option, allowed: "_.-,", what: what)
    }

    /// A job name: letters, digits and a few punctuation marks, at most 64 characters.
    public static func jobName(_ value: String, option: String = "--job-name") throws -> String {
        let v = try charset(value, option: option, allowed: "_.-+", what: "job name")
        if v.utf8.count > 64 { throw UsageError("\(option) value is longer than 64 characters") }
        return v
    }

    /// A GPU request: `N`, `TYPE:N`, or a comma list of those.
    public static func gpus(_ value: String, option: String = "--gpus") throws -> String {
        let v = try charset(value, option: option, allowed: "_.-:,", what: "GPU request (N or TYPE:N)")
        for item in v.pieces(at: ",") {
            guard let count = item.pieces(at: ":").last, count.isASCIIDigits else {
                throw UsageError(
                    "\(option) value \(show(value)) is not a GPU request; use N or TYPE:N (e.g. 2 or a100:2)")
            }
        }
        return v
    }

    /// A generic resource list: `name[:type][:count][,…]`.
    public static func gres(_ value: String, option: String = "--gres") throws -> String {
        try charset(value, option: option, allowed: "_.-:,", what: "generic resource list (e.g. gpu:a100:2)")
    }

    /// A node feature expression (`&`, `|`, `,`, `*`, brackets and parentheses allowed).
    public static func constraint(_ value: String, option: String = "--constraint") throws -> String {
        try charset(value, option: option, allowed: "_.-&|,*[]():", what: "feature expression (e.g. skylake&ib)")
    }

    /// An environment-module name such as `python/3.11` or `anaconda3/2023.09-0`.
    public static func module(_ value: String, option: String = "--module") throws -> String {
        try charset(value, option: option, allowed: "_.-/+@:", what: "module name")
    }

    /// The usual license variables, for messages and help.
    public static let usualLicenseVariables = [
        "LM_LICENSE_FILE", "MLM_LICENSE_FILE", "ANSYSLMD_LICENSE_FILE", "CDLMD_LICENSE_FILE",
        "SNPSLMD_LICENSE_FILE", "ARMLMD_LICENSE_FILE", "INTEL_LICENSE_FILE", "RLM_LICENSE",
    ]

    /// Variables of the shell, the dynamic loader, the locale and the job that a snippet must
    /// not overwrite: setting one to PORT@localhost breaks the job or runs someone's file
    /// (BASH_ENV, ENV), or makes every program load something else (LD_…).
    static let shellVariables: Set<String> = [
        "CDPATH", "COLUMNS", "DIRSTACK", "ENV", "EPOCHREALTIME", "EPOCHSECONDS", "EUID", "EXECIGNORE",
        "FCEDIT", "FIGNORE", "FUNCNAME", "GCONV_PATH", "GLOBIGNORE", "GROUPS", "HOME", "HOSTALIASES",
        "HOSTFILE", "HOSTNAME", "HOSTTYPE", "IFS", "IGNOREEOF", "INPUTRC", "LANG", "LANGUAGE", "LINENO",
        "LINES", "LOCALDOMAIN", "LOCPATH", "LOGNAME", "MACHTYPE", "MAIL", "MAILCHECK", "MAILPATH",
        "NLSPATH", "OLDPWD", "OPTARG", "OPTERR", "OPTIND", "OSTYPE", "PATH", "PIPESTATUS",
        "POSIXLY_CORRECT", "PPID", "PROMPT_COMMAND", "PROMPT_DIRTRIM", "PS0", "PS1", "PS2", "PS3", "PS4",
        "PWD", "RANDOM", "REPLY", "RES_OPTIONS", "SECONDS", "SHELL", "SHELLOPTS", "SHLVL", "SRANDOM",
        "TERM", "TIMEFORMAT", "TMOUT", "TMPDIR", "TZ", "TZDIR", "UID", "USER",
    ]
    static let shellVariablePrefixes = [
        "BASH", "LD_", "LC_", "DYLD_", "MALLOC_", "GLIBC_", "HIST", "COMP_", "READLINE_", "SLURM", "HPCSERVE",
    ]

    /// A variable for a license snippet to export: `[A-Z][A-Z0-9_]*`, and not a variable of the
    /// shell, the loader, the locale, Slurm or hpcserve.
    public static func licenseVariable(_ value: String, option: String = "--env") throws -> String {
        try basic(value, option: option)
        let usual = "use a license variable such as " + usualLicenseVariables.joined(separator: ", ")
        let scalars = Array(value.unicodeScalars)
        guard value.utf8.count <= 64, ("A"..."Z").contains(scalars[0]),
            scalars.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" })
        else {
            throw UsageError(
                "\(option) value \(show(value)) is not a license variable name (capital letters, digits and "
                    + "'_', starting with a letter); \(usual)"
            )
        }
        if shellVariables.contains(value) || shellVariablePrefixes.contains(where: { value.startsWith(scalars: $0) }) {
            throw UsageError(
                "\(option) value \(show(value)) is a variable of the shell, the loader, Slurm or hpcserve, "
                    + "not a license variable; \(usual)"
            )
        }
        return value
    }

    /// A host name or address for ssh (no user@, no options).
    public static func host(_ value: String, option: String) throws -> String {
        try charset(value, option: option, allowed: "_.-:", what: "host name")
    }

    /// An absolute or relative file path: anything printable on one line.
    public static func path(_ value: String, option: String) throws -> String {
        try basic(value, option: option)
        return value
    }

    /// A path on the server for a probe or for the page to open: `/`, then the characters of a
    /// URL's path and query (RFC 3986): no spaces, quotes, `#` or anything else a browser escapes.
    public static func urlPath(_ value: String, option: String) throws -> String {
        try basic(value, option: option)
        let allowed = "-._~!$&'()*+,;=:@/%?"
        guard value.startsWith(scalars: "/"),
            value.unicodeScalars.allSatisfy({ isAlnum($0) || allowed.unicodeScalars.contains($0) })
        else {
            throw UsageError(
                "\(option) value \(show(value)) is not a URL path; start it with '/' and use letters, digits "
                    + "and URL punctuation (- . _ ~ / ? = & % + : @ , ; ! $ ' ( ) *), e.g. /lab or /api/health")
        }
        return value
    }

    /// An Apptainer/Singularity image: a file (`lab.sif`) or a URI (`docker://jupyter/base-notebook:4.0`);
    /// one printable line that does not start with `-` (it would be read as an option).
    public static func containerImage(_ value: String, option: String = "--container") throws -> String {
        try basic(value, option: option)
        if value.startsWith(scalars: "-") {
            throw UsageError(
                "\(option) value \(show(value)) starts with '-'; give an image file or URI (e.g. lab.sif or "
                    + "docker://jupyter/base-notebook), or ./\(show(value).dropFirst().dropLast()) for a file")
        }
        return value
    }

    /// A trusted raw line of the user's own setup code: one line, no NUL.
    public static func setupLine(_ value: String, option: String = "--setup") throws -> String {
        try basic(value, option: option)
        return value
    }
}

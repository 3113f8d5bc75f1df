/// Text operations on Unicode scalars, for every place where user input is split or tested at
/// an ASCII separator (`=`, `-`, `/`, `:`, `,`, `@`).
///
/// `String`'s own `hasPrefix`, `contains(Character)`, `split(separator:)` and `count` work on
/// grapheme clusters: a zero-width joiner, a combining or a spacing mark right after the separator
/// joins it into one `Character`, so `"--time=\u{200D}".firstIndex(of: "=")` is nil and
/// `"/\u{301}x".hasPrefix("/")` is false. Parsing on scalars never sees those joins.
extension StringProtocol {
    /// Whether the text starts with `prefix`, scalar by scalar.
    func startsWith(scalars prefix: String) -> Bool {
        unicodeScalars.starts(with: prefix.unicodeScalars)
    }

    /// Whether the text ends with `suffix`, scalar by scalar.
    func endsWith(scalars suffix: String) -> Bool {
        unicodeScalars.reversed().starts(with: suffix.unicodeScalars.reversed())
    }

    /// Whether the scalar `c` occurs anywhere in the text.
    func contains(scalar c: Unicode.Scalar) -> Bool {
        unicodeScalars.contains(c)
    }

    /// The number of Unicode scalars.
    var scalarCount: Int { unicodeScalars.count }

    /// The text before the first `separator` and, if it occurs, the text after it.
    func splitOnce(at separator: Unicode.Scalar) -> (head: String, tail: String?) {
        let scalars = unicodeScalars
        guard let i = scalars.firstIndex(of: separator) else { return (String(scalars), nil) }
        return (String(scalars[..<i]), String(scalars[scalars.index(after: i)...]))
    }

    /// The pieces between `separator`s, empty ones kept (`"a::b"` → `["a", "", "b"]`).
    func pieces(at separator: Unicode.Scalar) -> [String] {
        unicodeScalars.split(separator: separator, omittingEmptySubsequences: false).map { String($0) }
    }

    /// The first `n` scalars.
    func prefix(scalars n: Int) -> String { String(unicodeScalars.prefix(n)) }

    /// All but the first `n` scalars.
    func dropping(scalars n: Int) -> String { String(unicodeScalars.dropFirst(n)) }

    /// All but the last `n` scalars.
    func dropping(lastScalars n: Int) -> String { String(unicodeScalars.dropLast(n)) }

    /// Whether every scalar is an ASCII digit (and there is at least one).
    var isASCIIDigits: Bool {
        !unicodeScalars.isEmpty && unicodeScalars.allSatisfy { ("0"..."9").contains($0) }
    }
}

extension String {
    /// A string made of these scalars.
    init<S: Sequence>(_ scalars: S) where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        self = String(view)
    }
}

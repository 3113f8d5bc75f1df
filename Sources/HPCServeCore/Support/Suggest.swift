/// "Did you mean" suggestions by edit distance.
public enum Suggest {
    /// The candidate closest to `word`, if it is close enough to be a likely typo.
    public static func closest<S: Sequence>(to word: String, in candidates: S) -> String? where S.Element == String {
        // No option name is this long: a huge word is no typo, and distances would be slow.
        guard word.utf8.count <= 64 else { return nil }
        let limit = max(1, min(3, word.count / 3))
        var best: (String, Int)?
        for c in candidates.sorted() {
            let d = distance(word, c)
            if d <= limit, d < (best?.1 ?? Int.max) { best = (c, d) }
        }
        if let best { return best.0 }
        // a unique candidate the word is a prefix of (e.g. --reserv → --reservation)
        let prefixed = candidates.filter { $0.hasPrefix(word) && word.count >= 3 }
        return prefixed.count == 1 ? prefixed.first : nil
    }

    /// Levenshtein distance.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}

/// Warnings before a job's time limit: once each when 15 and 5 minutes are left. Pure: fed the
/// time left from the squeue answers the watcher already has (no extra scheduler call).
public struct WalltimeWarnings: Sendable, Equatable {
    /// Seconds left at which to warn, largest first.
    public static let thresholds = [15 * 60, 5 * 60]
    /// Thresholds not yet warned about; nil before the first observation.
    private var ahead: [Int]?

    public init() {}

    /// The time left as squeue said it (`%L`); returns the threshold to warn about now, if any.
    /// A threshold already behind at the first observation is skipped (a 10-minute job gets
    /// only the 5-minute warning); several crossed at once give one warning, the lowest.
    public mutating func observe(timeLeft: String) -> Int? {
        guard let left = Self.seconds(timeLeft) else { return nil }
        guard let current = ahead else {
            ahead = Self.thresholds.filter { $0 < left }
            return nil
        }
        let crossed = current.filter { left <= $0 }
        ahead = current.filter { left > $0 }
        return crossed.min()
    }

    /// Seconds in Slurm's time-left format (`D-HH:MM:SS`, `HH:MM:SS`, `MM:SS`); nil for
    /// UNLIMITED, INVALID, NOT_SET and anything else.
    public static func seconds(_ text: String) -> Int? {
        var days = 0
        var rest = Substring(text)
        if let dash = text.firstIndex(of: "-") {
            guard let d = Int(text[..<dash]), d >= 0 else { return nil }
            days = d
            rest = text[text.index(after: dash)...]
        }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) }) else {
            return nil
        }
        let numbers = parts.compactMap { Int($0) }
        guard numbers.count == parts.count, numbers.allSatisfy({ $0 >= 0 }) else { return nil }
        let hms = Array(repeating: 0, count: 3 - numbers.count) + numbers
        return days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
    }
}

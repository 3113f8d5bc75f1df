import Foundation
import Testing

/// The code stays within the 120 columns of .swift-format (`swift-format format -i -r Sources Tests`
/// applies it). Lines inside multi-line string literals are exempt: they are bash scripts or
/// expected output, where a break would change what is tested.
@Suite struct SourceStyleTests {
    @Test func swiftLinesAreAtMost120Columns() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        var long: [String] = []
        for folder in ["Sources", "Tests", "Templates"] {
            let base = root.appendingPathComponent(folder)
            let files = FileManager.default.enumerator(atPath: base.path)?.compactMap { $0 as? String } ?? []
            for file in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
                var inLiteral = false
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let quotes = line.components(separatedBy: "\"\"\"").count - 1
                    if !inLiteral, quotes % 2 == 0, line.count > 120 { long.append("\(folder)/\(file):\(number + 1)") }
                    if quotes % 2 == 1 { inLiteral.toggle() }
                }
            }
        }
        #expect(long.isEmpty, "lines over 120 columns: \(long.joined(separator: ", "))")
    }
}

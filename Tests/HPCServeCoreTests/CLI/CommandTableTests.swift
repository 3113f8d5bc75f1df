import Foundation
import Testing

@testable import HPCServeCore

/// The repository's root directory.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path

/// The command table is the one source: these checks keep it whole, and keep the man page
/// in step with it.
@Suite struct CommandTableTests {
    @Test func everyCommandRunsOrPicksASubcommandAndHasHelp() {
        for (path, command) in Commands.leaves {
            let what = path.joined(separator: " ")
            #expect(command.run != nil, "\(what) has nothing to run")
            #expect(command.options.contains { $0.key == "--help" }, "\(what) has no --help")
            var spellings = Set<String>()
            for name in command.options.flatMap(\.names) {
                #expect(spellings.insert(name).inserted, "\(what): two options are spelt \(name)")
                #expect(
                    name.wholeMatch(of: /--[a-z][a-z-]*|-[a-zA-Z]/) != nil,
                    "\(what): \(name) is no option spelling")
            }
        }
        for command in Commands.all where !command.subcommands.isEmpty {
            #expect(command.run == nil, "\(command.name) picks a subcommand and runs nothing itself")
            #expect(Set(command.subcommands.map(\.name)).count == command.subcommands.count)
            // The completion scripts know one level of groups.
            #expect(command.subcommands.allSatisfy { $0.subcommands.isEmpty }, "\(command.name): groups do not nest")
        }
        let words = Commands.all.flatMap { [$0.name] + $0.aliases }
        #expect(Set(words).count == words.count, "two top-level commands share a word")
    }

    /// Adding an app is a profile and a template: its commands, options and help come from the table.
    @Test(arguments: Apps.all.map(\.name))
    func everyAppHasItsCommandsWithItsOwnOptions(_ name: String) throws {
        let app = try #require(Apps.named(name))
        let submit = try #require(Commands.all.first { $0.name == name })
        let script = try #require(ScriptCommand.command.subcommand(name))
        for command in [submit, script] {
            let keys = command.options.map(\.key)
            for option in ScriptCommand.jobOptions + app.options {
                #expect(keys.contains(option.key), "\(name): \(option.key) missing")
            }
        }
        for option in app.options {
            #expect(
                option.apply != nil && option.templateVariable != nil,
                "\(name) \(option.key) sets no template variable")
        }
    }

    /// Every job option puts its value into the job, and nothing else reads it by name.
    @Test func everyJobOptionButTheTemplateAppliesToTheJob() {
        for option in ScriptCommand.jobOptions {
            #expect((option.apply == nil) == (option.key == "--template"), "\(option.key)")
        }
    }

    /// Every page fits 80 columns but for whole example command lines, and has examples.
    @Test func everyHelpPageFitsAndHasExamples() {
        var pages: [(String, String)] = [("main", Help.main)]
        for command in Commands.all {
            pages.append((command.name, Help.page(command, path: [command.name])))
            for sub in command.subcommands {
                pages.append(("\(command.name) \(sub.name)", Help.page(sub, path: [command.name, sub.name])))
            }
        }
        for (what, page) in pages {
            for line in page.split(separator: "\n") where line.count > Help.width {
                #expect(line.hasPrefix("  hpcserve "), "\(what): wider than 80 columns: \(line)")
            }
            #expect(page.hasSuffix("\n") && !page.hasSuffix("\n\n"), "\(what)")
            if !["help", "version"].contains(what) {
                #expect(page.contains("\nExamples:\n"), "\(what) has no examples")
            }
        }
    }

    /// Every option of every command (its long spelling) and every command is in the man page.
    @Test func theManPageMentionsEveryCommandAndOption() throws {
        let roff = try String(contentsOfFile: repositoryRoot + "/share/man/man1/hpcserve.1", encoding: .utf8)
        let text = roff.replacingOccurrences(of: "\\-", with: "-")
        func mentions(_ word: String) -> Bool {
            // The word whole: --port is not found in --port-range.
            var rest = text[...]
            while let range = rest.range(of: word) {
                let before = range.lowerBound == text.startIndex ? " " : text[text.index(before: range.lowerBound)]
                let after = range.upperBound == text.endIndex ? " " : text[range.upperBound]
                let wordy = { (c: Character) in c.isLetter || c.isNumber || c == "-" }
                if !wordy(before), !wordy(after) { return true }
                rest = text[range.upperBound...]
            }
            return false
        }
        var missing: [String] = []
        for (path, command) in Commands.leaves {
            for word in path where !mentions(word) { missing.append(word) }
            for option in command.options where !mentions(option.key) {
                missing.append(path.joined(separator: " ") + " " + option.key)
            }
        }
        #expect(missing.isEmpty, "not in share/man/man1/hpcserve.1: \(Set(missing).sorted())")
    }
}

import Foundation
import Testing

@testable import HPCServeCore

/// More than 1,000 hostile values, built deterministically from building blocks: shell
/// metacharacters, quotes, canary payloads, C0 and C1 control characters, bidirectional and
/// invisible characters, joiners and marks after every separator, long strings, option-looking
/// words, plausible values with hostile decorations, and pseudo-random mixtures of all of them.
/// Values that are not UTF-8 can only come as bytes: `invalidUTF8`.
enum HostileCorpus {
    static let metacharacters = [
        ";", "|", "&", "&&", "||", "$", "$(", ")", "`", ">", ">>", "<", "<<", "*", "?", "[", "]",
        "{", "}", "(", "!", "!!", "~", "#", "\\", "%", "^", "=", ",", ":", "@", "-", "/", "+",
        ".", "..", " ", "\t", "${IFS}", "$'\\x41'", "<(id)", ">(id)", "{a,b}", "2>&1", "&>", "*?[a]",
    ]
    static let quotes = ["'", "\"", "''", "\"\"", "'\\''", "\\'", "\\\"", "'\"'\"'", "`'`"]
    static let controls =
        (0..<0x20).map { String(Unicode.Scalar(UInt8($0))) } + ["\u{7f}"]
        + (0x80...0x9f).map { String(Unicode.Scalar(UInt32($0))!) } + ["\u{1b}[2J", "\u{1b}]0;title\u{7}", "\r\n"]
    static let bidi = [
        "\u{202a}", "\u{202b}", "\u{202c}", "\u{202d}", "\u{202e}", "\u{2066}", "\u{2067}", "\u{2068}", "\u{2069}",
        "\u{200e}", "\u{200f}", "\u{061c}",
    ]
    static let invisible = [
        "\u{200b}", "\u{200c}", "\u{200d}", "\u{2060}", "\u{feff}", "\u{a0}", "\u{2028}", "\u{2029}", "\u{ad}",
        "\u{3000}", "\u{e000}", "\u{fffd}",
    ]
    static let marks = JoinedSeparatorTests.marks
    static let separators = JoinedSeparatorTests.separators
    static let plausible = [
        "1", "0", "8", "00", "007", "-1", "+1", "65535", "65536", "99999999999", "2:00:00", "1-12", "1-12:30:00",
        "UNLIMITED",
        "infinite", "90", "16G", "1t", "a100:2", "gpu:a100:2", "skylake&ib", "python/3.11", "R/4.4.1-foss",
        "node[01-04]",
        "END,FAIL", "a@b.example", "x", "abc", "gw01", "lic.example.org", "LM_LICENSE_FILE", "PATH", "BASH_ENV",
        "LD_PRELOAD",
        "20000-30000", "socket", "tcp", "ALL", "NONE", "ALL,BASH_ENV=/tmp/x", "/tmp/x", "../../etc/passwd",
        "../../../../../../etc/passwd", "/etc/passwd", "/dev/null", "/dev/stdout", "/dev/zero", "/", ".", "-", "--",
        "~root",
        "$HOME", "a b", "é", "中文", "🙂", "e\u{301}",
    ]
    static let optionLike = [
        "--exclusive", "-x", "--help", "-h", "--time=1", "-oProxyCommand=id", "--output=/tmp/x", "-t", "--nodes=8",
        "-J", "--export=BASH_ENV=/tmp/x", "--shared", "-o", "--=", "-=", "---", "--\u{200d}",
    ]
    static let long = [
        String(repeating: "A", count: 1024), String(repeating: "A", count: 1025), String(repeating: "a/", count: 600),
        String(repeating: "é", count: 600), String(repeating: "x", count: 100_000), String(repeating: "-", count: 70),
    ]

    static func payloads(_ canary: String) -> [String] {
        [
            "touch \(canary)", "$(touch \(canary))", "`touch \(canary)`", "; touch \(canary)", "| touch \(canary)",
            "& touch \(canary)",
            "&& touch \(canary)", "|| touch \(canary)", "\ntouch \(canary)", "\r\ntouch \(canary)",
            "'; touch \(canary); '",
            "\"; touch \(canary); \"", "$(touch${IFS}\(canary))", ">\(canary)", "\u{0}touch \(canary)",
            "x'$(touch \(canary))'",
            "\\\"$(touch \(canary))\\\"", "#\ntouch \(canary)", "$(IFS=_;c=touch_\(canary);$c)",
            "${x:-$(touch \(canary))}",
        ]
    }

    /// The corpus; `canary` is the absolute path no value may ever create.
    static func values(canary: String) -> [String] {
        var out: [String] = []
        var seen = Set<[UInt8]>()  // by bytes: String equality would merge "é" and "e\u{301}"
        func add(_ v: String) { if seen.insert(Array(v.utf8)).inserted { out.append(v) } }
        let atoms =
            metacharacters + quotes + controls + bidi + invisible + marks + plausible + optionLike + payloads(canary)
        atoms.forEach(add)
        long.forEach(add)
        for a in metacharacters + quotes + bidi + invisible { add("x" + a + "y") }
        for prefix in ["", "x", "1", "a-b", "node01", "2:00:00", "python/3.11", "--comment=", "-", "/tmp/"] {
            for p in payloads(canary) { add(prefix + p) }
        }
        for sep in separators {
            for mark in marks {
                [sep + mark, "1" + sep + mark, "a" + sep + mark + "b", "--x" + sep + mark].forEach(add)
            }
        }
        for p in plausible {
            for d in ["", "'", ";", "\u{202e}", "\u{301}"] { add(p + d) }
        }
        // Pseudo-random mixtures, from a fixed seed: the same corpus on every run.
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        for _ in 0..<200 {
            add((0..<(2 + next(3))).map { _ in atoms[next(atoms.count)] }.joined())
        }
        return out
    }

    /// Values that are not UTF-8: a lone continuation byte, a truncated sequence, an overlong
    /// '/', a surrogate, bytes that never occur, and such bytes inside plausible values.
    static let invalidUTF8: [[UInt8]] = [
        [0xff], [0x80], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfe, 0xfe],
        Array("out".utf8) + [0xff] + Array(".sh".utf8), Array("/tmp/".utf8) + [0xe2, 0x80], Array("1".utf8) + [0x9b],
        Array("--comment=".utf8) + [0xc3, 0x28], [0xef, 0xbf, 0xbd, 0xff],
    ]
}

/// Results gathered from several threads.
final class ParallelResults<R: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [[(Int, R)]] = []

    func add(_ part: [(Int, R)]) {
        lock.lock()
        parts.append(part)
        lock.unlock()
    }

    var inOrder: [R] {
        lock.lock()
        defer { lock.unlock() }
        return parts.joined().sorted { $0.0 < $1.0 }.map { $0.1 }
    }
}

/// The property, over every option of every app and snippet, the `--` passthrough and the
/// environment variables hpcserve reads: each value either gets exit 64 with one line on stderr
/// and nothing on stdout, or lands in a script that carries it literally, is valid bash (bash -n,
/// shellcheck), and, run under stub commands, never creates the canary.
///
/// Everything is rendered in-process (`ScriptCommand.prepare`, the snippet command: nothing is
/// written); the app of an option every app shares turns with each value, so every app sees every
/// option. The accepted scripts are then checked and run in batches. Their leading block of
/// comment lines (`#!`, `#SBATCH`, the header) is inert for bash whatever it holds, as no value can
/// hold a newline; below it, an accepted value changes only the lines it is quoted into. Scripts
/// are grouped by what changed (the option, and the changed lines with the value's quoted form
/// replaced by V): every changed script gets bash -n, the most hostile of each option shellcheck,
/// and the ten most hostile of each group a run under stubs (one of a group that changed comment
/// lines only; all accepted passthrough words and module names of an app also run in one script).
@Suite(.tags(.shell)) struct HostileInputPropertyTests {
    /// How an accepted value must show in the script.
    enum Expect: Sendable {
        /// The value itself, or its `ShellQuote` form, somewhere in the text.
        case literal
        /// Only in the leading comment block (an `#SBATCH` line or the header).
        case directive
        /// A whole number: its decimal form (sbatch and bash read "007" and "7" alike).
        case integer
        /// `--setup`, web's `--command`: the line, verbatim (trusted code by design: not linted, not run).
        case verbatim
        /// `--template FILE`: only a file that exists (no value in the text).
        case templateFile
        /// `-o FILE`: the absolute path to write, exactly.
        case outputFile
    }

    struct Attempt: Sendable {
        let words: [String]
        var environment: [String: String]
        let value: String
        let expect: Expect
        /// Run the accepted script under stubs (only when all it creates is in the sandbox).
        let run: Bool
        /// The baseline the script is compared with: an app, "license" or "reverse-tunnel".
        let base: String
        /// What is varied: an option, a passthrough form or a variable (groups the scripts).
        let target: String
        /// The environment variable that carries the value, if one does.
        var variable: String?
        /// The value is a stray word, not an option's value.
        var stray = false
    }

    enum Outcome {
        case refused(ExitCode, stdout: String, stderr: String)
        case accepted(text: String, outputFile: String?, stderr: String)
    }

    static func outcome(
        _ words: [String], environment: [String: String], undecodable: [String: [UInt8]] = [:], cwd: String
    ) -> Outcome {
        let out = CapturedOutput()
        let context = Context(
            environment: environment, undecodableEnvironment: undecodable, output: out, workingDirectory: cwd)
        do {
            if words[0] == "script" {
                guard let prepared = try ScriptCommand.prepare(Array(words.dropFirst()), context: context) else {
                    return .refused(.success, stdout: out.standardOutput, stderr: out.standardError)
                }
                return .accepted(text: prepared.text, outputFile: prepared.outputFile, stderr: out.standardError)
            }
            let code = try SnippetCommand.run(Array(words.dropFirst()), context: context)
            return .accepted(
                text: code == .success ? out.standardOutput : "", outputFile: nil, stderr: out.standardError)
        } catch {
            return .refused(
                HPCServe.report(error, context: context), stdout: out.standardOutput, stderr: out.standardError)
        }
    }

    static func printsTrue(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0 == "\n" || Validate.isPrinting($0) }
    }

    /// The leading comment lines and the rest.
    static func split(_ text: String) -> (head: Substring, body: Substring) {
        let bytes = text.utf8
        var i = bytes.startIndex
        while i < bytes.endIndex, bytes[i] == UInt8(ascii: "#") {
            guard let newline = bytes[i...].firstIndex(of: UInt8(ascii: "\n")) else { return (text[...], "") }
            i = bytes.index(after: newline)
        }
        return (text[..<i], text[i...])
    }

    static let integerOptions: Set<String> = [
        "--cpus-per-task", "--ready-timeout", "--ranks", "--port", "--vendor-port",
        "--attempts", "--insecure-tcp-port", "--laptop-port",
    ]
    static let directiveOptions: Set<String> = [
        "--time", "--partition", "--account", "--qos", "--mem", "--gpus", "--gres",
        "--job-name", "--constraint", "--reservation",
    ]

    static func expectation(for option: String) -> Expect {
        if integerOptions.contains(option) { return .integer }
        if directiveOptions.contains(option) { return .directive }
        switch option {
        case "--setup", "--command": return .verbatim
        case "--template": return .templateFile
        case "--output": return .outputFile
        default: return .literal
        }
    }

    /// What each snippet needs to render (a new snippet adds its entry here).
    static let snippetRequired = [
        "license": ["--gateway", "gw", "--server", "lic", "--port", "27000"],
        "reverse-tunnel": ["--port", "8888"],
    ]

    /// Every attempt for every value: each option of each command (by its long name: the short
    /// spellings lead to the same option, and JoinedSeparatorTests takes every spelling), a flag
    /// given a value, a stray word, the passthrough, and the environment variables.
    static func attempts(_ values: [String], box: StubSandbox, base: [String: String]) -> [Attempt] {
        var out: [Attempt] = []
        // A path under the sandbox stays there (no "..") and so may be created by a run.
        let staysInside = { (value: String) in !value.contains("..") }
        // Every snippet of the command table, with the options it requires.
        let snippets: [(String, [OptionSpec], [String])] = Commands.leaves.filter { $0.path[0] == "snippet" }.map {
            ($0.path[1], $0.command.options, snippetRequired[$0.path[1]] ?? [])
        }
        for (index, value) in values.enumerated() {
            // Options every app has: the app turns with the value. An app's own: always that app.
            let shared = Apps.all[index % Apps.all.count]
            let command = ["script"] + appWords(shared.name)
            for app in Apps.all {
                for spec in ScriptCommand.appCommand(app).options where spec.key != "--help" {
                    let own = app.options.contains { $0.key == spec.key }
                    if own || app.name == shared.name { add(spec, app: app) }
                }
            }
            func add(_ spec: OptionSpec, app: AppProfile) {
                // The app's required options, less the one the value is for.
                var required = appRequired[app.name] ?? []
                if let i = required.firstIndex(of: spec.key) { required.removeSubrange(i...(i + 1)) }
                let command = ["script", app.name] + required
                // web's --command must say where to listen: the value comes first, {port} after it.
                let given = app.name == "web" && spec.key == "--command" ? value + " {port}" : value
                if spec.valueName == nil {
                    out.append(
                        Attempt(
                            words: command + [spec.key + "=" + value], environment: base, value: value,
                            expect: .literal,
                            run: false, base: app.name, target: spec.key))
                } else {
                    out.append(
                        Attempt(
                            words: command + [spec.key, given], environment: base, value: value,
                            expect: expectation(for: spec.key), run: true, base: app.name, target: spec.key))
                }
            }
            out.append(
                Attempt(
                    words: command + [value], environment: base, value: value, expect: .literal, run: true,
                    base: shared.name, target: "stray", stray: true))
            for words in [
                ["--", value], ["--", "--comment=" + value], ["--", "-w", value], ["--", "-w" + value],
                ["--", "--export=" + value], ["--", "--" + value],
            ] {
                out.append(
                    Attempt(
                        words: command + words, environment: base, value: value, expect: .directive, run: true,
                        base: shared.name, target: "-- " + words[1].prefix(scalars: 2)))
            }
            // The environment (a value there cannot hold NUL). A session root outside the sandbox
            // is checked, not run: the run would create it.
            if !value.contains(scalar: "\u{0}") {
                for name in ["HOME", "HPCSERVE_DIR", "XDG_CONFIG_HOME"] {
                    var env = base
                    env[name] = value
                    out.append(
                        Attempt(
                            words: command, environment: env, value: value, expect: .literal,
                            run: name == "XDG_CONFIG_HOME",
                            base: shared.name, target: name, variable: name))
                    guard name != "XDG_CONFIG_HOME" else { continue }
                    let inside = box.dir.path + "/e/" + value
                    env[name] = inside
                    out.append(
                        Attempt(
                            words: command, environment: env, value: inside, expect: .literal, run: staysInside(value),
                            base: shared.name, target: name + " (sandbox)", variable: name))
                }
            }
            for (kind, options, required) in snippets {
                let command = ["snippet", kind]
                for spec in options where spec.key != "--help" {
                    var words = required
                    if let i = words.firstIndex(of: spec.key) { words.removeSubrange(i...(i + 1)) }
                    // A socket outside the sandbox is checked, not run; under it, run too.
                    out.append(
                        Attempt(
                            words: command + words + [spec.key, value], environment: base, value: value,
                            expect: expectation(for: spec.key), run: spec.key != "--socket", base: kind,
                            target: spec.key))
                    if spec.key == "--socket" {
                        let inside = box.dir.path + "/s/" + value
                        out.append(
                            Attempt(
                                words: command + words + [spec.key, inside], environment: base, value: inside,
                                expect: .literal, run: staysInside(value), base: kind, target: "--socket (sandbox)"))
                    }
                }
                out.append(
                    Attempt(
                        words: command + required + [value], environment: base, value: value, expect: .literal,
                        run: true,
                        base: kind, target: "stray", stray: true))
            }
        }
        return out
    }

    /// Whether the accepted `text` carries `value` as `expect` says; nil if so, else why not.
    static func carried(_ attempt: Attempt, text: String, outputFile: String?, work: String, baseline: String)
        -> String?
    {
        let value = attempt.value
        switch attempt.variable {
        case "XDG_CONFIG_HOME":
            return text == baseline ? nil : "an XDG_CONFIG_HOME without templates changed the script"
        case "HOME":
            let root = (value.endsWith(scalars: "/") ? value.dropping(lastScalars: 1) : value) + "/.hpcserve"
            return text.contains("hpcserve_root=" + ShellQuote.quote(root) + "\n")
                ? nil : "session root \(root) not in the script"
        case "HPCSERVE_DIR":
            var root = Array(value.unicodeScalars)
            while root.count > 1, root.last == "/" { root.removeLast() }
            return text.contains("hpcserve_root=" + ShellQuote.quote(String(root)) + "\n")
                ? nil : "session root not in the script"
        default:
            break
        }
        switch attempt.expect {
        case .literal, .verbatim:
            // A stray word that is itself an option (--output=/tmp/x) is that option, not a value.
            if attempt.stray, ArgumentReader.isOptionLike(value) { return nil }
            return text.contains(value) || text.contains(ShellQuote.quote(value)) ? nil : "value not carried literally"
        case .integer:
            guard value.isASCIIDigits, let n = Int(value) else { return "accepted a value that is not a whole number" }
            return text.contains(String(n)) ? nil : "number not in the script"
        case .directive:
            let (head, body) = split(text)
            if let dashes = attempt.words.firstIndex(of: "--") {
                // The passthrough: each option as spelled, on an #SBATCH line of its own, its
                // value as given (a glued short option, -x!y, is spelled --exclude=!y).
                let words = Array(attempt.words[(dashes + 1)...])
                guard let lines = try? SbatchPassthrough.parse(words, app: Apps.named(attempt.words[1])) else {
                    return "refused when parsed again"
                }
                for line in lines {
                    guard head.contains("#SBATCH " + line + "\n") else { return "\(line) is not an #SBATCH line" }
                    if let v = line.splitOnce(at: "=").tail, !words.contains(where: { $0.endsWith(scalars: v) }) {
                        return "\(line): value not as given"
                    }
                }
            } else {
                let upper = value.uppercased()
                let spelled = attempt.target == "--time" && ["UNLIMITED", "INFINITE"].contains(upper) ? upper : value
                guard head.contains(spelled) else { return "value not in an #SBATCH or header line" }
            }
            return body == split(baseline).body ? nil : "the value changed the script below its #SBATCH lines"
        case .templateFile:
            var st = stat()
            let path = value.startsWith(scalars: "/") ? value : work + "/" + value
            return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
                ? nil : "accepted a template that is not a file"
        case .outputFile:
            let path = value.startsWith(scalars: "/") ? value : work + "/" + value
            return outputFile == path ? nil : "-o would write \(outputFile ?? "nothing"), not \(path)"
        }
    }

    /// An accepted script to check.
    struct Sample: Sendable {
        let text: String
        let run: Bool
        let snippet: Bool
        /// More shell metacharacters and quotes first: the most hostile are run.
        let hostility: Int
    }

    /// What an accepted value changed: nothing below the comment block (the target alone),
    /// or the changed lines with the value's quoted form as V.
    static func group(_ attempt: Attempt, text: String, baseline: String) -> (key: String, bodyChanged: Bool) {
        let body = split(text).body
        let baseBody = split(baseline).body
        guard body != baseBody else { return (attempt.base + " " + attempt.target + ": comment lines only", false) }
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        let baseLines = baseBody.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == baseLines.count else {
            return (attempt.base + " " + attempt.target + ": lines added", true)
        }
        let quoted = ShellQuote.quote(attempt.value)
        let changed = zip(lines, baseLines).filter { $0 != $1 }.map { $0.0.replacingOccurrences(of: quoted, with: "V") }
        return (attempt.base + " " + attempt.target + ": " + changed.joined(separator: " | "), true)
    }

    static func hostility(_ value: String) -> Int {
        value.unicodeScalars.filter { ";|&$`'\"(){}<>\\!*?#~ \t".unicodeScalars.contains($0) }.count
    }

    @Test func everyOptionThePassthroughAndTheEnvironmentOverTheCorpus() throws {
        let box = try StubSandbox()
        defer { box.cleanup() }
        for name in ["jupyter", "rserver", "pvserver", "srun", "tensorboard", "webapp", "code-server"] {
            try writeExecutable(box.bin + "/" + name, "#!/bin/bash\nexit 0\n")
        }
        let work = box.dir.path + "/work"
        for dir in [work, box.dir.path + "/s", box.dir.path + "/e"] { #expect(mkdir(dir, 0o700) == 0) }
        let values = HostileCorpus.values(canary: box.canary)
        #expect(values.count >= 1000, "corpus of \(values.count)")
        let base = ["HOME": box.home, "XDG_CONFIG_HOME": "/nonexistent-config"]
        var baselines: [String: String] = [:]
        for words in Apps.all.map({ ["script"] + appWords($0.name) }) + [
            ["snippet", "license", "--gateway", "gw", "--server", "lic", "--port", "27000"],
            ["snippet", "reverse-tunnel", "--port", "8888"],
        ] {
            guard case .accepted(let text, _, _) = Self.outcome(words, environment: base, cwd: work) else {
                Issue.record("\(words)")
                return
            }
            baselines[words[1]] = text
        }
        let attempts = Self.attempts(values, box: box, base: base)

        let fixedBaselines = baselines
        let findings = Self.inParallel(attempts) {
            Self.evaluate($0, base: base, baselines: fixedBaselines, work: work)
        }
        var refused = 0
        var groups: [String: [Sample]] = [:]
        var changedBodies: [String] = []  // every script whose body a value changed: bash -n
        var passthrough: [String: [String]] = [:]  // app → accepted passthrough words, all run at once
        var modules: [String: [String]] = [:]  // app → accepted --module values, all run at once
        for finding in findings {
            finding.failures.forEach { Issue.record(Comment(rawValue: $0)) }
            if finding.refused { refused += 1 }
            if let (app, value) = finding.module { modules[app, default: []].append(value) }
            if let (app, words) = finding.passthrough { passthrough[app, default: []] += words }
            if let (key, bodyChanged, sample) = finding.group {
                if bodyChanged { changedBodies.append(sample.text) }
                groups[key, default: []].append(sample)
            }
        }
        #expect(refused > attempts.count / 2, "most hostile values are refused (\(refused) of \(attempts.count))")
        // All accepted module names and passthrough words of an app at once, in one script.
        for (app, names) in modules {
            guard
                case .accepted(let text, _, _) = Self.outcome(
                    ["script"] + appWords(app) + names.flatMap { ["--module", $0] }, environment: base, cwd: work)
            else {
                Issue.record("the accepted module names of \(app) together were refused")
                continue
            }
            for name in names { #expect(text.contains("module load \(name) ||"), "\(Validate.show(name))") }
            groups["\(app) every --module"] = [Sample(text: text, run: true, snippet: false, hostility: 0)]
        }
        for (app, words) in passthrough {
            guard
                case .accepted(let text, _, _) = Self.outcome(
                    ["script"] + appWords(app) + ["--"] + words, environment: base, cwd: work)
            else {
                Issue.record("the accepted passthrough words of \(app) together were refused")
                continue
            }
            groups["\(app) every passthrough word"] = [Sample(text: text, run: true, snippet: false, hostility: 0)]
        }
        try Self.checkAndRun(groups: groups, changedBodies: changedBodies, box: box)
        #expect(!FileManager.default.fileExists(atPath: box.canary), "a hostile value was executed")
    }

    /// What one attempt showed (found on any thread; issues are recorded afterwards).
    struct Finding: Sendable {
        var failures: [String] = []
        var refused = false
        var module: (String, String)?
        var passthrough: (String, [String])?
        var group: (String, Bool, Sample)?
    }

    static func evaluate(_ attempt: Attempt, base: [String: String], baselines: [String: String], work: String)
        -> Finding
    {
        var finding = Finding()
        let label = {
            "\(attempt.words.map(Validate.show).joined(separator: " ")) env "
                + "\(attempt.environment.filter { base[$0.key] != $0.value }.mapValues(Validate.show))"
        }
        switch outcome(attempt.words, environment: attempt.environment, cwd: work) {
        case .refused(let code, let stdout, let stderr):
            finding.refused = true
            // a stray -h asks for help
            if code == .success, attempt.stray, ["-h", "--help"].contains(attempt.value) { return finding }
            let oneLine =
                stderr.hasPrefix("hpcserve: error: ") && stderr.utf8.filter { $0 == 0x0a }.count == 1
                && stderr.hasSuffix("\n")
            if code != .usage || !stdout.isEmpty || !oneLine || stderr.utf8.count > 1000 || !printsTrue(stderr) {
                finding.failures.append(
                    "\(label()): exit \(code.rawValue), stdout \(stdout.utf8.count) bytes, stderr "
                        + "\(Validate.show(stderr))"
                )
            }
        case .accepted(let text, let outputFile, let stderr):
            if text.isEmpty || !printsTrue(stderr) {
                finding.failures.append("\(label()): no text, or stderr \(Validate.show(stderr))")
            }
            if attempt.stray, ["-h", "--help"].contains(attempt.value) { return finding }  // a snippet's help
            // `script APP --`: no passthrough at all
            if attempt.words.last == "--", attempt.value == "--" { return finding }
            let baseline = baselines[attempt.base]!
            if let why = carried(attempt, text: text, outputFile: outputFile, work: work, baseline: baseline) {
                finding.failures.append("\(label()): \(why)")
            }
            switch attempt.expect {
            case .verbatim, .templateFile: return finding
            default: break
            }
            if attempt.target == "--module" {
                finding.module = (attempt.base, attempt.value)
                return finding
            }
            if let dashes = attempt.words.firstIndex(of: "--") {
                finding.passthrough = (attempt.base, Array(attempt.words[(dashes + 1)...]))
            }
            let (key, bodyChanged) = group(attempt, text: text, baseline: baseline)
            finding.group = (
                key, bodyChanged,
                Sample(
                    text: text, run: attempt.run, snippet: attempt.words[0] == "snippet",
                    hostility: hostility(attempt.value))
            )
        }
        return finding
    }

    /// `transform` over `items` on a few threads (it is pure work), the results in order.
    static func inParallel<T: Sendable, R: Sendable>(_ items: [T], _ transform: @escaping @Sendable (T) -> R) -> [R] {
        let results = ParallelResults<R>()
        let lanes = 4
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            results.add(stride(from: lane, to: items.count, by: lanes).map { ($0, transform(items[$0])) })
        }
        return results.inOrder
    }

    /// How many of a group's scripts run, the most hostile first: of a group whose values
    /// changed only comment lines, one (all such values of the passthrough also run together).
    static let runsPerGroup = 10

    /// bash -n on every changed script and one of each group, shellcheck on the most hostile
    /// script of each option whose values changed a script's body, then the chosen ones under
    /// stubs, a few at a time in parallel.
    static func checkAndRun(groups: [String: [Sample]], changedBodies: [String], box: StubSandbox) throws {
        let dir = box.dir.path + "/scripts"
        #expect(mkdir(dir, 0o700) == 0)
        var count = 0
        func write(_ text: String, snippet: Bool) throws -> String {
            count += 1
            let file = dir + "/\(count).sh"
            try (snippet ? "#!/bin/bash\nset -euo pipefail\n" + text : text).write(
                toFile: file, atomically: false, encoding: .utf8)
            return file
        }
        var syntax: [String] = []
        var lint: [String: (hostility: Int, file: String)] = [:]  // the most hostile of each option's changed scripts
        var runs: [String] = []
        for text in Set(changedBodies) { syntax.append(try write(text, snippet: false)) }
        for key in groups.keys.sorted() {
            let samples = groups[key]!.enumerated()
                .sorted { ($0.element.hostility, -$0.offset) > ($1.element.hostility, -$1.offset) }.map(\.element)
            let first = try write(samples[0].text, snippet: samples[0].snippet)
            syntax.append(first)
            let headOnly = key.hasSuffix(": comment lines only")
            let option = String(key.prefix { $0 != ":" })
            if !headOnly, samples[0].hostility >= lint[option]?.hostility ?? -1 {
                lint[option] = (samples[0].hostility, first)
            }
            for sample in samples.filter(\.run).prefix(headOnly ? 1 : Self.runsPerGroup) {
                runs.append(try write(sample.text, snippet: sample.snippet))
            }
        }
        let list = { (files: [String], name: String) throws -> String in
            let path = dir + "/" + name
            try files.joined(separator: "\n").write(toFile: path, atomically: false, encoding: .utf8)
            return path
        }
        let syntaxCheck =
            "xargs -d '\\n' -n 100 -P 2 bash -c 'for f; do bash -n \"$f\" 2>&1 || echo \"bash -n failed: "
            + "$f\"; done' _ <\"$1\""
        let bashN = try runProgram(["bash", "-c", syntaxCheck, "_", try list(syntax, "syntax")])
        #expect(!bashN.output.contains("failed"), "\(bashN.output.prefix(2000))")
        if which("shellcheck") != nil {
            let check = try runProgram([
                "bash", "-c", "xargs -d '\\n' -n 4 -P 2 shellcheck -s bash -S warning <\"$1\"", "_",
                try list(lint.values.map(\.file).sorted(), "lint"),
            ])
            #expect(check.status == 0, "shellcheck: \(check.output.prefix(3000))")
        } else {
            Issue.record("shellcheck is not installed (apt-get install shellcheck)")
        }
        let driver =
            "xargs -d '\\n' -n 8 -P 3 bash -c 'for f; do timeout 30 bash \"$f\" </dev/null >/dev/null 2>&1; "
            + "done' _ <\"$1\"; echo ran"
        let run = try runProgram(
            ["bash", "-c", driver, "_", try list(runs, "runs")], environment: box.environment, cwd: box.dir.path)
        #expect(run.output.hasSuffix("ran\n"), "\(run.output.suffix(2000))")
    }

    /// The watcher's options that take a value, each met by the corpus below.
    static let watcherValueOptions: Set<String> = ["--login-host", "--laptop-port"]

    /// Every option of every command in the table meets the corpus somewhere: a script's or a
    /// snippet's in `attempts`, a submit command's job options as the same app's script's, the
    /// watcher's values in the test below, and every flag of every command (given a value) in
    /// `everyFlagOfEveryCommandRefusesAValue`. A new option or command lands in one of them.
    @Test func theCorpusReachesEveryOptionOfEveryCommand() throws {
        let box = try StubSandbox()
        defer { box.cleanup() }
        let values = (0..<Apps.all.count).map { "v\($0)" }
        let reached = Set(Self.attempts(values, box: box, base: [:]).map { "\($0.words[0]) \($0.base) \($0.target)" })
        for (path, command) in Commands.leaves {
            for option in command.options where option.valueName != nil {
                let covered: Bool
                switch path[0] {
                case "script", "snippet":
                    covered = reached.contains("\(path[0]) \(path[1]) \(option.key)")
                case "proxy", "ssh-config", "shell":
                    // The same job options (and checks) as the scripts'; ssh-config's own in ProxyCommandTests.
                    covered =
                        reached.contains("script jupyter \(option.key)")
                        || ProxyCommandTests.ownValueOptions.contains(option.key)
                case "config":
                    // config checks its values with the same code as a job's (ConfigKey.check runs the
                    // job option's apply): the script's coverage is its coverage; ConfigurationTests
                    // also gives it hostile values.
                    covered =
                        reached.contains("script jupyter \(option.key)")
                        || Self.watcherValueOptions.contains(option.key)
                default:
                    let asScript =
                        Apps.named(path[0]).map { reached.contains("script \($0.name) \(option.key)") }
                        ?? false
                    covered = asScript || Self.watcherValueOptions.contains(option.key)
                }
                #expect(covered, "\(path.joined(separator: " ")) \(option.key) is met by no hostile value")
            }
        }
    }

    /// A flag of any command given a value (`--json=VALUE`) is a one-line usage error, whatever the value.
    @Test func everyFlagOfEveryCommandRefusesAValue() async throws {
        let corpus = HostileCorpus.values(canary: "/nonexistent/CANARY")
        let values = corpus.enumerated().filter { $0.offset % 25 == 0 }.map(\.element)
        for (path, command) in Commands.leaves {
            for flag in command.options where flag.valueName == nil {
                for name in flag.names where name.hasPrefix("--") {
                    for value in values {
                        let words = path + [name + "=" + value]
                        let result = await runCLI(words, home: "/nonexistent-home")
                        #expect(result.code == .usage, "\(words.map(Validate.show)): \(result.stderr)")
                        #expect(
                            result.stdout.isEmpty && result.stderr.filter { $0 == "\n" }.count == 1,
                            "\(words.map(Validate.show))")
                        #expect(Self.printsTrue(result.stderr), "\(Validate.show(result.stderr))")
                    }
                }
            }
        }
    }

    /// What hpcserve reads for the watcher, and the watcher's own options.
    @Test func theWatchersVariablesAndOptionsOverTheCorpus() throws {
        for value in HostileCorpus.values(canary: "/nonexistent/CANARY") where !value.contains(scalar: "\u{0}") {
            for (env, words) in [
                (["USER": value], ["--login-host", "h"]), (["USER": "alice", "HPCSERVE_LOGIN_HOST": value], []),
                (["USER": "alice"], ["--login-host", value]),
                (["USER": "alice"], ["--login-host", "h", "--laptop-port", value]),
            ] {
                let context = Context(environment: env, output: CapturedOutput(), workingDirectory: "/tmp")
                let label = "\(env.mapValues(Validate.show)) \(words.map(Validate.show))"
                do {
                    let parsed = try ArgumentReader.read(words, options: WatchCommand.watchOptions, command: "watch")
                    let options = try WatchCommand.watchSettings(parsed, context: context)
                    let carried =
                        env["USER"] == value
                        ? options.user == value
                        : env["HPCSERVE_LOGIN_HOST"] == value
                            ? options.loginHost == value
                            : words.count == 2 ? options.loginHost == value : options.laptopPort == Int(value)
                    #expect(carried, "\(label)")
                    // Plain names only: they end up in the laptop command a person pastes.
                    #expect(
                        ShellQuote.quote(options.user) == options.user
                            && ShellQuote.quote(options.loginHost) == options.loginHost, "\(label)")
                } catch let error as UsageError {
                    #expect(
                        !error.message.contains("\n") && Self.printsTrue(Validate.escapeNonPrinting(error.message)),
                        "\(label)")
                }
            }
        }
    }

    /// Top-level words and command names over the corpus, through the real dispatch.
    @Test func commandNamesOverTheCorpus() async throws {
        let commands = Set(
            ["script", "snippet", "watch", "list", "stop", "help", "version", "-h", "--help", "--version"]
                + Apps.all.map(\.name))
        // (A job id would reach squeue and scancel: digits are for the watcher's own tests.)
        for value in HostileCorpus.values(canary: "/nonexistent/CANARY")
        where !commands.contains(value) && !value.isASCIIDigits {
            for words in [
                [value], ["script", value], ["snippet", value], ["help", value], ["watch", value], ["stop", value],
            ] {
                let result = await runCLI(words, home: "/nonexistent-home")
                #expect(result.code == .usage, "\(words.map(Validate.show)): \(result.stderr)")
                #expect(
                    result.stdout.isEmpty && result.stderr.filter { $0 == "\n" }.count == 1,
                    "\(words.map(Validate.show))")
                #expect(Self.printsTrue(result.stderr), "\(Validate.show(result.stderr))")
            }
        }
    }

    /// Bytes that are not UTF-8, for every option, the passthrough and the variables.
    @Test func bytesThatAreNotUTF8AreRefusedEverywhere() async throws {
        let bytes = { (s: String) in Array(s.utf8) }
        for value in HostileCorpus.invalidUTF8 {
            for (command, options) in JoinedSeparatorTests.commands {
                var wordLists: [[[UInt8]]] = options.filter { $0.valueName != nil }.flatMap { spec in
                    spec.names.flatMap { [[bytes($0), value], [bytes($0 + "=") + value]] }
                }
                if command[0] == "script" {
                    wordLists += [[bytes("--"), bytes("--comment=") + value], [bytes("--"), value]]
                }
                for words in wordLists {
                    let out = CapturedOutput()
                    let context = Context(
                        environment: ["HOME": "/nonexistent-home"], output: out, workingDirectory: "/tmp")
                    let code = await HPCServe.run(rawArguments: command.map(bytes) + words, context: context)
                    #expect(
                        code == .usage && out.standardOutput.isEmpty,
                        "\(command) \(words.map { Validate.show(bytes: $0) })")
                    #expect(out.standardError.contains("is not valid UTF-8") && Self.printsTrue(out.standardError))
                }
            }
            for name in ["HOME", "HPCSERVE_DIR", "XDG_CONFIG_HOME"] {
                let out = CapturedOutput()
                var env = ["HOME": "/nonexistent-home"]
                env[name] = nil
                let context = Context(
                    environment: env, undecodableEnvironment: [name: value], output: out, workingDirectory: "/tmp")
                let code = await HPCServe.run(["script", "jupyter"], context: context)
                #expect(code == .usage && out.standardOutput.isEmpty, "\(name) \(Validate.show(bytes: value))")
                #expect(
                    out.standardError.contains("environment variable \(name) is not valid UTF-8"),
                    "\(out.standardError)")
            }
        }
    }
}

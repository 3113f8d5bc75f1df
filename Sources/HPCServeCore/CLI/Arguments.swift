/// What a shell can offer for an option's value or a command's argument.
public enum ValueCompletion: Sendable, Equatable {
    /// Nothing to offer (a number, a name, free text).
    case none
    /// One of these words.
    case words([String])
    /// A file name.
    case files
    /// A Slurm partition (`sinfo -h -o %R`).
    case partitions
    /// One of your jobs (`squeue --me -h -o %i`).
    case jobs
    /// A command name (`hpcserve help COMMAND`).
    case commands
}

/// One option a command accepts: its spellings, help, shell completion, and, for a job
/// option, how its value is checked and put into the `JobSpec`.
public struct OptionSpec: Sendable {
    /// An app option's template variable and the value it has when the option is not given.
    public struct TemplateVariable: Sendable, Equatable {
        public let name: String
        public let defaultValue: String
    }

    /// Spellings, the long one first: `["--time", "-t"]`.
    public let names: [String]
    /// The value's name in help (`TIME`), or `nil` for a flag.
    public let valueName: String?
    public let repeatable: Bool
    public let help: String
    public let completion: ValueCompletion
    /// Checks one value and puts it into the job; called once per occurrence (a flag gets "").
    /// `nil` for an option its command reads itself (`--output`, the watch settings, snippets).
    public let apply: (@Sendable (inout JobSpec, String) throws -> Void)?
    /// For an app's own option: the template variable it sets (see `app(_:value:…)`).
    public let templateVariable: TemplateVariable?

    public init(
        _ names: [String], value: String? = nil, repeatable: Bool = false, help: String,
        completion: ValueCompletion = .none, templateVariable: TemplateVariable? = nil,
        apply: (@Sendable (inout JobSpec, String) throws -> Void)? = nil
    ) {
        self.names = names
        self.valueName = value
        self.repeatable = repeatable
        self.help = help
        self.completion = completion
        self.templateVariable = templateVariable
        self.apply = apply
    }

    public var key: String { names[0] }

    /// An app's own flag (Jupyter's `--classic`): its template variable is "1" when given, else "0".
    public static func appFlag(_ names: [String], help: String, variable: String) -> OptionSpec {
        let template = TemplateVariable(name: variable, defaultValue: "0")
        return OptionSpec(names, help: help, templateVariable: template) { spec, _ in spec.appValues[variable] = "1" }
    }

    /// An app's own option with a value (ParaView's `--ranks N`): `validate` checks it and
    /// returns what the template variable gets.
    public static func appValue(
        _ names: [String], value: String, help: String, variable: String,
        default defaultValue: String, completion: ValueCompletion = .none,
        validate: @escaping @Sendable (String) throws -> String
    ) -> OptionSpec {
        OptionSpec(
            names, value: value, help: help, completion: completion,
            templateVariable: TemplateVariable(name: variable, defaultValue: defaultValue)
        ) { spec, given in
            spec.appValues[variable] = try validate(given)
        }
    }

    /// `-h, --help`, which every command has.
    public static let help = OptionSpec(["--help", "-h"], help: "show this help")
}

/// What a command line holds once read against a command's options.
public struct ParsedArguments: Sendable, Equatable {
    /// Values by the option's long name; flags get "" per occurrence.
    public var values: [String: [String]] = [:]
    public var positionals: [String] = []
    /// The words after `--`, if it was given.
    public var passthrough: [String]?

    public func has(_ key: String) -> Bool { values[key] != nil }
    public func value(_ key: String) -> String? { values[key]?.last }
    public func all(_ key: String) -> [String] { values[key] ?? [] }
}

/// A small table-driven reader: `--opt value`, `--opt=value`, `-o value`, `-ovalue`,
/// flags, positionals and a `--` passthrough. Unknown options get a "did you mean".
///
/// Words are split on Unicode scalars, never on `Character`s: a mark after `=` or after the
/// letter of `-t` must not hide the separator (see `Scalars.swift`).
public enum ArgumentReader {
    public static func read(_ words: [String], options: [OptionSpec], command: String) throws -> ParsedArguments {
        var byName: [String: OptionSpec] = [:]
        for spec in options { for name in spec.names { byName[name] = spec } }
        var parsed = ParsedArguments()
        var i = 0
        while i < words.count {
            let word = words[i]
            i += 1
            if word == "--" {
                parsed.passthrough = Array(words[i...])
                break
            }
            guard isOptionLike(word) else {
                try Validate.basic(word, option: "argument")
                parsed.positionals.append(word)
                continue
            }
            var name = word
            var inlineValue: String?
            if word.startsWith(scalars: "--") {
                let (head, tail) = word.splitOnce(at: "=")
                if let tail {
                    name = head
                    inlineValue = tail
                }
            } else if word.scalarCount > 2, byName[word] == nil {
                // -t2:00:00 → -t with value 2:00:00 (only for options that take a value)
                let short = word.prefix(scalars: 2)
                if let spec = byName[short], spec.valueName != nil {
                    name = short
                    inlineValue = word.dropping(scalars: 2)
                }
            }
            guard let spec = byName[name] else {
                throw UsageError(unknownOption(name, options: options, command: command))
            }
            var value = ""
            if spec.valueName != nil {
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard i < words.count else {
                        throw UsageError(
                            "\(spec.key) needs a value (\(spec.valueName!)); see 'hpcserve \(command) --help'")
                    }
                    let next = words[i]
                    if isOptionLike(next), byName[next] != nil || next.startsWith(scalars: "--") {
                        throw UsageError(
                            "\(spec.key) needs a value (\(spec.valueName!)), but got the option \(Validate.show(next))")
                    }
                    value = next
                    i += 1
                }
            } else if inlineValue != nil {
                throw UsageError("\(spec.key) is a flag and takes no value")
            }
            if parsed.values[spec.key] != nil, !spec.repeatable {
                throw UsageError("\(spec.key) is given more than once; give it once")
            }
            parsed.values[spec.key, default: []].append(value)
        }
        return parsed
    }

    /// `-x…` or `--x…`: a dash and at least one more scalar.
    static func isOptionLike(_ word: String) -> Bool {
        word.startsWith(scalars: "-") && word.scalarCount > 1
    }

    static func unknownOption(_ name: String, options: [OptionSpec], command: String) -> String {
        let candidates = options.flatMap(\.names).filter { $0.hasPrefix("--") }
        if let near = Suggest.closest(to: name, in: candidates) {
            return "unknown option \(Validate.show(name)); did you mean \(near)?"
        }
        return "unknown option \(Validate.show(name)); see 'hpcserve \(command) --help'"
    }
}

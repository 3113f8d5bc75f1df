/// Options under one heading in help (`Job options (sbatch's own spellings):`).
public struct OptionGroup: Sendable {
    public let title: String
    public let options: [OptionSpec]

    public init(_ title: String, _ options: [OptionSpec]) {
        self.title = title
        self.options = options
    }
}

/// One command: what the dispatcher, the help pages, the shell completions and the tests all
/// read. A command either runs (`run`) or picks one of its `subcommands` by the next word.
public struct Command: Sendable {
    public typealias Run = @Sendable (ParsedArguments, Context) async throws -> ExitCode

    /// The word that selects it (`watch`, `jupyter`, `license`).
    public let name: String
    /// Other words for it (`--version`).
    public var aliases: [String] = []
    /// One line for the lists of commands, apps and snippets.
    public let summary: String
    /// The synopsis after "Usage: " (`hpcserve watch JOBID [OPTIONS]`).
    public let usage: String
    /// Paragraphs between the usage line and the options.
    public var about: [String] = []
    /// The options, by heading; every command has `--help` in one of them.
    public var optionGroups: [OptionGroup] = [OptionGroup("Options", [.help])]
    /// Paragraphs after the options.
    public var notes: [String] = []
    /// Command lines for the help page (a `#` comment may follow).
    public var examples: [String] = []
    /// What a shell offers for a word that is not an option.
    public var argument: ValueCompletion = .none
    /// Chosen by the next word (`script jupyter`, `snippet license`).
    public var subcommands: [Command] = []
    /// What a subcommand is called in messages and help ("app", "snippet").
    public var subcommandNoun = "command"
    public var run: Run?

    public init(_ name: String, summary: String, usage: String, about: [String] = [], run: Run? = nil) {
        self.name = name
        self.summary = summary
        self.usage = usage
        self.about = about
        self.run = run
    }

    public var options: [OptionSpec] { optionGroups.flatMap(\.options) }

    /// The subcommand `word` names, if any.
    public func subcommand(_ word: String) -> Command? {
        subcommands.first { $0.name == word || $0.aliases.contains(word) }
    }
}

/// The command table and the one dispatcher: `--help` anywhere, unknown words with a
/// "did you mean", and `help COMMAND…` are all handled here.
public enum Commands {
    /// The top-level commands: each app (submit and watch), then the rest in the order help lists them.
    public static let all: [Command] =
        Apps.all.map(WatchCommand.submitCommand) + [
            WatchCommand.command, SessionsCommand.listCommand, SessionsCommand.stopCommand, ScriptCommand.command,
            SnippetCommand.command, ProxyCommand.shellCommand, ProxyCommand.command, ProxyCommand.sshConfigCommand,
            ConfigCommand.command,
            DoctorCommand.command, CompletionsCommand.command, help, version,
        ]

    /// `hpcserve` itself, as a command whose subcommands are `all`.
    public static let root: Command = {
        var root = Command("hpcserve", summary: "", usage: "hpcserve COMMAND [OPTIONS]")
        root.subcommands = all
        return root
    }()

    /// Every command that runs, with the words that select it (`["snippet", "license"]`).
    public static var leaves: [(path: [String], command: Command)] { leaves(of: all) }

    /// The commands among `commands` and their subcommands that run, with the words that select them.
    static func leaves(of commands: [Command], under path: [String] = []) -> [(path: [String], command: Command)] {
        commands.flatMap { command in
            command.subcommands.isEmpty
                ? [(path + [command.name], command)] : leaves(of: command.subcommands, under: path + [command.name])
        }
    }

    static let help: Command = {
        var command = Command("help", summary: "help for a command", usage: "hpcserve help [COMMAND]") {
            parsed, context in
            let topic = parsed.positionals + (parsed.passthrough.map { ["--"] + $0 } ?? [])
            return try await Commands.help(topic: topic, context: context)
        }
        command.aliases = ["--help", "-h"]
        command.argument = .commands
        return command
    }()

    static let version: Command = {
        var command = Command("version", summary: "print the version", usage: "hpcserve --version") { _, context in
            context.output.stdout("hpcserve \(ScriptRenderer.version)\n")
            return .success
        }
        command.aliases = ["--version"]
        return command
    }()

    /// Runs the command `words` name.
    public static func dispatch(_ words: [String], context: Context) async throws -> ExitCode {
        guard !words.isEmpty else {
            context.output.stderr(Help.main)
            return .usage
        }
        guard let (command, _, parsed) = try resolve(root, path: [], words, context: context) else { return .success }
        guard let run = command.run else { return .software }  // a table without run: CommandTableTests catch it
        return try await run(parsed, context)
    }

    /// The command `words` select below `command` (reached by `path`), with its arguments read;
    /// nil when `--help` asked for a page, which is printed here.
    static func resolve(
        _ command: Command, path: [String], _ words: [String],
        context: Context
    ) throws -> (Command, [String], ParsedArguments)? {
        guard !command.subcommands.isEmpty else {
            let parsed = try ArgumentReader.read(words, options: command.options, command: path.joined(separator: " "))
            if parsed.has("--help") {
                context.output.stdout(Help.page(command, path: path))
                return nil
            }
            return (command, path, parsed)
        }
        if !path.isEmpty, words.first == "--help" || words.first == "-h" {
            context.output.stdout(Help.page(command, path: path))
            return nil
        }
        let next = try pick(words.first, in: command, path: path)
        return try resolve(next, path: path + [next.name], Array(words.dropFirst()), context: context)
    }

    /// The subcommand of `command` that `word` names; a usage error (with a "did you mean")
    /// when there is no word or it names none.
    static func pick(_ word: String?, in command: Command, path: [String]) throws -> Command {
        let noun = command.subcommandNoun
        let names = command.subcommands.map(\.name)
        guard let word else {
            throw UsageError(
                "which \(noun)? use '\(command.usage)', \(noun.uppercased()) one of: "
                    + names.joined(separator: ", "))
        }
        if let next = command.subcommand(word) { return next }
        if path.isEmpty {
            let hint =
                Suggest.closest(to: word, in: names).map { "; did you mean '\($0)'?" }
                ?? "; see 'hpcserve --help'"
            throw UsageError("unknown command \(Validate.show(word))\(hint)")
        }
        let hint = Suggest.closest(to: word, in: names).map { "did you mean '\($0)'? " } ?? ""
        throw UsageError(
            "unknown \(noun) \(Validate.show(word)); \(hint)choose one of: "
                + names.joined(separator: ", "))
    }

    /// `hpcserve help [COMMAND…]`: the page `COMMAND… --help` shows; asking about help itself
    /// (`help help`, `help --help`) gives the main page (asking again would never end).
    static func help(topic: [String], context: Context) async throws -> ExitCode {
        guard let first = topic.first, !help.aliases.contains(first), first != help.name else {
            context.output.stdout(Help.main)
            return .success
        }
        return try await dispatch(topic + ["--help"], context: context)
    }
}

import Foundation

/// `hpcserve script APP [options] [-- sbatch options]`: print or write an sbatch script.
public enum ScriptCommand {
    /// Options every app's job takes (also used by the submit-and-watch command).
    public static let jobOptions: [OptionSpec] = [
        OptionSpec(["--time", "-t"], value: "TIME", help: "time limit: M, M:S, H:M:S, D-H, D-H:M or D-H:M:S"),
        OptionSpec(["--partition", "-p"], value: "NAME", help: "partition (queue)"),
        OptionSpec(["--account", "-A"], value: "NAME", help: "account to charge"),
        OptionSpec(["--qos", "-q"], value: "NAME", help: "quality of service"),
        OptionSpec(["--cpus-per-task", "-c"], value: "N", help: "CPUs for the server"),
        OptionSpec(["--mem"], value: "SIZE", help: "memory per node, e.g. 16G"),
        OptionSpec(["--gpus", "-G"], value: "[TYPE:]N", help: "GPUs, e.g. 1 or a100:2"),
        OptionSpec(["--gres"], value: "LIST", help: "generic resources, e.g. gpu:a100:2"),
        OptionSpec(["--job-name", "-J"], value: "NAME", help: "job name (default hpcserve-APP)"),
        OptionSpec(["--constraint", "-C"], value: "FEATURES", help: "node features, e.g. skylake&ib"),
        OptionSpec(["--reservation"], value: "NAME", help: "reservation"),
        OptionSpec(["--shared"], help: "do not ask for the whole node (less safe; warns)"),
        OptionSpec(["--module"], value: "NAME", repeatable: true, help: "'module load NAME' before starting (repeatable)"),
        OptionSpec(["--setup"], value: "LINE", repeatable: true,
                   help: "your own shell line, placed verbatim (repeatable)"),
        OptionSpec(["--listen"], value: "socket|tcp", help: "where the server listens (default: the app's first)"),
        OptionSpec(["--reverse-tunnel"], help: "the job tunnels back to a socket on the login node"),
        OptionSpec(["--ready-timeout"], value: "SECONDS", help: "how long to wait for the server (default 300)"),
        OptionSpec(["--template"], value: "FILE", help: "use FILE as the app's template"),
    ]

    static let ownOptions: [OptionSpec] = [
        OptionSpec(["--output", "-o"], value: "FILE", help: "write the script to FILE instead of standard output"),
        OptionSpec(["--help", "-h"], help: "show this help"),
    ]

    /// What `script` will do: the text, and where to write it (nil: stdout).
    public struct Prepared: Sendable {
        public let text: String
        /// The absolute path `-o` names, checked: nothing there yet, or a regular file.
        public let outputFile: String?
        /// `-o` as given, for messages.
        public let outputValue: String?
        public let paths: SessionPaths
    }

    public static func run(_ words: [String], context: Context) throws -> ExitCode {
        guard let prepared = try prepare(words, context: context) else { return .success }
        // sbatch opens the job's output file before the script runs: the jobs directory
        // must exist, and be private, by then.
        for dir in try prepared.paths.ensurePrivate() { context.note("created private directory \(dir) (0700)") }
        if let path = prepared.outputFile {
            for note in try OutputFile.write(prepared.text, to: path, value: prepared.outputValue ?? path) {
                context.note(note)
            }
            context.note("wrote \(path); submit it with: sbatch \(ShellQuote.quote(path))")
        } else {
            context.output.stdout(prepared.text)
        }
        return .success
    }

    /// Reads the words and renders the script, writing nothing (`-o` is only checked)
    /// (nil when help was printed instead).
    public static func prepare(_ words: [String], context: Context) throws -> Prepared? {
        if words.isEmpty || words.first == "--help" || words.first == "-h" {
            if words.isEmpty { throw UsageError("which app? use 'hpcserve script APP', APP one of: \(Apps.all.map(\.name).joined(separator: ", "))") }
            context.output.stdout(Help.fit(Help.script))
            return nil
        }
        let appName = words[0]
        guard let app = Apps.named(appName) else {
            let names = Apps.all.map(\.name)
            let hint = Suggest.closest(to: appName, in: names).map { "did you mean '\($0)'? " } ?? ""
            throw UsageError("unknown app \(Validate.show(appName)); \(hint)choose one of: \(names.joined(separator: ", "))")
        }
        let options = jobOptions + app.options.map { OptionSpec($0.names, value: $0.valueName, help: $0.help) } + ownOptions
        let parsed = try ArgumentReader.read(Array(words.dropFirst()), options: options, command: "script \(app.name)")
        if parsed.has("--help") {
            context.output.stdout(Help.fit(Help.scriptApp(app)))
            return nil
        }
        if let extra = parsed.positionals.first {
            throw UsageError("unexpected argument \(Validate.show(extra)); put sbatch options after '--' (e.g. -- --mail-type=END)")
        }
        let (text, paths) = try render(app: app, parsed: parsed, context: context)
        let value = parsed.value("--output")
        let output = try value.map { context.absolute(try Validate.path($0, option: "--output")) }
        if let output, let value { _ = try OutputFile.check(output, value: value) }
        return Prepared(text: text, outputFile: output, outputValue: value, paths: paths)
    }

    /// The script for `app` from parsed flags, and the session paths it uses.
    public static func render(app: AppProfile, parsed: ParsedArguments, context: Context) throws -> (String, SessionPaths) {
        let paths = try SessionPaths.from(context)
        let spec = try makeSpec(app: app, parsed: parsed, paths: paths, context: context)
        let templateFile = try parsed.value("--template").map { context.absolute(try Validate.path($0, option: "--template")) }
        let templates = try TemplateSource.from(context, appTemplateFile: templateFile)
        return (try ScriptRenderer.render(spec, templates: templates), paths)
    }

    /// Builds and validates the job from parsed flags; shared with the submit command.
    public static func makeSpec(app: AppProfile, parsed: ParsedArguments, paths: SessionPaths, context: Context) throws -> JobSpec {
        var spec = JobSpec(app: app, sessionRoot: paths.root)
        if let v = parsed.value("--time") { spec.time = try Validate.time(v) }
        if let v = parsed.value("--partition") { spec.partition = try Validate.slurmName(v, option: "--partition", what: "partition name") }
        if let v = parsed.value("--account") { spec.account = try Validate.slurmName(v, option: "--account", what: "account name") }
        if let v = parsed.value("--qos") { spec.qos = try Validate.slurmName(v, option: "--qos", what: "QOS name") }
        if let v = parsed.value("--cpus-per-task") { spec.cpusPerTask = try Validate.integer(v, option: "--cpus-per-task", range: 1...100_000) }
        if let v = parsed.value("--mem") { spec.memory = try Validate.memory(v) }
        if let v = parsed.value("--gpus") { spec.gpus = try Validate.gpus(v) }
        if let v = parsed.value("--gres") { spec.gres = try Validate.gres(v) }
        if let v = parsed.value("--job-name") { spec.jobName = try Validate.jobName(v) }
        if let v = parsed.value("--constraint") { spec.constraint = try Validate.constraint(v) }
        if let v = parsed.value("--reservation") { spec.reservation = try Validate.slurmName(v, option: "--reservation", what: "reservation name") }
        spec.modules = try parsed.all("--module").map { try Validate.module($0) }
        spec.setupLines = try parsed.all("--setup").map { try Validate.setupLine($0) }
        if let v = parsed.value("--listen") {
            guard let mode = ListenMode(rawValue: v) else {
                throw UsageError("--listen value \(Validate.show(v)) is not one of: socket, tcp")
            }
            guard app.listenModes.contains(mode) else {
                throw UsageError("\(app.title) cannot listen on a \(mode == .socket ? "Unix socket" : "TCP port"); use --listen \(app.listenModes[0].rawValue)")
            }
            spec.listen = mode
        }
        spec.reverseTunnel = parsed.has("--reverse-tunnel")
        if let v = parsed.value("--ready-timeout") { spec.readyTimeout = try Validate.integer(v, option: "--ready-timeout", range: 5...86_400) }
        for option in app.options {
            guard let given = parsed.values[option.names[0]] else { continue }
            spec.appValues[option.variable] = option.valueName == nil ? "1" : try option.validate(given.last!)
        }
        if parsed.has("--shared") {
            spec.exclusive = false
            context.warn("--shared: other jobs may run on the same node, and their owners can reach 127.0.0.1 there; only the secret protects your server")
        }
        if let extra = parsed.passthrough { spec.extraSbatch = try SbatchPassthrough.parse(extra, app: app) }
        return spec
    }
}

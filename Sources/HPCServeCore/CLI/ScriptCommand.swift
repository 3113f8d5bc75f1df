import Foundation

/// `hpcserve script APP [options] [-- sbatch options]`: print or write an sbatch script.
public enum ScriptCommand {
    /// Options every app's job takes (also used by the submit-and-watch command), each with how
    /// its value is checked and put into the job.
    public static let jobOptions: [OptionSpec] = [
        OptionSpec(["--time", "-t"], value: "TIME", help: "time limit: M, M:S, H:M:S, D-H, D-H:M or D-H:M:S") {
            $0.time = try Validate.time($1)
        },
        OptionSpec(["--partition", "-p"], value: "NAME", help: "partition (queue)", completion: .partitions) {
            $0.partition = try Validate.slurmName($1, option: "--partition", what: "partition name")
        },
        OptionSpec(["--account", "-A"], value: "NAME", help: "account to charge") {
            $0.account = try Validate.slurmName($1, option: "--account", what: "account name")
        },
        OptionSpec(["--qos", "-q"], value: "NAME", help: "quality of service") {
            $0.qos = try Validate.slurmName($1, option: "--qos", what: "QOS name")
        },
        OptionSpec(["--cpus-per-task", "-c"], value: "N", help: "CPUs for the server") {
            $0.cpusPerTask = try Validate.integer($1, option: "--cpus-per-task", range: 1...100_000)
        },
        OptionSpec(["--mem"], value: "SIZE", help: "memory per node, e.g. 16G") { $0.memory = try Validate.memory($1) },
        OptionSpec(["--gpus", "-G"], value: "[TYPE:]N", help: "GPUs, e.g. 1 or a100:2") {
            $0.gpus = try Validate.gpus($1)
        },
        OptionSpec(["--gres"], value: "LIST", help: "generic resources, e.g. gpu:a100:2") {
            $0.gres = try Validate.gres($1)
        },
        OptionSpec(["--job-name", "-J"], value: "NAME", help: "job name (default hpcserve-APP)") {
            $0.jobName = try Validate.jobName($1)
        },
        OptionSpec(["--constraint", "-C"], value: "FEATURES", help: "node features, e.g. skylake&ib") {
            $0.constraint = try Validate.constraint($1)
        },
        OptionSpec(["--reservation"], value: "NAME", help: "reservation") {
            $0.reservation = try Validate.slurmName($1, option: "--reservation", what: "reservation name")
        },
        OptionSpec(["--shared"], help: "do not ask for the whole node (less safe; warns)") { spec, _ in
            spec.exclusive = false
        },
        OptionSpec(
            ["--module"], value: "NAME", repeatable: true,
            help: "'module load NAME' before starting (repeatable)"
        ) {
            $0.modules.append(try Validate.module($1))
        },
        OptionSpec(
            ["--setup"], value: "LINE", repeatable: true,
            help: "your own shell line, placed verbatim (repeatable)"
        ) {
            $0.setupLines.append(try Validate.setupLine($1))
        },
        OptionSpec(
            ["--listen"], value: "socket|tcp", help: "where the server listens (default: the app's first)",
            completion: .words(ListenMode.allCases.map(\.rawValue))
        ) {
            guard let mode = ListenMode(rawValue: $1) else {
                let modes = ListenMode.allCases.map(\.rawValue).joined(separator: ", ")
                throw UsageError("--listen value \(Validate.show($1)) is not one of: \(modes)")
            }
            $0.listen = mode
        },
        OptionSpec(["--reverse-tunnel"], help: "the job tunnels back to a socket on the login node") { spec, _ in
            spec.reverseTunnel = true
        },
        OptionSpec(["--ready-timeout"], value: "SECONDS", help: "how long to wait for the server (default 300)") {
            $0.readyTimeout = try Validate.integer($1, option: "--ready-timeout", range: 5...86_400)
        },
        // Read by `render`: it picks the template, and is no part of the job.
        OptionSpec(["--template"], value: "FILE", help: "use FILE as the app's template", completion: .files),
    ]

    static let ownOptions: [OptionSpec] = [
        OptionSpec(
            ["--output", "-o"], value: "FILE", help: "write the script to FILE instead of standard output",
            completion: .files),
        .help,
    ]

    /// The option groups of a job for `app`, as `script APP` and `APP` list them in help.
    static func jobOptionGroups(_ app: AppProfile) -> [OptionGroup] {
        [OptionGroup("Job options (sbatch's own spellings)", jobOptions)]
            + (app.options.isEmpty ? [] : [OptionGroup("\(app.title) options", app.options)])
    }

    /// What may follow `--`, for the help of `script APP` and `APP`.
    static func passthroughNote(_ app: AppProfile) -> String {
        let appOwned = app.ownedSbatchOptions.keys.sorted().map { ", --" + $0 }.joined()
        return """
            After '--': further sbatch options (e.g. -- --mail-type=END -w node07), checked and written as #SBATCH \
            lines. Those hpcserve writes itself are refused (--nodes, --output, --error, --signal, \
            --exclusive\(appOwned), and the job options above: use those), and --export may not set BASH_ENV, ENV \
            or LD_* variables. --setup lines are your own trusted code, placed into the script verbatim.
            """
    }

    /// `hpcserve script APP`.
    public static let command: Command = {
        let names = Apps.all.map(\.name).joined(separator: ", ")
        var command = Command(
            "script", summary: "print an sbatch script for APP",
            usage: "hpcserve script APP [OPTIONS] [-- SBATCH-OPTIONS]",
            about: [
                """
                Print an sbatch script that starts APP (\(names)) on a compute node, bound to 127.0.0.1 or a \
                private Unix \
                socket, with a per-job secret. Submit it yourself with sbatch; the script writes \
                ~/.hpcserve/jobs/JOBID/connection.json once the server answers.
                """
            ])
        command.subcommands = Apps.all.map(appCommand)
        command.subcommandNoun = "app"
        command.notes = ["Run 'hpcserve script APP --help' for the options of one app."]
        command.examples = [
            "hpcserve script jupyter --time 2:00:00 > jupyter.sh && sbatch jupyter.sh",
            "hpcserve script jupyter -t 8:00:00 --setup 'source ~/venvs/lab/bin/activate'",
            "hpcserve script rstudio -t 4:00:00 --module R/4.4 -- --mail-type=END",
        ]
        return command
    }()

    /// `hpcserve script APP` for one app.
    static func appCommand(_ app: AppProfile) -> Command {
        var command = Command(
            app.name, summary: app.summary,
            usage: "hpcserve script \(app.name) [OPTIONS] [-- SBATCH-OPTIONS]",
            about: [
                "Print an sbatch script that starts \(app.title) on a compute node. "
                    + app.notes.joined(separator: " ")
            ]
        ) { parsed, context in
            try run(app: app, parsed: parsed, context: context)
        }
        command.optionGroups = jobOptionGroups(app) + [OptionGroup("Output", ownOptions)]
        command.notes = [passthroughNote(app)]
        let words = app.name + app.exampleArguments
        command.examples = [
            "hpcserve script \(words) --time 2:00:00 > \(app.name).sh && sbatch \(app.name).sh",
            "hpcserve script \(words) -t 1-00:00:00 -p gpu -G 1 --module \(app.exampleModule)",
        ]
        return command
    }

    /// What `script` will do: the text, and where to write it (nil: stdout).
    public struct Prepared: Sendable {
        public let text: String
        /// The absolute path `-o` names, checked: nothing there yet, or a regular file.
        public let outputFile: String?
        /// `-o` as given, for messages.
        public let outputValue: String?
        public let paths: SessionPaths
    }

    static func run(app: AppProfile, parsed: ParsedArguments, context: Context) throws -> ExitCode {
        let prepared = try prepare(app: app, parsed: parsed, context: context)
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

    /// Reads `script APP …` words and renders the script, writing nothing (`-o` is only checked)
    /// (nil when help was printed instead).
    public static func prepare(_ words: [String], context: Context) throws -> Prepared? {
        guard let (_, path, parsed) = try Commands.resolve(command, path: ["script"], words, context: context) else {
            return nil
        }
        guard let app = Apps.named(path[1]) else { throw UsageError("unknown app \(Validate.show(path[1]))") }
        return try prepare(app: app, parsed: parsed, context: context)
    }

    static func prepare(app: AppProfile, parsed: ParsedArguments, context: Context) throws -> Prepared {
        try noStrayArguments(parsed)
        let parsed = try Configuration.load(context).applied(to: parsed, app: app)
        let (text, paths) = try render(app: app, parsed: parsed, context: context)
        let value = parsed.value("--output")
        let output = try value.map { context.absolute(try Validate.path($0, option: "--output")) }
        if let output, let value { _ = try OutputFile.check(output, value: value) }
        return Prepared(text: text, outputFile: output, outputValue: value, paths: paths)
    }

    /// Words that are no option belong after `--`.
    static func noStrayArguments(_ parsed: ParsedArguments) throws {
        if let extra = parsed.positionals.first {
            throw UsageError(
                "unexpected argument \(Validate.show(extra)); "
                    + "put sbatch options after '--' (e.g. -- --mail-type=END)")
        }
    }

    /// The script for `app` from parsed flags, and the session paths it uses (`paths`: another
    /// host's, when the laptop renders for the login node; default this user's here).
    public static func render(
        app: AppProfile, parsed: ParsedArguments, context: Context, paths: SessionPaths? = nil
    ) throws -> (String, SessionPaths) {
        let paths = try paths ?? SessionPaths.from(context)
        let spec = try makeSpec(app: app, parsed: parsed, paths: paths, context: context)
        let templateFile = try parsed.value("--template").map {
            context.absolute(try Validate.path($0, option: "--template"))
        }
        let templates = try TemplateSource.from(context, appTemplateFile: templateFile)
        return (try ScriptRenderer.render(spec, templates: templates), paths)
    }

    /// Builds and validates the job from parsed flags; shared with the submit command. Each job
    /// option puts its own value in; what depends on more than one value is checked after.
    public static func makeSpec(
        app: AppProfile, parsed: ParsedArguments, paths: SessionPaths,
        context: Context
    ) throws -> JobSpec {
        var spec = JobSpec(app: app, sessionRoot: paths.root)
        for option in jobOptions + app.options {
            guard let apply = option.apply else { continue }
            for value in parsed.all(option.key) { try apply(&spec, value) }
        }
        guard app.listenModes.contains(spec.listen) else {
            let kind = spec.listen == .socket ? "Unix socket" : "TCP port"
            throw UsageError("\(app.title) cannot listen on a \(kind); use --listen \(app.listenModes[0].rawValue)")
        }
        _ = try app.templateValues(spec)  // options that do not fit together: a usage error now
        if !spec.exclusive {
            context.warn(
                "--shared: other jobs may run on the same node, and their owners can reach 127.0.0.1 there; "
                    + "only the secret protects your server")
        }
        if let extra = parsed.passthrough { spec.extraSbatch = try SbatchPassthrough.parse(extra, app: app) }
        return spec
    }
}

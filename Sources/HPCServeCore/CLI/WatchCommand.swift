import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `hpcserve APP [options]` (submit, then watch) and `hpcserve watch JOBID`.
public enum WatchCommand {
    static let watchOptions: [OptionSpec] = [
        OptionSpec(["--detach"], help: "return once the forward works; the job and forward keep running"),
        OptionSpec(["--cancel-on-exit"], help: "cancel the job when hpcserve stops (for scripts)"),
        OptionSpec(["--json"], help: "print one JSON object instead of the laptop instructions"),
        OptionSpec(
            ["--login-host"], value: "HOST",
            help: "this login node's public name (default $HPCSERVE_LOGIN_HOST or hostname)"),
        OptionSpec(
            ["--laptop-port"], value: "N",
            help: "the port to use on the laptop (default: the app's, 8888 "
                + "for Jupyter; with --host the next free one when it is taken)"),
        OptionSpec(["--no-browser"], help: "with --host: do not open the URL in a browser"),
        .help,
    ]

    /// `hpcserve APP`: submit, then watch.
    static func submitCommand(_ app: AppProfile) -> Command {
        let usage = "hpcserve \(app.name) [OPTIONS] [-- SBATCH-OPTIONS]"
        var command = Command(
            app.name, summary: app.summary, usage: usage,
            about: [
                """
                Submit \(app.title) (the script 'hpcserve script \(app.name)' prints), wait for it gently (squeue \
                backs off while pending; readiness comes from the session directory), forward a Unix socket in your \
                private session directory on this login node to the server, check it answers, and print the laptop \
                command. Then stay, \
                showing the time left and keeping the forward alive, until Ctrl-C (which asks whether to cancel \
                the job) \
                or the job ends.
                """
            ]
        ) { parsed, context in
            try await submit(app: app, parsed: parsed, context: context)
        }
        command.optionGroups = ScriptCommand.jobOptionGroups(app) + [OptionGroup("Watch options", watchOptions)]
        command.notes = [ScriptCommand.passthroughNote(app)]
        command.examples = [
            "hpcserve \(app.name)\(app.exampleArguments) --time 2:00:00",
            "hpcserve \(app.name)\(app.exampleArguments) -t 8:00:00 -p gpu -G 1 --module \(app.exampleModule) --detach",
            "hpcserve \(app.name)\(app.exampleArguments) -t 30 --json --cancel-on-exit",
        ]
        return command
    }

    /// `hpcserve watch JOBID`.
    static let command: Command = {
        var command = Command(
            "watch", summary: "the same for a job submitted by hand",
            usage: "hpcserve watch JOBID [OPTIONS]",
            about: [
                """
                Attach to a job submitted from a generated script (or reattach after Ctrl-C or --detach): wait for it, \
                forward, check, and print the laptop command, as 'hpcserve APP' does.
                """
            ]
        ) { parsed, context in
            try await watch(parsed, context: context)
        }
        command.optionGroups = [OptionGroup("Options", watchOptions)]
        command.argument = .jobs
        command.examples = [
            "sbatch jupyter.sh          # Submitted batch job 4242",
            "hpcserve watch 4242",
            "hpcserve watch 4242 --json --detach",
        ]
        return command
    }()

    /// `hpcserve APP …`: render, create the session, submit with sbatch, watch.
    static func submit(app: AppProfile, parsed: ParsedArguments, context: Context) async throws -> ExitCode {
        if let host = context.remoteHost {
            return try await Laptop.submit(app: app, parsed: parsed, host: host, context: context)
        }
        try ScriptCommand.noStrayArguments(parsed)
        let configuration = try Configuration.load(context)
        let parsed = configuration.applied(to: parsed, app: app)
        var watch = try watchSettings(parsed, context: context, configuration: configuration)
        watch.submitted = true
        let (text, paths) = try ScriptCommand.render(app: app, parsed: parsed, context: context)
        try paths.ensurePrivate()
        let job = try await Slurm(runner: context.runner).submit(script: text)
        context.note("submitted job \(job) (\(app.title)); log: \(paths.log(jobID: job))")
        return try await Watcher(job: job, paths: paths, options: watch, context: context).run()
    }

    /// `hpcserve watch JOBID`.
    static func watch(_ parsed: ParsedArguments, context: Context) async throws -> ExitCode {
        if let host = context.remoteHost { return try await Laptop.watch(parsed, host: host, context: context) }
        guard parsed.positionals.count == 1 else {
            throw UsageError("give one job id: hpcserve watch JOBID")
        }
        let job = try Slurm.jobID(parsed.positionals[0])
        let paths = try SessionPaths.from(context)
        try paths.ensurePrivate()
        // The [APP] section of the app the session was started with, when it says.
        let app = (try? String(contentsOfFile: paths.directory(jobID: job) + "/app", encoding: .utf8))
            .flatMap { Apps.named($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let configuration = try Configuration.load(context)
        let parsed = configuration.applied(to: parsed, app: app)
        let options = try watchSettings(parsed, context: context, configuration: configuration)
        return try await Watcher(job: job, paths: paths, options: options, context: context).run()
    }

    /// `configuration`: the files already read by the caller (nil: read them here).
    static func watchSettings(
        _ parsed: ParsedArguments, context: Context, configuration: Configuration? = nil
    ) throws -> WatchOptions {
        // Both end up in the laptop command a person pastes: plain names only.
        let host = try loginHost(parsed, context: context)
        let user =
            try context.variable("USER").map {
                try Validate.charset($0, option: "environment variable USER", allowed: "_.-@", what: "user name")
            } ?? currentUser()
        var options = WatchOptions(loginHost: host, user: user)
        try readFlags(parsed, into: &options)
        try readNodeSSH(parsed, context: context, configuration: configuration, into: &options)
        return options
    }

    /// This login node as the laptop reaches it: --login-host, $HPCSERVE_LOGIN_HOST or the host
    /// name, a plain name (it goes into a command a person pastes, and into ssh's config).
    static func loginHost(_ parsed: ParsedArguments, context: Context) throws -> String {
        if let v = parsed.value("--login-host") { return try Validate.host(v, option: "--login-host") }
        if let v = try context.variable("HPCSERVE_LOGIN_HOST") {
            return try Validate.host(v, option: "environment variable HPCSERVE_LOGIN_HOST")
        }
        return try Validate.host(ProcessInfo.processInfo.hostName, option: "this host's name (give --login-host)")
    }

    /// node_ssh (the configuration files, then HPCSERVE_NODE_SSH, checked there: yes, no or auto)
    /// and HPCSERVE_SSHD: how both watchers reach the node.
    static func readNodeSSH(
        _ parsed: ParsedArguments, context: Context, configuration: Configuration?, into options: inout WatchOptions
    ) throws {
        let nodeSSH = try (configuration ?? Configuration.load(context)).effective(app: nil, commandLine: parsed)
            .first { $0.0.name == "node_ssh" }?.1.last?.value
        options.nodeSSH = nodeSSH.flatMap(NodeSSH.init(rawValue:)) ?? .auto
        options.sshd = try JobSSH.sshd(context)
    }

    /// The watch flags both the login node's and the laptop's watcher read.
    static func readFlags(_ parsed: ParsedArguments, into options: inout WatchOptions) throws {
        options.detach = parsed.has("--detach")
        options.cancelOnExit = parsed.has("--cancel-on-exit")
        options.json = parsed.has("--json")
        options.laptopPort = try parsed.value("--laptop-port").map { try Validate.port($0, option: "--laptop-port") }
        if options.detach, options.cancelOnExit {
            throw UsageError("--detach and --cancel-on-exit exclude each other; give one")
        }
    }

    static func currentUser() -> String {
        guard let pw = getpwuid(getuid()), let name = pw.pointee.pw_name else { return "me" }
        return String(cString: name)
    }
}

/// `hpcserve list` and `hpcserve stop JOBID`.
public enum SessionsCommand {
    static let listOptions = [
        OptionSpec(["--all"], help: "every session, not only running ones and the last 5 ended"),
        OptionSpec(["--json"], help: "one JSON array"), .help,
    ]

    static let listCommand: Command = {
        var command = Command(
            "list", summary: "your sessions: state, node, time left, URL",
            usage: "hpcserve list [--all] [--json]",
            about: [
                """
                Your sessions (~/.hpcserve/jobs): job id, app, state, node, time left and URL; running ones and \
                the last 5 \
                that ended (--all: every one). Forwards of jobs that have ended are closed.
                """
            ]
        ) { parsed, context in
            try await list(parsed, context: context)
        }
        command.optionGroups = [OptionGroup("Options", listOptions)]
        command.examples = ["hpcserve list", "hpcserve list --json"]
        return command
    }()

    static let stopCommand: Command = {
        let about = "Cancel the job, close its forward, and remove its sockets and secrets (the log stays)."
        var command = Command(
            "stop", summary: "cancel, close the forward, remove secrets",
            usage: "hpcserve stop JOBID", about: [about]
        ) { parsed, context in
            try await stop(parsed, context: context)
        }
        command.argument = .jobs
        command.examples = ["hpcserve stop 4242"]
        return command
    }()

    /// The job ids with a session directory, newest first.
    static func sessions(_ paths: SessionPaths) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: paths.jobs)) ?? []
        return names.filter(\.isASCIIDigits).sorted { Int($0) ?? 0 > Int($1) ?? 0 }
    }

    static func list(_ parsed: ParsedArguments, context: Context) async throws -> ExitCode {
        if let host = context.remoteHost { return try await Laptop.list(parsed, host: host, context: context) }
        let paths = try SessionPaths.from(context)
        let jobs = sessions(paths)
        let statuses = try await Slurm(runner: context.runner).query(jobs: jobs)
        var rows: [[String]] = []
        var objects: [SessionRow] = []
        var endedShown = 0
        for job in jobs {
            let dir = paths.directory(jobID: job)
            let info = ConnectionInfo.read(dir + "/connection.json")
            let status = statuses[job]
            let state = status?.state ?? "ENDED"
            // A forward whose job is over only relays to nothing: close it.
            if status.map({ !$0.isActive }) ?? true {
                await Tunnel(runner: context.runner, directory: dir, node: info?.node ?? "localhost", target: "")
                    .close()
            }
            if status?.isActive != true {
                endedShown += 1
                if endedShown > 5, !parsed.has("--all") { continue }
            }
            let savedApp = (try? String(contentsOfFile: dir + "/app", encoding: .utf8))?.trimmingCharacters(
                in: .whitespacesAndNewlines)
            let app = info?.app ?? savedApp ?? "-"
            let port = Apps.named(app)?.laptopPort ?? 8888
            let url = info.flatMap { i in Apps.named(i.app).map { $0.client(i, port).url } } ?? "-"
            let node = status?.firstNode.isEmpty == false ? status!.firstNode : (info?.node ?? "-")
            let left = status?.isActive == true ? (status?.timeLeft ?? "-") : "-"
            rows.append([job, app, state, node, left, url])
            objects.append(
                SessionRow(jobID: Int(job) ?? 0, app: app, state: state, node: node, timeLeft: left, url: url))
        }
        if parsed.has("--json") {
            context.output.stdout(JSONOutput.line(objects))
        } else if rows.isEmpty {
            context.note("no sessions in \(paths.jobs)")
        } else {
            printTable(rows, context: context)
        }
        return .success
    }

    /// The sessions table of `list` (also the laptop's): aligned columns, the URL last and unpadded.
    static func printTable(_ rows: [[String]], context: Context) {
        let table = [["JOBID", "APP", "STATE", "NODE", "LEFT", "URL"]] + rows
        let widths = (0..<6).map { c in table.map { $0[c].count }.max() ?? 0 }
        for row in table {
            context.output.stdout(
                row.enumerated().map {
                    $0.offset == 5
                        ? $0.element : $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0)
                }.joined(separator: "  ") + "\n")
        }
    }

    static func stop(_ parsed: ParsedArguments, context: Context) async throws -> ExitCode {
        if let host = context.remoteHost { return try await Laptop.stop(parsed, host: host, context: context) }
        guard parsed.positionals.count == 1 else { throw UsageError("give one job id: hpcserve stop JOBID") }
        let job = try Slurm.jobID(parsed.positionals[0])
        let paths = try SessionPaths.from(context)
        let slurm = Slurm(runner: context.runner)
        var done: [String] = []
        var notCancelled: String?
        switch try await slurm.query(job) {
        case .found(let status) where !status.isActive:
            done.append("it had already ended (\(status.state))")
        case .gone:
            done.append("Slurm no longer knows it (it ended)")
        case .found, .unreachable, .failed:
            // Running, or squeue could not tell: scancel decides (a missing scancel throws, exit 69).
            do {
                try await slurm.cancel(job)
                done.append("cancelled")
            } catch let error as SlurmError {
                notCancelled = error.description
            }
        }
        let dir = paths.directory(jobID: job)
        let info = ConnectionInfo.read(dir + "/connection.json")
        if await Tunnel(runner: context.runner, directory: dir, node: info?.node ?? "localhost", target: "").close() {
            done.append("forward closed")
        }
        // The forward's sockets went with close(); the secrets are plain files of ours.
        var removed: [String] = []
        for name in ["connection.json"] + Apps.all.flatMap(\.secretFiles) + JobSSH.keyFiles {
            var st = stat()
            if lstat(dir + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == getuid(),
                unlink(dir + "/" + name) == 0
            {
                removed.append(name)
            }
        }
        if !removed.isEmpty { done.append("removed " + removed.joined(separator: ", ")) }
        if let notCancelled {
            throw StopError.notCancelled(job: job, detail: notCancelled, done: done)
        }
        context.note("stopped job \(job): \(done.joined(separator: "; ")); log kept: \(paths.log(jobID: job))")
        return .success
    }
}

/// `hpcserve stop` could not do the one thing that matters most.
public enum StopError: UserFacingError, Equatable {
    case notCancelled(job: String, detail: String, done: [String])

    public var description: String {
        switch self {
        case .notCancelled(let job, let detail, let done):
            let rest = done.isEmpty ? "" : " (did: \(done.joined(separator: "; ")))"
            return "job \(job) was not cancelled: \(detail)\(rest); try 'scancel \(job)' once Slurm answers"
        }
    }
    public var exitCode: ExitCode { .failure }
}

import Foundation

/// `hpcserve --host LOGIN COMMAND …`: the commands that act on a cluster, run from the laptop.
public enum Laptop {
    /// Takes a leading `--host LOGIN` (or `--host=LOGIN`) off the words; `HPCSERVE_HOST` when none.
    static func takeHost(_ words: [String], context: Context) throws -> (host: String?, rest: [String]) {
        var rest = words
        var host: String?
        while let first = rest.first, first == "--host" || first.startsWith(scalars: "--host=") {
            if first == "--host" {
                guard rest.count >= 2 else {
                    throw UsageError("--host needs a value: hpcserve --host LOGIN COMMAND (an ssh host or alias)")
                }
                host = rest[1]
                rest.removeFirst(2)
            } else {
                host = String(first.unicodeScalars.dropFirst(7))
                rest.removeFirst()
            }
        }
        if let host { return (try LoginConnection.checkedHost(host, option: "--host"), rest) }
        if let env = try context.variable("HPCSERVE_HOST") {
            return (try LoginConnection.checkedHost(env, option: "environment variable HPCSERVE_HOST"), rest)
        }
        return (nil, rest)
    }

    /// `configuration`: the laptop's files already read by the caller (nil: read them here).
    static func watchOptions(_ parsed: ParsedArguments, context: Context, configuration: Configuration? = nil) throws
        -> (WatchOptions, Bool)
    {
        var options = WatchOptions(loginHost: context.remoteHost ?? "", user: "")
        try WatchCommand.readFlags(parsed, into: &options)
        // Where the laptop makes the login side itself: may it ssh to the node (as on the login node)?
        try WatchCommand.readNodeSSH(parsed, context: context, configuration: configuration, into: &options)
        let browser = !parsed.has("--no-browser") && !options.json && context.isTerminal
        return (options, browser)
    }

    /// `hpcserve --host LOGIN APP …`: render here, submit there through the master, watch.
    static func submit(app: AppProfile, parsed: ParsedArguments, host: String, context: Context) async throws
        -> ExitCode
    {
        try ScriptCommand.noStrayArguments(parsed)
        // The laptop's own configuration files (and HPCSERVE_* variables) apply to what it renders.
        let configuration = try Configuration.load(context)
        let parsed = configuration.applied(to: parsed, app: app)
        var (options, browser) = try watchOptions(parsed, context: context, configuration: configuration)
        options.submitted = true
        if parsed.value("--login-host") != nil {
            throw UsageError("--login-host is for the login node; with --host the laptop makes the forward itself")
        }
        let login = try await LoginSide.open(host: host, context: context)
        // Rendered by this hpcserve, for the session directories there.
        let (text, _) = try ScriptCommand.render(app: app, parsed: parsed, context: context, paths: login.paths)
        try await login.ensurePrivate()
        let job = try await login.slurm.submit(script: text)
        context.note("submitted job \(job) (\(app.title)) on \(host); log there: \(login.paths.log(jobID: job))")
        return try await LaptopWatcher(job: job, login: login, options: options, openBrowser: browser, context: context)
            .run()
    }

    /// `hpcserve --host LOGIN watch JOBID`: reattach from any laptop.
    static func watch(_ parsed: ParsedArguments, host: String, context: Context) async throws -> ExitCode {
        guard parsed.positionals.count == 1 else { throw UsageError("give one job id: hpcserve watch JOBID") }
        let job = try Slurm.jobID(parsed.positionals[0])
        let (options, browser) = try watchOptions(parsed, context: context)
        let login = try await LoginSide.open(host: host, context: context)
        return try await LaptopWatcher(job: job, login: login, options: options, openBrowser: browser, context: context)
            .run()
    }

    /// `hpcserve --host LOGIN stop JOBID`: cancels the job and closes the laptop end, the login
    /// side and their sockets.
    static func stop(_ parsed: ParsedArguments, host: String, context: Context) async throws -> ExitCode {
        guard parsed.positionals.count == 1 else { throw UsageError("give one job id: hpcserve stop JOBID") }
        let job = try Slurm.jobID(parsed.positionals[0])
        let login = try await LoginSide.open(host: host, context: context)
        var done: [String] = []
        var failure: (any Error)?
        if let delegate = login.delegate {
            let r = try await login.remote.run(Invocation([delegate, "stop", job], environment: ["NO_COLOR": "1"]))
            let said = r.stderr.split(separator: "\n").last.map(String.init) ?? ""
            if r.status == 0 {
                // "hpcserve: stopped job 42: cancelled; forward closed; log kept: …"
                let what = said.components(separatedBy: "stopped job \(job): ").last ?? said
                done.append(what + " (on \(host))")
            } else {
                failure = RemoteError(line: said, job: job, host: host)
            }
        } else {
            switch try await login.slurm.query(job) {
            case .found(let s) where !s.isActive: done.append("it had already ended (\(s.state))")
            case .gone: done.append("Slurm no longer knows it (it ended)")
            default:
                do {
                    try await login.slurm.cancel(job)
                    done.append("cancelled")
                } catch let error as SlurmError {
                    failure = StopError.notCancelled(job: job, detail: error.description, done: done)
                }
            }
            done += await login.closeLoginSide(job: job).map { $0 + " on \(host)" }
        }
        if let record = LaptopRecord.read(login.connection, job: job), record.port > 0 {
            await login.connection.cancel(port: record.port, to: record.loginSocket)
            done.append("laptop port \(record.port) closed")
        }
        LaptopRecord.remove(login.connection, job: job)
        if LaptopRecord.jobs(login.connection).isEmpty { await login.connection.exit() }
        if let failure { throw failure }
        context.note("stopped job \(job): \(done.joined(separator: "; "))")
        return .success
    }

    /// `hpcserve --host LOGIN list`: the login node's list (its hpcserve, or squeue and the
    /// session directories read through the master), with the laptop's ports.
    static func list(_ parsed: ParsedArguments, host: String, context: Context) async throws -> ExitCode {
        let login = try await LoginSide.open(host: host, context: context)
        await closeEnded(login)
        if let delegate = login.delegate {
            var argv = [delegate, "list"]
            if parsed.has("--all") { argv.append("--all") }
            if parsed.has("--json") { argv.append("--json") }
            let r = try await login.remote.run(Invocation(argv, environment: ["NO_COLOR": "1"]))
            context.output.stdout(r.stdout)
            if !r.stderr.isEmpty { context.output.stderr(r.stderr) }
            await login.release()
            return r.status == 0 ? .success : .failure
        }
        let script = """
            cd "$1" 2>/dev/null || exit 0
            for d in [0-9]*; do [ -d "$d" ] && printf '%s %s\\n' "$d" "$(cat "$d/app" 2>/dev/null)"; done
            """
        let r = try await login.remote.run(Invocation(["sh", "-c", script, "sh", login.paths.jobs]))
        var rows: [[String]] = []
        for line in r.stdout.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            if let first = words.first, first.isASCIIDigits { rows.append(words) }
        }
        rows.sort { (Int($0[0]) ?? 0) > (Int($1[0]) ?? 0) }
        let statuses = try await login.slurm.query(jobs: rows.map { $0[0] })
        var table: [[String]] = []
        var objects: [SessionRow] = []
        for row in rows {
            let job = row[0]
            let status = statuses[job]
            if status?.isActive != true, !parsed.has("--all") { continue }
            let app = row.count > 1 ? row[1] : "-"
            let url = LaptopRecord.read(login.connection, job: job)?.url ?? "-"
            let node = status?.firstNode.isEmpty == false ? status!.firstNode : "-"
            let left = status?.isActive == true ? status!.timeLeft : "-"
            table.append([job, app, status?.state ?? "ENDED", node, left, url])
            objects.append(
                SessionRow(
                    jobID: Int(job) ?? 0, app: app, state: status?.state ?? "ENDED", node: node,
                    timeLeft: left, url: url))
        }
        await login.release()
        if parsed.has("--json") {
            context.output.stdout(JSONOutput.line(objects))
        } else if table.isEmpty {
            context.note("no running sessions in \(login.paths.jobs) on \(host) (--all: ended ones too)")
        } else {
            SessionsCommand.printTable(table, context: context)
        }
        return .success
    }

    /// Laptop ends of jobs that are over only relay to nothing: closed, like `list` on the login node does.
    static func closeEnded(_ login: LoginSide) async {
        let jobs = LaptopRecord.jobs(login.connection)
        guard !jobs.isEmpty, let statuses = try? await login.slurm.query(jobs: jobs) else { return }
        for job in jobs where statuses[job]?.isActive != true {
            if let record = LaptopRecord.read(login.connection, job: job), record.port > 0 {
                await login.connection.cancel(port: record.port, to: record.loginSocket)
            }
            LaptopRecord.remove(login.connection, job: job)
        }
    }
}

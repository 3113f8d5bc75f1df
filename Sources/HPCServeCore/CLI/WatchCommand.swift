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
        OptionSpec(["--login-host"], value: "HOST", help: "this login node's public name (default $HPCSERVE_LOGIN_HOST or hostname)"),
        OptionSpec(["--laptop-port"], value: "N", help: "the port to use on the laptop (default: the app's, 8888 for Jupyter)"),
        OptionSpec(["--help", "-h"], help: "show this help"),
    ]

    /// `hpcserve APP …`: render, create the session, submit with sbatch, watch.
    public static func submit(app: AppProfile, _ words: [String], context: Context) async throws -> ExitCode {
        let options = ScriptCommand.jobOptions + app.options.map { OptionSpec($0.names, value: $0.valueName, help: $0.help) }
            + watchOptions
        let parsed = try ArgumentReader.read(words, options: options, command: app.name)
        if parsed.has("--help") {
            context.output.stdout(Help.fit(Help.submit(app)))
            return .success
        }
        if let extra = parsed.positionals.first {
            throw UsageError("unexpected argument \(Validate.show(extra)); put sbatch options after '--' (e.g. -- --mail-type=END)")
        }
        let watch = try watchSettings(parsed, context: context)
        let (text, paths) = try ScriptCommand.render(app: app, parsed: parsed, context: context)
        try paths.ensurePrivate()
        let job = try await Slurm(runner: context.runner).submit(script: text)
        context.note("submitted job \(job) (\(app.title)); log: \(paths.log(jobID: job))")
        return try await Watcher(job: job, paths: paths, options: watch, context: context).run()
    }

    /// `hpcserve watch JOBID`.
    public static func watch(_ words: [String], context: Context) async throws -> ExitCode {
        let parsed = try ArgumentReader.read(words, options: watchOptions, command: "watch")
        if parsed.has("--help") {
            context.output.stdout(Help.fit(Help.watch))
            return .success
        }
        guard parsed.positionals.count == 1 else {
            throw UsageError("give one job id: hpcserve watch JOBID")
        }
        let job = try Slurm.jobID(parsed.positionals[0])
        let paths = try SessionPaths.from(context)
        try paths.ensurePrivate()
        return try await Watcher(job: job, paths: paths, options: try watchSettings(parsed, context: context), context: context).run()
    }

    static func watchSettings(_ parsed: ParsedArguments, context: Context) throws -> WatchOptions {
        // Both end up in the laptop command a person pastes: plain names only.
        let host: String
        if let v = parsed.value("--login-host") {
            host = try Validate.host(v, option: "--login-host")
        } else if let v = try context.variable("HPCSERVE_LOGIN_HOST") {
            host = try Validate.host(v, option: "environment variable HPCSERVE_LOGIN_HOST")
        } else {
            host = try Validate.host(ProcessInfo.processInfo.hostName, option: "this host's name (give --login-host)")
        }
        let user = try context.variable("USER").map {
            try Validate.charset($0, option: "environment variable USER", allowed: "_.-@", what: "user name")
        } ?? currentUser()
        var options = WatchOptions(loginHost: host, user: user)
        options.detach = parsed.has("--detach")
        options.cancelOnExit = parsed.has("--cancel-on-exit")
        options.json = parsed.has("--json")
        options.laptopPort = try parsed.value("--laptop-port").map { try Validate.port($0, option: "--laptop-port") }
        if options.detach, options.cancelOnExit { throw UsageError("--detach and --cancel-on-exit exclude each other; give one") }
        return options
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
        OptionSpec(["--json"], help: "one JSON array"), OptionSpec(["--help", "-h"], help: "show this help"),
    ]

    /// The job ids with a session directory, newest first.
    static func sessions(_ paths: SessionPaths) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: paths.jobs)) ?? []
        return names.filter(\.isASCIIDigits).sorted { Int($0) ?? 0 > Int($1) ?? 0 }
    }

    public static func list(_ words: [String], context: Context) async throws -> ExitCode {
        let parsed = try ArgumentReader.read(words, options: listOptions, command: "list")
        if parsed.has("--help") { context.output.stdout(Help.fit(Help.list)); return .success }
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
                await Tunnel(runner: context.runner, directory: dir, node: info?.node ?? "localhost", target: "").close()
            }
            if status?.isActive != true {
                endedShown += 1
                if endedShown > 5, !parsed.has("--all") { continue }
            }
            let savedApp = (try? String(contentsOfFile: dir + "/app", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            let app = info?.app ?? savedApp ?? "-"
            let port = Apps.named(app)?.laptopPort ?? 8888
            let url = info.flatMap { i in Apps.named(i.app).map { $0.client(i, port).url } } ?? "-"
            let node = status?.firstNode.isEmpty == false ? status!.firstNode : (info?.node ?? "-")
            let left = status?.isActive == true ? (status?.timeLeft ?? "-") : "-"
            rows.append([job, app, state, node, left, url])
            objects.append(SessionRow(jobID: Int(job) ?? 0, app: app, state: state, node: node, timeLeft: left, url: url))
        }
        if parsed.has("--json") {
            context.output.stdout(JSONOutput.line(objects))
        } else if rows.isEmpty {
            context.note("no sessions in \(paths.jobs)")
        } else {
            let table = [["JOBID", "APP", "STATE", "NODE", "LEFT", "URL"]] + rows
            let widths = (0..<6).map { c in table.map { $0[c].count }.max() ?? 0 }
            for row in table {
                context.output.stdout(row.enumerated().map { $0.offset == 5 ? $0.element : $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ") + "\n")
            }
        }
        return .success
    }

    public static func stop(_ words: [String], context: Context) async throws -> ExitCode {
        let parsed = try ArgumentReader.read(words, options: [OptionSpec(["--help", "-h"], help: "show this help")], command: "stop")
        if parsed.has("--help") { context.output.stdout(Help.fit(Help.stop)); return .success }
        guard parsed.positionals.count == 1 else { throw UsageError("give one job id: hpcserve stop JOBID") }
        let job = try Slurm.jobID(parsed.positionals[0])
        let paths = try SessionPaths.from(context)
        let slurm = Slurm(runner: context.runner)
        var done: [String] = []
        var notCancelled: String?
        switch try await slurm.query(job) {
        case let .found(status) where !status.isActive:
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
        for name in ["connection.json"] + Apps.all.flatMap(\.secretFiles) {
            var st = stat()
            if lstat(dir + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == getuid(), unlink(dir + "/" + name) == 0 {
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
        case let .notCancelled(job, detail, done):
            let rest = done.isEmpty ? "" : " (did: \(done.joined(separator: "; ")))"
            return "job \(job) was not cancelled: \(detail)\(rest); try 'scancel \(job)' once Slurm answers"
        }
    }
    public var exitCode: ExitCode { .failure }
}

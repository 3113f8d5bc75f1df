import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `hpcserve proxy` (a ProxyCommand: ssh, scp, rsync, VS Code Remote-SSH and JetBrains Gateway
/// land in a job) and `hpcserve ssh-config` (the Host block for the laptop).
public enum ProxyCommand {
    static let jobName = "hpcserve-shell"
    /// Job options that have no meaning for a job without a server (nor its name, which is how
    /// proxy finds it; modules and setup: ssh sessions do not start inside the job's shell).
    static let serverOnly: Set<String> = [
        "--listen", "--reverse-tunnel", "--ready-timeout", "--template", "--job-name", "--module", "--setup",
    ]
    static var shellJobOptions: [OptionSpec] { ScriptCommand.jobOptions.filter { !serverOnly.contains($0.key) } }

    static let command: Command = {
        var command = Command(
            "proxy", summary: "ssh into your job (a ProxyCommand for ssh, scp, VS Code)",
            usage: "hpcserve proxy [JOB OPTIONS] [-- SBATCH-OPTIONS]",
            about: [
                """
                Finds your running shell job (job name hpcserve-shell) or submits one with these options, waits \
                for it (progress on stderr), then connects standard input and output to an SSH server inside it: \
                'srun --overlap --jobid=J … sshd -i', an sshd run as you in your job for this one connection, \
                listening on no port. It accepts your own keys (~/.ssh/authorized_keys) and has one host key \
                for all your shell jobs (~/.hpcserve/ssh_host_key). Meant for ProxyCommand in the laptop's \
                ~/.ssh/config: see 'hpcserve ssh-config'. A second connection uses the same job; it ends at its \
                time limit or with 'hpcserve stop JOBID'.
                """
            ]
        ) { parsed, context in
            try await run(parsed, context: context)
        }
        command.optionGroups = [OptionGroup("Job options (for a new shell job)", shellJobOptions + [.help])]
        command.examples = [
            "ssh -o ProxyCommand='ssh hpc hpcserve proxy --time 8:00:00' hpc-job",
            "hpcserve proxy -t 8:00:00 -p gpu -G 1     # as ProxyCommand, from ~/.ssh/config",
        ]
        return command
    }()

    static let shellCommand: Command = {
        var command = Command(
            "shell", summary: "a terminal on your job's node (the shell job proxy uses)",
            usage: "hpcserve shell [JOB OPTIONS] [-- COMMAND…]",
            about: [
                """
                Finds your shell job (or submits one with these options), waits for it, and opens a terminal \
                on its node, inside the job, the same way 'hpcserve proxy' does: ssh through 'srun --overlap … \
                sshd -i', also where nobody may ssh to compute nodes. After '--': a command to run instead. \
                From the laptop, 'hpcserve --host LOGIN shell' runs it on LOGIN through ssh -t.
                """
            ]
        ) { parsed, context in
            try await shell(parsed, context: context)
        }
        command.optionGroups = [OptionGroup("Job options (for a new shell job)", shellJobOptions + [.help])]
        command.examples = [
            "hpcserve shell -t 2:00:00", "hpcserve shell -- nvidia-smi",
            "hpcserve --host hpc shell -t 2:00:00     # from the laptop",
        ]
        return command
    }()

    static let sshConfigCommand: Command = {
        var command = Command(
            "ssh-config", summary: "the laptop's ~/.ssh/config block for hpc-job",
            usage: "hpcserve ssh-config [--name NAME] [--login-host HOST] [JOB OPTIONS]",
            about: [
                """
                Prints a Host block to paste into ~/.ssh/config on the laptop: 'ssh hpc-job', scp, rsync, VS Code \
                Remote-SSH and JetBrains Gateway then land on your job's node through 'hpcserve proxy'. Job options \
                given here go into the ProxyCommand. In VS Code, set remote.SSH.connectTimeout above your queue \
                wait (its default, 15 s, is shorter). From the laptop, 'hpcserve --host LOGIN ssh-config' prints \
                the same block for LOGIN, read there through ssh.
                """
            ]
        ) { parsed, context in
            try await sshConfig(parsed, context: context)
        }
        command.optionGroups = [
            OptionGroup(
                "Options",
                [
                    OptionSpec(["--name"], value: "NAME", help: "the Host name on the laptop (default hpc-job)"),
                    OptionSpec(
                        ["--login-host"], value: "HOST",
                        help:
                            "the login node as the laptop's ssh knows it (default: --host LOGIN, "
                            + "$HPCSERVE_LOGIN_HOST or hostname)"
                    ),
                ]),
            OptionGroup("Job options (for the ProxyCommand)", shellJobOptions + [.help]),
        ]
        command.examples = [
            "hpcserve ssh-config --time 8:00:00 -p gpu >> ~/.ssh/config   # then copy it over",
            "hpcserve --host hpc ssh-config --time 8:00:00 >> ~/.ssh/config   # on the laptop",
        ]
        return command
    }()

    /// The shell job's script: only the allocation; sessions come in through srun --overlap.
    static func script(_ parsed: ParsedArguments, paths: SessionPaths, context: Context) throws -> String {
        var spec = JobSpec(app: Apps.all[0], sessionRoot: paths.root)
        spec.jobName = jobName
        for option in shellJobOptions {
            guard let apply = option.apply else { continue }
            for value in parsed.all(option.key) { try apply(&spec, value) }
        }
        if let extra = parsed.passthrough { spec.extraSbatch = try SbatchPassthrough.parse(extra, app: spec.app) }
        let lines = ScriptRenderer.sbatchLines(spec, paths: paths)
        return """
            #!/bin/bash
            # A shell job of hpcserve \(ScriptRenderer.version): it only holds the node. ssh sessions come in
            # through 'hpcserve proxy' (srun --overlap … sshd -i, run as you, listening on no port).
            \(lines.joined(separator: "\n"))
            d=\(ShellQuote.quote(paths.jobs))/"$SLURM_JOB_ID"
            { [ -d "$d" ] || mkdir -m 700 "$d"; } && echo shell > "$d/app"
            echo "hpcserve: shell job $SLURM_JOB_ID on $(hostname) until its time limit; hpcserve stop $SLURM_JOB_ID ends it"
            trap 'exit 0' USR1 TERM
            while :; do sleep 3600 & wait $!; done

            """
    }

    /// The user's shell job that is pending or running, newest first: (id, state, node).
    static func findShell(_ runner: any ProcessRunner) async throws -> (String, String, String)? {
        let r = try await runner.run(
            Invocation(
                [
                    "squeue", "--me", "--noheader", "--name=\(jobName)", "--states=PENDING,CONFIGURING,RUNNING",
                    "--format=%i|%T|%N",
                ], timeout: 30))
        guard r.status == 0 else {
            throw SlurmError.commandFailed(argv: ["squeue", "--me"], status: r.status, stderrTail: r.lastLine)
        }
        var best: (String, String, String)?
        for line in r.stdout.split(separator: "\n") {
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 3, !f[0].isEmpty, f[0].allSatisfy(\.isNumber) else { continue }
            // A running one first, then the newest.
            if let b = best {
                let rank = f[1] == "RUNNING" ? 1 : 0
                let bestRank = b.1 == "RUNNING" ? 1 : 0
                if rank < bestRank || (rank == bestRank && (Int(f[0]) ?? 0) < (Int(b.0) ?? 0)) { continue }
            }
            best = (f[0], f[1], f[2])
        }
        return best
    }

    /// The user's shell job, found or submitted, once it runs: the way in, ready to use.
    static func runningShell(_ parsed: ParsedArguments, context: Context) async throws -> JobSSH? {
        let paths = try SessionPaths.from(context)
        try paths.ensurePrivate()
        let slurm = Slurm(runner: context.runner)
        var found = try await findShell(context.runner)
        if found == nil {
            let job = try await slurm.submit(script: try script(parsed, paths: paths, context: context))
            context.note("submitted shell job \(job); log: \(paths.log(jobID: job))")
            found = (job, "PENDING", "")
        }
        guard let (job, _, nodeFound) = found else { return nil }
        var node = nodeFound
        // Waits, gently: 1 s doubling to 30 s; progress on stderr (VS Code shows it in its log).
        var interval = 1.0
        var last = ""
        while true {
            if context.interrupts.fired { return nil }
            switch try await slurm.query(job) {
            case .found(let s) where s.state == "RUNNING" && !s.firstNode.isEmpty:
                node = s.firstNode
            case .found(let s) where !s.isActive:
                throw ProxyError.ended(job: job, state: s.state, log: paths.log(jobID: job))
            case .gone:
                throw ProxyError.ended(job: job, state: "ended", log: paths.log(jobID: job))
            case .found(let s):
                let line = "shell job \(job) \(s.state.lowercased()) (\(s.reason))"
                if line != last { context.note(line) }
                last = line
            default: break
            }
            if !node.isEmpty { break }
            await context.sleep(interval)
            interval = min(interval * 2, 30)
        }
        var through = JobSSH(job: job, directory: paths.directory(jobID: job), node: node)
        through.hostKeyPath = paths.root + "/ssh_host_key"
        through.sshd = try JobSSH.sshd(context)
        try await through.prepare(runner: context.runner)
        return through
    }

    /// Replaces this process with `argv` (looked up on PATH); returns only when it cannot.
    static func exec(_ argv: [String]) throws -> Never {
        guard let path = LiveProcessRunner.resolve(argv[0]) else { throw ToolMissing(tool: argv[0]) }
        let cArgs = argv.map { strdup($0) } + [nil]
        execv(path, cArgs)
        throw ToolMissing(tool: argv[0])
    }

    static func run(_ parsed: ParsedArguments, context: Context) async throws -> ExitCode {
        try ScriptCommand.noStrayArguments(parsed)
        guard let through = try await runningShell(parsed, context: context) else { return .interrupted }
        context.note("connecting to shell job \(through.job) on \(through.node)")
        // srun takes over standard input and output: the ssh client talks to sshd -i.
        try exec(through.stepArgv)
    }

    /// `hpcserve shell [job options] [-- COMMAND…]`: a terminal (or COMMAND) in the shell job.
    static func shell(_ parsed: ParsedArguments, context: Context) async throws -> ExitCode {
        try ScriptCommand.noStrayArguments(parsed)
        if let host = context.remoteHost { return try Laptop.shell(parsed, host: host, context: context) }
        var forJob = parsed
        forJob.passthrough = nil  // after '--' comes the command, not sbatch options
        guard let through = try await runningShell(forJob, context: context) else { return .interrupted }
        context.note("shell job \(through.job) on \(through.node) (hpcserve stop \(through.job) ends it)")
        let command = parsed.passthrough ?? []
        try exec(
            ["ssh", "-o", "BatchMode=yes"] + through.sshOptions + (command.isEmpty ? ["-t"] : [])
                + ["--", through.node] + command)
    }

    /// The job options given, checked as the job checks them, as words for `hpcserve proxy|shell`.
    static func jobWords(_ parsed: ParsedArguments) throws -> [String] {
        var words: [String] = []
        for option in shellJobOptions {
            for value in parsed.all(option.key) {
                var spec = JobSpec(app: Apps.all[0], sessionRoot: "/")
                try option.apply?(&spec, value)  // the same checks as the job itself
                words += option.valueName != nil ? [option.key, value] : [option.key]
            }
        }
        return words
    }

    static func sshConfig(_ parsed: ParsedArguments, context: Context) async throws -> ExitCode {
        let name = try parsed.value("--name").map { try Validate.host($0, option: "--name") } ?? "hpc-job"
        let words = try jobWords(parsed)
        if parsed.passthrough != nil {
            throw UsageError("ssh-config takes no '--' options; give them to 'hpcserve proxy' in the printed block")
        }
        if let host = context.remoteHost {
            return try await Laptop.sshConfig(parsed, name: name, words: words, host: host, context: context)
        }
        let login = try WatchCommand.loginHost(parsed, context: context)
        let paths = try SessionPaths.from(context)
        try paths.ensurePrivate()
        var key = JobSSH(job: "0", directory: paths.root, node: "")
        key.hostKeyPath = paths.root + "/ssh_host_key"
        try await key.prepareHostKey(runner: context.runner)
        let pub = try String(contentsOfFile: key.hostKey + ".pub", encoding: .utf8)
        context.output.stdout(
            try block(name: name, login: login, user: WatchCommand.currentUser(), words: words, hostKey: pub))
        return .success
    }

    /// The Host block for the laptop's ~/.ssh/config. `remote`: the hpcserve to run on the login
    /// node (`HPCSERVE_REMOTE` on a laptop); `hostKey`: the `.pub` line of the shell jobs' host key.
    static func block(
        name: String, login: String, user: String, remote: String = "hpcserve", words: [String], hostKey: String
    ) throws -> String {
        let fields = hostKey.split(separator: " ").prefix(2)
        guard fields.count == 2, fields[0].hasPrefix("ssh-"),
            fields[1].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+/=".contains($0)) })
        else {
            throw LoginError.remoteUnreadable(version: "ssh-keygen", what: "an unreadable host key")
        }
        // ssh expands %-tokens in ProxyCommand: a literal % is %%.
        let proxy = (["ssh", login, remote, "proxy"] + words).map(ShellQuote.quote).joined(separator: " ")
            .replacingOccurrences(of: "%", with: "%%")
        return """
            # hpcserve: paste into ~/.ssh/config on your laptop. 'ssh \(name)' lands in your shell job
            # (submitted when none runs). VS Code: set remote.SSH.connectTimeout to a few minutes.
            Host \(name)
              User \(user)
              ProxyCommand \(proxy)
              HostKeyAlias hpcserve-shell
              UserKnownHostsFile ~/.ssh/known_hosts_hpcserve
              StrictHostKeyChecking yes
              ServerAliveInterval 15
            # The host key of all your shell jobs; on the laptop run once:
            #   echo 'hpcserve-shell \(fields.joined(separator: " "))' >> ~/.ssh/known_hosts_hpcserve

            """
    }
}

public enum ProxyError: UserFacingError, Equatable {
    case ended(job: String, state: String, log: String)
    public var description: String {
        switch self {
        case .ended(let job, let state, let log):
            return "shell job \(job) \(state.lowercased()) before it ran; see \(log), then try again"
        }
    }
    public var exitCode: ExitCode { .failure }
}

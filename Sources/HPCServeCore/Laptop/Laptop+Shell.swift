import Foundation

/// `hpcserve --host LOGIN ssh-config|shell`: ssh into the job from the laptop, through the login
/// node's `hpcserve proxy|shell`.
extension Laptop {
    /// The Host block for this laptop: `ProxyCommand ssh LOGIN hpcserve proxy …`, the user and the
    /// shell jobs' host key (made there if need be) read through the master.
    static func sshConfig(
        _ parsed: ParsedArguments, name: String, words: [String], host: String, context: Context
    ) async throws -> ExitCode {
        let named = try LoginSide.remoteCommand(context)
        let remote = named ?? "hpcserve"
        // As the laptop's ssh knows the login node: --host, or --login-host when it differs.
        let login = try parsed.value("--login-host").map { try Validate.host($0, option: "--login-host") } ?? host
        let side = try await LoginSide.open(host: host, context: context)
        if named != nil, side.remoteVersion == nil {
            context.warn(
                "no \(remote) found on \(host): the block's ProxyCommand runs '\(remote) proxy' there; install "
                    + "hpcserve on \(host) (or name it with HPCSERVE_REMOTE)")
        }
        try await side.ensurePrivate()
        let r = try await side.remote.run(
            Invocation(["sh", "-c", Self.hostKeyScript, "sh", side.paths.root + "/ssh_host_key"], timeout: 60))
        await side.release()
        guard r.status == 0 else {
            throw UsageError("on \(host): cannot make the shell jobs' host key (\(r.lastLine))")
        }
        context.output.stdout(
            try ProxyCommand.block(
                name: name, login: login, user: side.user, remote: remote, words: words, hostKey: r.stdout))
        return .success
    }

    /// The host key of the user's shell jobs on the login node (`hpcserve proxy` uses the same
    /// path), made when missing; prints its public half.
    static let hostKeyScript = """
        umask 077; k=$1
        [ -e "$k" ] || ssh-keygen -q -t ed25519 -N '' -C hpcserve-job-0 -f "$k" </dev/null >&2 || exit 1
        cat "$k.pub"
        """

    /// `hpcserve --host LOGIN shell [job options] [-- COMMAND…]`: replaces this process with ssh
    /// to LOGIN running `hpcserve shell` there (through the master when one is up, else a login
    /// of its own, on this terminal).
    static func shell(_ parsed: ParsedArguments, host: String, context: Context) throws -> ExitCode {
        guard let remote = try LoginSide.remoteCommand(context) else {
            throw UsageError(
                "hpcserve --host \(host) shell runs 'hpcserve shell' on \(host); unset HPCSERVE_REMOTE=none")
        }
        let connection = LoginConnection(
            host: host, directory: try LoginConnection.privateDirectory(context), runner: context.runner)
        try ProxyCommand.exec(
            shellArgv(
                host: host, control: connection.control, remote: remote, words: try ProxyCommand.jobWords(parsed),
                command: parsed.passthrough, terminal: context.isTerminal))
    }

    /// `ssh -S CTL [-t] -- LOGIN 'hpcserve shell WORDS -- COMMAND'`: the remote words quoted for
    /// the login shell there. A master at CTL is used when up; ssh logs in by itself when not.
    static func shellArgv(
        host: String, control: String, remote: String, words: [String], command: [String]?, terminal: Bool
    ) -> [String] {
        var argv = ["ssh", "-S", control, "-o", "ControlMaster=no"]
        if !terminal { argv += ["-o", "BatchMode=yes"] }
        if (command ?? []).isEmpty { argv.append("-t") }
        let remoteWords = [remote, "shell"] + words + (command.map { ["--"] + $0 } ?? [])
        return argv + ["--", host, remoteWords.map(ShellQuote.quote).joined(separator: " ")]
    }
}

import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How the watcher behaves once the server is reachable.
public struct WatchOptions: Sendable {
    public var detach = false
    public var cancelOnExit = false
    public var json = false
    public var laptopPort: Int?
    public var loginHost: String
    public var user: String
    public var policy = PollPolicy()
    /// Whether the forward may ssh to the node (`HPCSERVE_NODE_SSH`).
    public var nodeSSH = NodeSSH.auto
    /// This invocation submitted the job (a failure offers to cancel it).
    public var submitted = false
    /// sshd on the nodes, for the way through the job (`HPCSERVE_SSHD`).
    public var sshd = "/usr/sbin/sshd"
    /// Seconds between checks that the forward is still alive.
    public var tunnelCheck = 10.0
    public init(loginHost: String, user: String) {
        self.loginHost = loginHost
        self.user = user
    }
}

/// Watches one job from submission to a working forward, then keeps the forward alive.
struct Watcher {
    let job: String
    let paths: SessionPaths
    let options: WatchOptions
    let context: Context
    var slurm: Slurm { Slurm(runner: context.runner) }
    var directory: String { paths.directory(jobID: job) }
    let status: StatusLine
    /// The node an ssh master was opened to while the server starts (see `Tunnel.openEarly`).
    let early = EarlyMasters()

    init(job: String, paths: SessionPaths, options: WatchOptions, context: Context) {
        self.job = job
        self.paths = paths
        self.options = options
        self.context = context
        self.status = StatusLine(context: context)
    }

    /// Watches; a failure after the job exists names its state and the way back, and a job
    /// this invocation submitted is offered for cancellation, as Ctrl-C does.
    func run() async throws -> ExitCode {
        do {
            return try await watch()
        } catch let error as TunnelError {
            status.finish()
            var state = "in an unknown state"
            if case .found(let s) = try? await slurm.query(job) { state = s.state }
            let active = ["PENDING", "RUNNING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED"].contains(state)
            if active, options.submitted, context.isTerminal,
                let answer = context.ask("hpcserve: \(error.description)\nCancel job \(job)? [y/N] "),
                answer.lowercased().hasPrefix("y")
            {
                try? await slurm.cancel(job)
                throw WatchFailed(inner: error, job: job, state: "cancelled", next: "nothing left to stop")
            }
            let next =
                active
                ? "it keeps its node: reattach: hpcserve watch \(job); stop: hpcserve stop \(job)" : "nothing left"
            throw WatchFailed(inner: error, job: job, state: state, next: next)
        }
    }

    func watch() async throws -> ExitCode {
        context.interrupts.claim()
        let start = context.now()
        var state = WatchState(policy: options.policy, now: start)
        var tunnel: Tunnel?
        var served: ConnectionInfo?
        var lastTunnelCheck = start
        var lastLeft = ""
        var lastHint = start
        var logSeen: Bool?   // whether the job's log was there at the last look while waiting to start
        var walltime = WalltimeWarnings()
        while true {
            if context.interrupts.fired {
                status.finish()
                return try await interrupted(tunnel: tunnel, ready: served != nil)
            }
            let now = context.now()
            if now >= state.nextSqueue {
                let query = try await slurm.query(job)
                if case .found(let s) = query { lastLeft = s.timeLeft }
                if case .found(let s) = query, s.state == "RUNNING", let mark = walltime.observe(timeLeft: s.timeLeft) {
                    // One line and, on a terminal, the bell: the job is stopped at its limit.
                    status.note(
                        "job \(job) has \(s.timeLeft) left (under \(mark / 60) minutes) before its time limit; "
                            + "save your work")
                    if context.isTerminal { context.output.stderr("\u{7}") }
                }
                for event in state.observe(query, at: now) {
                    if let code = try await handle(
                        event, start: start, timeLeft: lastLeft, tunnel: &tunnel, served: &served)
                    {
                        return code
                    }
                }
                if let served, !lastLeft.isEmpty {
                    status.show("job \(job) on \(served.node): \(lastLeft) left; Ctrl-C to stop watching")
                } else if case .found(let s) = query, case .pending = state.phase {
                    // On a terminal the pending line keeps counting (no extra scheduler call).
                    status.show(Self.pendingLine(job, s.reason, s.startTime, waited: context.now() - start))
                }
            }
            if !state.isFinished {
                // Slurm creates the job's log as it starts: when it appears, a free hint to ask squeue
                // for the node now rather than after the pending backoff, so the ssh to it opens early.
                if state.isWaitingToStart, logSeen != true {
                    let seen = FileManager.default.fileExists(atPath: paths.log(jobID: job))
                    if seen, logSeen == false { state.pollSoon(now: context.now()) }
                    logSeen = seen
                }
                let info = ConnectionInfo.read(directory + "/connection.json")
                // The job removes connection.json when it ends: a free hint to ask squeue now
                // rather than at the next slow poll (at most once per 5 s).
                if info == nil, served != nil, context.now() - lastHint > 5 {
                    lastHint = context.now()
                    state.pollSoon(now: context.now())
                }
                for event in state.observe(connection: info, at: context.now()) {
                    if let code = try await handle(
                        event, start: start, timeLeft: lastLeft, tunnel: &tunnel, served: &served)
                    {
                        return code
                    }
                }
            }
            if let t = tunnel, served != nil, context.now() - lastTunnelCheck >= options.tunnelCheck {
                lastTunnelCheck = context.now()
                if !(await t.isAlive()) {
                    status.note("the forward to \(t.node) died; re-creating it")
                    try await t.open()
                }
            }
            await context.sleep(
                max(0.05, min(state.sleepTime(now: context.now()), served == nil ? 60 : options.tunnelCheck)))
        }
    }

    /// Reacts to one event; a return value ends the watch with that exit code.
    private func handle(
        _ event: WatchEvent, start: Double, timeLeft: String, tunnel: inout Tunnel?, served: inout ConnectionInfo?
    ) async throws -> ExitCode? {
        switch event {
        case .pending(let reason, let estimate):
            status.change(Self.pendingLine(job, reason, estimate, waited: context.now() - start))
        case .running(let node):
            status.change("job \(job) running on \(node); waiting for the server to answer")
            await openEarly(node)
        case .moved(let from, let to):
            status.change("job \(job) was requeued: \(from) -> \(to); following it")
            await tunnel?.close()
            await closeEarly()
            tunnel = nil
            served = nil
        case .controllerUnreachable(let message, let retryIn):
            status.change("slurmctld does not answer (\(message)); retrying in \(Int(retryIn)) s")
        case .controllerBack:
            status.change("slurmctld answers again")
        case .squeueFailed(let message):
            status.change("squeue failed (\(message)); retrying")
        case .ready(let info):
            tunnel = try await connect(info, existing: tunnel)
            served = info
            let report: Report
            do {
                report = try await self.report(info, tunnel: tunnel, timeLeft: timeLeft)
            } catch let error as TunnelError {
                // A forward reused from before (a reattach) may point at an old target: once more, fresh.
                guard let t = tunnel else { throw error }
                try await t.open()
                report = try await self.report(info, tunnel: t, timeLeft: timeLeft)
            }
            status.finish()
            if options.json {
                context.output.stdout(report.json)
            } else {
                context.output.stdout(report.text)
            }
            if options.detach {
                context.note(
                    "detached; the forward stays up. Reattach: hpcserve watch \(job); stop: hpcserve stop \(job)")
                return .success
            }
        case .ended(let state, let reason):
            return await ended(state: state, reason: reason, tunnel: tunnel, wasReady: served != nil)
        case .gone:
            return await ended(state: "", reason: "", tunnel: tunnel, wasReady: served != nil)
        }
        return nil
    }

    /// The forward for `info`: the job's own reverse tunnel if it made one, else ssh -L.
    private func connect(_ info: ConnectionInfo, existing: Tunnel?) async throws -> Tunnel? {
        if let reverse = info.reverseSocket, SocketProbe.accepts(socket: reverse) {
            await closeEarly()
            return nil
        }
        let tunnel = Tunnel(
            runner: context.runner, directory: directory, node: info.node, target: info.target, serverPID: info.pid)
        if await forwardEarly(tunnel) { return tunnel }
        // Reuse a live forward (a reattaching `watch`, or one made before) unless the job moved.
        if existing.map({ $0.node == info.node }) ?? true, await tunnel.isAlive() { return existing ?? tunnel }
        var through = JobSSH(job: job, directory: directory, node: info.node)
        through.sshd = options.sshd
        switch options.nodeSSH {
        case .yes:
            try await tunnel.open()
            return tunnel
        case .no:
            try await through.prepare(runner: context.runner)
            var viaJob = tunnel
            viaJob.via = through
            try await viaJob.open()
            return viaJob
        case .auto:
            do {
                try await tunnel.open()
                return tunnel
            } catch TunnelError.failed(_, let direct) {
                status.note("ssh to \(info.node) failed (\(direct)); going through the job (srun --overlap)")
                try await through.prepare(runner: context.runner)
                var viaJob = tunnel
                viaJob.via = through
                do {
                    try await viaJob.open()
                } catch TunnelError.failed(_, let message) {
                    throw TunnelError.failed(
                        node: info.node, message: "\(direct), and through the job (srun --overlap): \(message)")
                }
                return viaJob
            }
        }
    }

    struct Report {
        let text: String
        let json: String
    }

    /// Verifies the server through the forward, then builds what the user needs.
    /// `timeLeft` is from the latest squeue answer (no extra scheduler call for it).
    private func report(_ info: ConnectionInfo, tunnel: Tunnel?, timeLeft: String) async throws -> Report {
        let socket = tunnel?.socket ?? info.reverseSocket ?? ""
        guard let app = Apps.named(info.app) else { throw TunnelError.notAnswering("unknown app \(info.app)") }
        var answered = false
        var detail = ""
        for attempt in 0..<20 {
            if attempt > 0 { await context.sleep(attempt < 5 ? 0.1 : 0.5) }
            switch app.forwardCheck {
            case .httpWithToken(let path):
                let headers = ["Authorization": "token \(info.token)"]
                let code = await OffPool.run { SocketProbe.httpStatus(socket: socket, path: path, headers: headers) }
                answered = code == 200
                detail = code.map { "HTTP \($0) for \(path)" } ?? "no answer"
            case .httpAny(let path):
                let code = await OffPool.run { SocketProbe.httpStatus(socket: socket, path: path) }
                answered = code != nil
                detail = "no HTTP answer"
            case .connect:
                answered = await OffPool.run { SocketProbe.accepts(socket: socket) }
                detail = "connection refused"
            }
            if answered { break }
        }
        guard answered else { throw TunnelError.notAnswering(detail) }
        let port = options.laptopPort ?? app.laptopPort
        let client = app.client(info, port)
        // Every word quoted for the shell it is pasted into (the values are checked already).
        let command = ["ssh", "-N", "-L", "\(port):\(socket)", "\(options.user)@\(options.loginHost)"]
            .map(ShellQuote.quote).joined(separator: " ")
        var lines = [("On your laptop", command)] + client.lines
        let left: String? = timeLeft.isEmpty ? nil : timeLeft
        if let left { lines.append(("Time left", left)) }
        let width = lines.map(\.0.count).max() ?? 0
        let text =
            lines.map { "\($0.0 + ":")\(String(repeating: " ", count: width - $0.0.count + 2))\($0.1)" }.joined(
                separator: "\n") + "\n"
        let json = JSONOutput.line(
            ReadySession(
                jobID: Int(job) ?? info.jobID, app: info.app, node: info.node, loginSocket: socket,
                laptopCommand: command,
                url: client.url, token: info.token, user: info.user, timeLeft: left, log: paths.log(jobID: job)))
        return Report(text: text, json: json)
    }

    /// The job is over: close the forward, say how it ended with the log's tail.
    private func ended(state: String, reason: String, tunnel: Tunnel?, wasReady: Bool) async -> ExitCode {
        // Also when this watch made no forward (a reattach, a detached one before it): a forward
        // that ended with the job leaves its socket behind, and nothing listens on it now.
        await (tunnel ?? Tunnel(runner: context.runner, directory: directory, node: "localhost", target: "")).close()
        status.finish()
        var how = state.isEmpty ? (await slurm.ending(job) ?? "ended (Slurm no longer knows it)") : state
        if !reason.isEmpty, reason != "None" { how += " (\(reason))" }
        let tail = Self.tail(paths.log(jobID: job), lines: 8)
        let where_ = "log: \(paths.log(jobID: job))"
        if wasReady, state == "COMPLETED" || state == "TIMEOUT" {
            context.note("job \(job) \(how); \(where_)")
            return .success
        }
        context.output.stderr(
            "hpcserve: error: job \(job) \(how)\(wasReady ? "" : " before its server was ready"); \(where_)\n")
        if !tail.isEmpty {
            context.output.stderr(tail.split(separator: "\n").map { "  | \($0)" }.joined(separator: "\n") + "\n")
        }
        return .failure
    }

    /// Ctrl-C: ask whether to cancel the job (or follow --cancel-on-exit; keep it without a terminal).
    private func interrupted(tunnel: Tunnel?, ready: Bool) async throws -> ExitCode {
        var cancel = options.cancelOnExit
        if !cancel, context.isTerminal, let answer = context.ask("\nCancel job \(job) too? [y/N] ") {
            cancel = answer.lowercased().hasPrefix("y")
        }
        if !ready { await closeEarly() }   // nothing is forwarded yet: nothing to keep
        if cancel {
            try? await slurm.cancel(job)
            await tunnel?.close()
            context.note("cancelled job \(job) and closed the forward")
        } else {
            context.note(
                "job \(job) keeps running\(ready && tunnel != nil ? " and the forward stays up" : ""). "
                    + "Reattach: hpcserve watch \(job); stop: hpcserve stop \(job)"
            )
        }
        return .interrupted
    }

    static func pendingLine(_ job: String, _ reason: String, _ estimate: String, waited: Double) -> String {
        let eta =
            estimate.isEmpty || estimate == "N/A"
            ? "" : ", estimated start \(estimate.replacingOccurrences(of: "T", with: " "))"
        return "job \(job) pending (\(reason.isEmpty ? "no reason given" : reason)), waited \(clock(waited))\(eta)"
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds)
        return s >= 3600
            ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    static func tail(_ path: String, lines: Int) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1).joined(separator: "\n")
            .trimmingCharacters(in: .newlines)
    }
}

/// Progress on stderr: one redrawn line on a terminal, one plain line per change otherwise.
struct StatusLine: Sendable {
    let context: Context
    private let last = Box()

    init(context: Context) { self.context = context }

    /// A new state: always shown.
    func change(_ text: String) {
        if context.isTerminal {
            context.output.stderr("\r\u{1B}[K" + text)
            last.set(text)
        } else {
            context.output.stderr("hpcserve: \(text)\n")
        }
    }

    /// A refresh of the current state: redrawn on a terminal, otherwise not repeated.
    func show(_ text: String) {
        if context.isTerminal { change(text) }
    }

    /// A one-off message on its own line.
    func note(_ text: String) {
        finish()
        context.output.stderr("hpcserve: \(text)\n")
    }

    /// Ends the redrawn line so that other output starts on a fresh one.
    func finish() {
        if context.isTerminal, last.take() != nil { context.output.stderr("\n") }
    }

    final class Box: @unchecked Sendable {
        private let lock = NSLock()
        private var value: String?
        func set(_ v: String) {
            lock.lock()
            value = v
            lock.unlock()
        }
        func take() -> String? {
            lock.lock()
            defer {
                value = nil
                lock.unlock()
            }
            return value
        }
    }
}

/// What went wrong while watching, with the job's state and what to do about it, on one line.
struct WatchFailed: UserFacingError {
    let inner: any UserFacingError
    let job: String
    let state: String
    let next: String
    var description: String { "\(inner.description) [job \(job) \(state.lowercased()); \(next)]" }
    var exitCode: ExitCode { inner.exitCode }
}

import Foundation

/// The watcher of `hpcserve --host LOGIN APP|watch`: the same steps and behaviour as on the
/// login node, from the laptop, through one ssh master. Squeue runs on the login node through
/// the master (no new connection per poll); the login side of the forward is made by the login
/// node's hpcserve (`watch --detach --json`) or, without one, by the laptop (a long-lived wait
/// for connection.json, then the same ssh forward command); the laptop end is `-O forward` of
/// 127.0.0.1:PORT to the login-side socket; the authenticated check goes through the laptop end.
struct LaptopWatcher {
    let job: String
    let login: LoginSide
    let options: WatchOptions
    let openBrowser: Bool
    let context: Context
    let status: StatusLine
    var connection: LoginConnection { login.connection }
    var host: String { connection.host }

    init(job: String, login: LoginSide, options: WatchOptions, openBrowser: Bool, context: Context) {
        self.job = job
        self.login = login
        self.options = options
        self.openBrowser = openBrowser
        self.context = context
        self.status = StatusLine(context: context)
    }

    /// What the laptop forwards once the server is ready.
    struct Ready {
        var info: ConnectionInfo
        var loginSocket: String
        var port: Int
        var timeLeft: String
    }

    /// Watches; an error after the job exists says the job's state and how to reattach or stop it.
    func run() async throws -> ExitCode {
        do {
            return try await watch()
        } catch let error as any UserFacingError {
            status.finish()
            if error is ToolMissing { throw error }
            let state: String
            switch try? await login.slurm.query(job) {
            case .found(let s): state = s.state
            case .gone: state = "ended"
            default: state = "in an unknown state"
            }
            // A job this invocation submitted that cannot be reached: offered for cancellation, as
            // Ctrl-C does (on a terminal; its forward could not be made, here or by the login node).
            let unreachable = error is TunnelError || error is RemoteError
            if unreachable, options.submitted, context.isTerminal, JobNotReached.active.contains(state),
                let answer = context.ask("hpcserve: \(error.description)\nCancel job \(job)? [y/N] "),
                answer.lowercased().hasPrefix("y")
            {
                try? await login.slurm.cancel(job)
                _ = await login.closeLoginSide(job: job)
                await forget()
                if var remote = error as? RemoteError {
                    remote.cancelled = true
                    throw remote
                }
                throw JobNotReached(inner: error, job: job, state: "cancelled", host: host)
            }
            if error is RemoteError { throw error }
            throw JobNotReached(inner: error, job: job, state: state, host: host)
        }
    }

    func watch() async throws -> ExitCode {
        context.interrupts.claim()
        // A record from the start: another hpcserve command leaves the master up while it exists.
        if LaptopRecord.read(connection, job: job) == nil {
            try LaptopRecord(job: job, host: host, port: 0, loginSocket: "", url: "").write(connection)
        }
        let start = context.now()
        var state = WatchState(policy: options.policy, now: start)
        var lastLeft = ""
        // 1. Pending: squeue through the master, as gently as on the login node.
        while true {
            if context.interrupts.fired { return try await interrupted(ready: nil) }
            let now = context.now()
            if now >= state.nextSqueue {
                let query = try await remote { try await login.slurm.query(job) }
                if case .found(let s) = query { lastLeft = s.timeLeft }
                var running = false
                for event in state.observe(query, at: now) {
                    switch event {
                    case .pending(let reason, let estimate):
                        status.change(Watcher.pendingLine(job, reason, estimate, waited: context.now() - start))
                    case .running(let node), .moved(_, let node):
                        status.change("job \(job) running on \(node); waiting for the server to answer")
                        running = true
                    case .controllerUnreachable(let message, let retryIn):
                        status.change("slurmctld does not answer (\(message)); retrying in \(Int(retryIn)) s")
                    case .controllerBack: status.change("slurmctld answers again")
                    case .squeueFailed(let message): status.change("squeue failed (\(message)); retrying")
                    case .ended(let s, let reason): return await ended(state: s, reason: reason, ready: nil)
                    case .gone: return await ended(state: "", reason: "", ready: nil)
                    case .ready: break
                    }
                }
                if case .running = state.phase { running = true }
                if running { break }
                if case .found(let s) = query, case .pending = state.phase {
                    status.show(Watcher.pendingLine(job, s.reason, s.startTime, waited: context.now() - start))
                }
            }
            await context.sleep(max(0.05, min(state.sleepTime(now: context.now()), 60)))
        }
        // 2. The server and the login side of the forward.
        var ready: Ready
        switch try await remote({ try await loginSideReady(lastLeft: lastLeft) }) {
        case .ready(let r): ready = r
        case .ended(let s, let reason): return await ended(state: s, reason: reason, ready: nil)
        case .interrupted: return try await interrupted(ready: nil)
        }
        // 3. The laptop end, checked with the app's own authenticated request.
        ready.port = try await forwardLaptopEnd(ready)
        let app = Apps.named(ready.info.app)!
        let client = app.client(ready.info, ready.port)
        try LaptopRecord(
            job: job, host: host, port: ready.port, loginSocket: ready.loginSocket, url: client.url
        ).write(connection)
        status.finish()
        report(ready, client: client)
        if openBrowser, app.urlPath != nil { await browse(client.url) }
        if options.detach {
            context.note(
                "detached; http://localhost:\(ready.port) stays forwarded (an ssh master to \(host) runs in the "
                    + "background). Reattach: hpcserve --host \(host) watch \(job); stop: hpcserve --host \(host) "
                    + "stop \(job)")
            return .success
        }
        // 4. Stay: time left, the job's end, and a dropped connection re-made.
        return try await stay(ready, client: client)
    }

    enum LoginSideResult {
        case ready(Ready)
        case ended(String, String)
        case interrupted
    }

    /// Waits for the server and makes the login side of the forward: through the login node's
    /// hpcserve, or by the laptop itself.
    func loginSideReady(lastLeft: String) async throws -> LoginSideResult {
        while true {
            if context.interrupts.fired { return .interrupted }
            if let delegate = login.delegate {
                let argv = [delegate, "watch", job, "--detach", "--json"]
                let r = try await login.remote.run(
                    Invocation(argv, environment: ["NO_COLOR": "1"], timeout: 3600))
                if context.interrupts.fired { return .interrupted }
                guard r.status == 0 else {
                    // Its own one-line reason (the job failed, the node cannot be reached…).
                    if case .found(let s) = try await login.slurm.query(job), s.isActive {
                        let line = r.stderr.split(separator: "\n").first { $0.contains("error:") }
                        throw RemoteError(line: line.map(String.init) ?? r.lastLine, job: job, host: host)
                    }
                    let s = await login.slurm.ending(job) ?? ""
                    return .ended(s, "")
                }
                guard let ready = try? JSONDecoder().decode(RemoteReady.self, from: Data(r.stdout.utf8)) else {
                    throw LoginError.remoteUnreadable(
                        version: login.remoteVersion ?? "hpcserve",
                        what: Validate.show(String(r.stdout.prefix(60))) + " for 'watch --json'")
                }
                let (info, _) = try await login.waitForConnection(job: job, seconds: 5)
                guard let info else { continue }  // it ended in between: squeue tells
                return .ready(
                    Ready(
                        info: info, loginSocket: ready.loginSocket, port: 0, timeLeft: ready.timeLeft ?? lastLeft))
            }
            let (info, text) = try await login.waitForConnection(job: job, seconds: 30)
            if context.interrupts.fired { return .interrupted }
            guard let info else {
                if !text.isEmpty {
                    throw LoginError.remoteUnreadable(version: "job script", what: "an unreadable connection.json")
                }
                // Not yet: is the job still there?
                switch try await login.slurm.query(job) {
                case .found(let s) where !s.isActive: return .ended(s.state, s.reason)
                case .gone: return .ended("", "")
                default: continue
                }
            }
            let socket: String
            if let reverse = info.reverseSocket {
                socket = reverse
            } else {
                status.change("job \(job) on \(info.node): the server answers; forwarding on \(host)")
                socket = try await openLoginForward(info)
            }
            return .ready(Ready(info: info, loginSocket: socket, port: 0, timeLeft: lastLeft))
        }
    }

    /// The login side of the forward made by the laptop, the way the login node's watcher makes
    /// it (`Watcher.connect`): ssh to the node, or through the job (srun --overlap … sshd -i, its
    /// keys made on the login node) where node_ssh says no or the node refuses.
    func openLoginForward(_ info: ConnectionInfo) async throws -> String {
        var through = JobSSH(job: job, directory: login.paths.directory(jobID: job), node: info.node)
        through.sshd = options.sshd
        let viaJob = { [login, job] () async throws -> String in
            try await through.prepare(shell: login.remote)
            return try await login.openLoginForward(job: job, info: info, via: through)
        }
        switch options.nodeSSH {
        case .yes: return try await login.openLoginForward(job: job, info: info)
        case .no: return try await viaJob()
        case .auto:
            do {
                return try await login.openLoginForward(job: job, info: info)
            } catch TunnelError.failed(_, let direct) {
                status.note("ssh to \(info.node) failed (\(direct)); going through the job (srun --overlap)")
                do {
                    return try await viaJob()
                } catch TunnelError.failed(_, let message) {
                    throw TunnelError.failed(
                        node: info.node, message: "\(direct), and through the job (srun --overlap): \(message)")
                }
            }
        }
    }

    /// `-O forward` of 127.0.0.1:PORT on the laptop, then the app's check through it.
    func forwardLaptopEnd(_ ready: Ready) async throws -> Int {
        guard let app = Apps.named(ready.info.app) else {
            throw LoginError.remoteUnreadable(version: "job script", what: "an unknown app \(ready.info.app)")
        }
        let preferred = options.laptopPort ?? app.laptopPort
        var tried: Set<Int> = []
        while true {
            let port = try LaptopPort.choose(fixed: options.laptopPort, preferred: preferred, skipping: tried)
            if let complaint = try await connection.forward(port: port, to: ready.loginSocket) {
                // Taken between the check and ssh's bind: the next one, unless it was fixed.
                if options.laptopPort != nil || tried.count >= 5 {
                    throw LaptopError.forwardFailed(port: port, message: complaint)
                }
                tried.insert(port)
                continue
            }
            if port != preferred {
                status.note("port \(preferred) is taken on this laptop; using \(port)")
            }
            try await check(app, ready: ready, port: port)
            return port
        }
    }

    /// The app's authenticated request through the laptop end (Jupyter: /api/status with the
    /// token must give 200), a few times while the forward settles; the forward is cancelled
    /// when it never answers.
    func check(_ app: AppProfile, ready: Ready, port: Int) async throws {
        var detail = "no answer"
        if await answers(app, ready: ready, port: port, tries: 20, detail: &detail) { return }
        await connection.cancel(port: port, to: ready.loginSocket)
        throw TunnelError.notAnswering(detail + " on the laptop's 127.0.0.1:\(port)")
    }

    func answers(_ app: AppProfile, ready: Ready, port: Int, tries: Int) async -> Bool {
        var detail = ""
        return await answers(app, ready: ready, port: port, tries: tries, detail: &detail)
    }

    func answers(_ app: AppProfile, ready: Ready, port: Int, tries: Int, detail: inout String) async -> Bool {
        for attempt in 0..<tries {
            if attempt > 0 { await context.sleep(0.25) }
            switch app.forwardCheck {
            case .httpWithToken(let path):
                let code = SocketProbe.httpStatus(
                    port: port, path: path, headers: ["Authorization": "token \(ready.info.token)"])
                if code == 200 { return true }
                detail = code.map { "HTTP \($0) for \(path)" } ?? "no answer"
            case .httpAny(let path):
                if SocketProbe.httpStatus(port: port, path: path) != nil { return true }
                detail = "no HTTP answer"
            case .connect:
                if SocketProbe.accepts(port: port) { return true }
                detail = "connection refused"
            }
        }
        return false
    }

    func report(_ ready: Ready, client: (url: String, lines: [(String, String)])) {
        let by = ["ssh", "-N", "-L", "\(ready.port):\(ready.loginSocket)", host].map(ShellQuote.quote)
            .joined(separator: " ")
        if options.json {
            context.output.stdout(
                JSONOutput.line(
                    ReadySession(
                        jobID: Int(job) ?? ready.info.jobID, app: ready.info.app, node: ready.info.node,
                        loginSocket: ready.loginSocket, laptopCommand: by, url: client.url, token: ready.info.token,
                        user: ready.info.user, timeLeft: ready.timeLeft.isEmpty ? nil : ready.timeLeft,
                        log: login.paths.log(jobID: job), laptopPort: ready.port)))
            return
        }
        var lines = [("Forwarded", "127.0.0.1:\(ready.port) on this laptop -> \(host)")] + client.lines
        if !ready.timeLeft.isEmpty { lines.append(("Time left", ready.timeLeft)) }
        let width = lines.map(\.0.count).max() ?? 0
        context.output.stdout(
            lines.map { "\($0.0 + ":")\(String(repeating: " ", count: width - $0.0.count + 2))\($0.1)" }
                .joined(separator: "\n") + "\n")
    }

    /// Opens the URL in a browser when there is a terminal (never for --json or without one).
    func browse(_ url: String) async {
        let argv = Browser.argv(url: url, environment: context.environment)
        let r = try? await context.runner.run(Invocation(argv, timeout: 15, output: .appendToFile("/dev/null")))
        if r?.status != 0 {
            context.note("could not open a browser (\(argv[0])); open the URL yourself")
        }
    }

    /// The foreground after the URL works: the master checked every 10 s and re-made with
    /// backoff when the network dropped (a drop never cancels the job); every 30 s the time
    /// left (squeue through the master) and the app's check through the laptop end, which
    /// re-makes the login side when it stopped answering.
    func stay(
        _ ready: Ready, client: (url: String, lines: [(String, String)])
    ) async throws -> ExitCode {
        var ready = ready
        let app = Apps.named(ready.info.app)!
        var lastSqueue = context.now()
        var recheck = false
        while true {
            if context.interrupts.fired { return try await interrupted(ready: ready) }
            if await !connection.isAlive() {
                status.note("the connection to \(host) dropped; reconnecting")
                guard try await reconnect() else { return try await interrupted(ready: ready) }
                if let complaint = try await connection.forward(port: ready.port, to: ready.loginSocket) {
                    throw LaptopError.forwardFailed(port: ready.port, message: complaint)
                }
                recheck = true
            }
            if recheck || context.now() - lastSqueue >= 30 {
                lastSqueue = context.now()
                switch try? await login.slurm.query(job) {
                case .found(let s) where !s.isActive: return await ended(state: s.state, reason: s.reason, ready: ready)
                case .gone: return await ended(state: "", reason: "", ready: ready)
                case .found(let s):
                    status.show("job \(job) on \(ready.info.node): \(s.timeLeft) left; Ctrl-C to stop watching")
                default: break
                }
                if await answers(app, ready: ready, port: ready.port, tries: 4) {
                    if recheck { status.note("reconnected to \(host); \(client.url) works again") }
                    recheck = false
                } else {
                    status.note("\(client.url) does not answer; re-making the forward on \(host)")
                    guard case .ready(let again) = try await loginSideReady(lastLeft: "") else { continue }
                    if again.loginSocket != ready.loginSocket {
                        await connection.cancel(port: ready.port, to: ready.loginSocket)
                        if let complaint = try await connection.forward(port: ready.port, to: again.loginSocket) {
                            throw LaptopError.forwardFailed(port: ready.port, message: complaint)
                        }
                    }
                    ready.loginSocket = again.loginSocket
                    ready.info = again.info
                    recheck = true
                }
            }
            await context.sleep(options.tunnelCheck)
        }
    }

    /// Logs in again with backoff (2 s doubling to a minute), one line per try; false when
    /// interrupted first.
    func reconnect() async throws -> Bool {
        var backoff = 2.0
        while !context.interrupts.fired {
            do {
                try await connection.connect(interactive: context.isTerminal)
                return true
            } catch let error as LoginError {
                status.note("still no connection to \(host) (\(error.description)); next try in \(Int(backoff)) s")
                await context.sleep(backoff)
                backoff = min(backoff * 2, 60)
            }
        }
        return false
    }

    /// `body` through the master; when the connection dropped, logs in again and repeats it.
    func remote<T>(_ body: () async throws -> T) async throws -> T {
        while true {
            do {
                return try await body()
            } catch LoginError.lost(_, let message) {
                status.note("the connection to \(host) dropped (\(message)); reconnecting")
                guard try await reconnect() else { throw LoginError.lost(host: host, message: message) }
            }
        }
    }

    /// The job is over: close the laptop end, say how it ended with the log's tail.
    func ended(state: String, reason: String, ready: Ready?) async -> ExitCode {
        status.finish()
        if let ready { await connection.cancel(port: ready.port, to: ready.loginSocket) }
        await forget()
        var how = state.isEmpty ? (await login.slurm.ending(job) ?? "ended (Slurm no longer knows it)") : state
        if !reason.isEmpty, reason != "None" { how += " (\(reason))" }
        let log = "log on \(host): \(login.paths.log(jobID: job))"
        if ready != nil, state == "COMPLETED" || state == "TIMEOUT" {
            context.note("job \(job) \(how); \(log)")
            return .success
        }
        context.output.stderr(
            "hpcserve: error: job \(job) \(how)\(ready != nil ? "" : " before its server was ready"); \(log)\n")
        let tail = await login.logTail(job: job, lines: 8)
        if !tail.isEmpty {
            context.output.stderr(tail.split(separator: "\n").map { "  | \($0)" }.joined(separator: "\n") + "\n")
        }
        return .failure
    }

    /// Removes the laptop's record of the job, and the master when nothing else uses it.
    func forget() async {
        LaptopRecord.remove(connection, job: job)
        if LaptopRecord.jobs(connection).isEmpty { await connection.exit() }
    }

    /// Ctrl-C: ask whether to cancel the job (or follow --cancel-on-exit; keep it without a terminal).
    func interrupted(ready: Ready?) async throws -> ExitCode {
        status.finish()
        var cancel = options.cancelOnExit
        if !cancel, context.isTerminal, let answer = context.ask("\nCancel job \(job) too? [y/N] ") {
            cancel = answer.lowercased().hasPrefix("y")
        }
        if cancel {
            try? await login.slurm.cancel(job)
            _ = await login.closeLoginSide(job: job)
            if let ready { await connection.cancel(port: ready.port, to: ready.loginSocket) }
            await forget()
            context.note("cancelled job \(job) and closed its forwards")
        } else {
            if ready == nil, (LaptopRecord.read(connection, job: job)?.port ?? 0) == 0 { await forget() }
            let kept = ready.map { " and http://localhost:\($0.port) stays forwarded" } ?? ""
            context.note(
                "job \(job) keeps running\(kept). Reattach: hpcserve --host \(host) watch \(job); stop: "
                    + "hpcserve --host \(host) stop \(job)")
        }
        return .interrupted
    }
}

/// The part of the login node's `watch --json` answer the laptop needs.
struct RemoteReady: Decodable {
    var jobID: Int
    var loginSocket: String
    var timeLeft: String?

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id"
        case loginSocket = "login_socket"
        case timeLeft = "time_left"
    }
}

/// The login node's hpcserve could not make the login side, and said why.
struct RemoteError: UserFacingError {
    let line: String
    let job: String
    let host: String
    /// The user had the job cancelled after it (the cancel offer).
    var cancelled = false
    var description: String {
        let said = line.replacingOccurrences(of: "hpcserve: error: ", with: "")
        if cancelled { return "on \(host): \(said) (job \(job) is cancelled; nothing left to stop)" }
        return "on \(host): \(said) (job \(job) is still running; reattach: hpcserve --host \(host) watch \(job); "
            + "stop: hpcserve --host \(host) stop \(job))"
    }
    var exitCode: ExitCode { .failure }
}

/// What went wrong after the job was submitted, with the job's state and the way back.
struct JobNotReached: UserFacingError {
    let inner: any UserFacingError
    let job: String
    let state: String
    let host: String
    static let active: Set = ["PENDING", "RUNNING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED"]
    var description: String {
        let next =
            Self.active.contains(state)
            ? "reattach: hpcserve --host \(host) watch \(job); stop: hpcserve --host \(host) stop \(job)"
            : "nothing left to stop"
        return "\(inner.description) [job \(job) is \(state); \(next)]"
    }
    var exitCode: ExitCode { inner.exitCode }
}

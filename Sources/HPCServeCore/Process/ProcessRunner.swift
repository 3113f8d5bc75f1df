import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One program to run: argv (never a shell string), environment changes, stdin, limits.
public struct Invocation: Sendable, Equatable {
    public enum Output: Sendable, Equatable {
        /// Captured into the result (up to `outputLimit` bytes).
        case capture
        /// Appended to a file: for `ssh -f`, whose daemon would otherwise hold our pipe open.
        case appendToFile(String)
    }

    public var argv: [String]
    /// Variables set (or, with nil, removed) on top of this process's environment, or on top
    /// of an empty one when `inheritEnvironment` is false.
    public var environment: [String: String?]
    public var inheritEnvironment = true
    /// The child's working directory (nil: ours).
    public var directory: String?
    public var stdin: String?
    /// Seconds before the process is sent SIGTERM (then SIGKILL 2 s later).
    public var timeout: Double
    public var output: Output
    public var outputLimit: Int

    public init(
        _ argv: [String], environment: [String: String?] = [:], inheritEnvironment: Bool = true,
        directory: String? = nil, stdin: String? = nil,
        timeout: Double = 60, output: Output = .capture, outputLimit: Int = 1 << 20
    ) {
        self.argv = argv
        self.environment = environment
        self.inheritEnvironment = inheritEnvironment
        self.directory = directory
        self.stdin = stdin
        self.timeout = timeout
        self.output = output
        self.outputLimit = outputLimit
    }

    public var displayName: String { argv.first ?? "?" }
}

/// How a program ended and what it printed. A non-zero status is data, not an error.
public struct ProcessResult: Sendable, Equatable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var timedOut: Bool

    public init(status: Int32, stdout: String = "", stderr: String = "", timedOut: Bool = false) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
    }

    /// The last non-empty stderr line (or stdout's), for error messages.
    public var lastLine: String { Self.lastLine(of: stderr.isEmpty ? stdout : stderr) }

    /// The last non-empty line of `text`. ssh ends its lines with \r\n when it has a terminal,
    /// and "\r\n" is one Character: split at any line break.
    public static func lastLine(of text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .last { !$0.isEmpty } ?? ""
    }
}

/// The seam between hpcserve and the programs it runs (sbatch, squeue, scancel, ssh).
public protocol ProcessRunner: Sendable {
    func run(_ invocation: Invocation) async throws -> ProcessResult
}

/// A required program could not be started.
public struct ToolMissing: UserFacingError {
    public let tool: String
    public init(tool: String) { self.tool = tool }
    public var description: String {
        switch tool {
        case "ssh":
            return "cannot run 'ssh': not found on PATH; install the OpenSSH client or put it on PATH"
        case "sbatch", "squeue", "scancel", "sacct", "scontrol", "srun":
            return
                "cannot run '\(tool)': not found on PATH; run hpcserve on a login node of a Slurm cluster "
                + "(or load the slurm module)"
        default:
            return "cannot run '\(tool)': not found on PATH"
        }
    }
    public var exitCode: ExitCode { .unavailable }
}

/// Runs real processes with posix_spawn. Each run gets its own thread that polls both pipes
/// and the child (no pipe can fill up, no cooperative thread blocks), enforces the timeout
/// with SIGTERM then SIGKILL, and stops reading shortly after the child exits even if a
/// grandchild still holds the pipes.
public struct LiveProcessRunner: ProcessRunner {
    public init() {}

    public func run(_ invocation: Invocation) async throws -> ProcessResult {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try Self.runBlocking(invocation))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Held from creating a child's pipes until it is spawned (see `makePipe`).
    static let spawnLock = NSLock()

    /// `package`: the tests' Spawn runs through it, so `swift build -c release` needs no `@testable`.
    package static func runBlocking(_ inv: Invocation) throws -> ProcessResult {
        guard let program = inv.argv.first else { throw ToolMissing(tool: "") }
        guard let path = resolve(program) else { throw ToolMissing(tool: program) }

        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        var inPipe: [Int32] = [-1, -1]
        spawnLock.lock()
        var locked = true
        defer { if locked { spawnLock.unlock() } }
        guard makePipe(&inPipe) else { throw POSIXError(.EMFILE) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_addclose(&actions, inPipe[1])
        switch inv.output {
        case .capture:
            guard makePipe(&outPipe), makePipe(&errPipe) else { throw POSIXError(.EMFILE) }
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
            for fd in [outPipe[0], errPipe[0], outPipe[1], errPipe[1]] {
                posix_spawn_file_actions_addclose(&actions, fd)
            }
        case .appendToFile(let file):
            posix_spawn_file_actions_addopen(&actions, 1, file, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        posix_spawn_file_actions_addclose(&actions, inPipe[0])

        var attributes = posix_spawnattr_t()
        cleanSignalAttributes(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        var env = inv.inheritEnvironment ? ProcessInfo.processInfo.environment : [:]
        for (key, value) in inv.environment { env[key] = value }
        // posix_spawn_file_actions_addchdir_np is not in Swift's Glibc module: sh changes
        // directory, then execs the program (its argv is passed as words, never as a string).
        var spawnPath = path
        var argv = inv.argv
        if let directory = inv.directory {
            spawnPath = "/bin/sh"
            argv = ["sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", directory, path] + inv.argv.dropFirst()
        }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }

        var pid = pid_t()
        let rc = posix_spawn(&pid, spawnPath, &actions, &attributes, cArgs, cEnv)
        spawnLock.unlock()
        locked = false
        close(inPipe[0])
        if case .capture = inv.output {
            close(outPipe[1])
            close(errPipe[1])
        }
        guard rc == 0 else {
            close(inPipe[1])
            if case .capture = inv.output {
                close(outPipe[0])
                close(errPipe[0])
            }
            throw ToolMissing(tool: program)
        }

        // stdin: small inputs (scripts) fit the pipe buffer; write in full, then close.
        if let input = inv.stdin {
            var bytes = Array(input.utf8)[...]
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { write(inPipe[1], $0.baseAddress, $0.count) }
                if n <= 0 {
                    if errno == EINTR { continue }
                    break
                }
                bytes = bytes.dropFirst(n)
            }
        }
        close(inPipe[1])

        var out = [UInt8]()
        var err = [UInt8]()
        var fds: [Int32] = []
        if case .capture = inv.output {
            fds = [outPipe[0], errPipe[0]]
            for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        }
        let start = Date()
        var exitStatus: Int32?
        var exitedAt: Date?
        var timedOut = false
        var termSentAt: Date?
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if exitStatus == nil {
                var status: Int32 = 0
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid {
                    exitStatus = Self.exitStatus(status)
                    exitedAt = Date()
                }
            }
            let open = fds.filter { $0 >= 0 }
            if open.isEmpty, exitStatus != nil { break }
            // After the child exits, read what is left for a moment, then stop: an `ssh -f`
            // grandchild can keep the pipe open forever.
            if let exitedAt, Date().timeIntervalSince(exitedAt) > 0.3 { break }
            if exitStatus == nil {
                let elapsed = Date().timeIntervalSince(start)
                if elapsed > inv.timeout, termSentAt == nil {
                    timedOut = true
                    kill(pid, SIGTERM)
                    termSentAt = Date()
                } else if let sent = termSentAt, Date().timeIntervalSince(sent) > 2 {
                    kill(pid, SIGKILL)
                }
            }
            var pfds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&pfds, nfds_t(pfds.count), pfds.isEmpty ? 0 : 50)
            if pfds.isEmpty { usleep(20_000) }
            for p in pfds where p.revents != 0 {
                let n = read(p.fd, &buffer, buffer.count)
                if n > 0 {
                    if p.fd == outPipe[0] {
                        if out.count < inv.outputLimit { out += buffer[0..<min(n, inv.outputLimit - out.count)] }
                    } else if err.count < inv.outputLimit {
                        err += buffer[0..<min(n, inv.outputLimit - err.count)]
                    }
                } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                    if let i = fds.firstIndex(of: p.fd) {
                        close(p.fd)
                        fds[i] = -1
                    }
                }
            }
        }
        for fd in fds where fd >= 0 { close(fd) }
        if exitStatus == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exitStatus = 137
        }
        return ProcessResult(
            status: exitStatus ?? 1, stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self), timedOut: timedOut)
    }

    /// The shell's convention: the exit code, or 128 + the signal that ended the process.
    static func exitStatus(_ waitStatus: Int32) -> Int32 {
        (waitStatus & 0x7f) == 0 ? (waitStatus >> 8) & 0xff : 128 + (waitStatus & 0x7f)
    }

    /// A pipe whose ends are close-on-exec, so a child spawned at the same moment by another
    /// thread does not inherit them (it would keep our child's stdin open, or our pipes).
    static func makePipe(_ fds: inout [Int32]) -> Bool {
        // pipe2(O_CLOEXEC) is not exported by Glibc's Swift module; pipe + fcntl is safe here
        // because every spawn happens under `spawnLock`, which the caller holds.
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    /// `name` looked up on PATH (or used as is when it contains a slash).
    static func resolve(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

/// Initialises `attributes` so that the child starts with an empty signal mask and default
/// handlers: the spawning thread may block signals (runtime threads do), and a child that
/// inherited a blocked or ignored SIGTERM could not be stopped.
func cleanSignalAttributes(_ attributes: inout posix_spawnattr_t) {
    posix_spawnattr_init(&attributes)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for sig in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&defaults, sig) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var noMask = sigset_t()
    sigemptyset(&noMask)
    posix_spawnattr_setsigmask(&attributes, &noMask)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
}

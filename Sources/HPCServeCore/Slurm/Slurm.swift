import Foundation

/// What squeue says about one job.
public struct JobStatus: Sendable, Equatable {
    /// PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT, …
    public var state: String
    /// Node list ("" while pending).
    public var nodes: String
    /// The scheduler's reason (Priority, Resources, None, …).
    public var reason: String
    /// Time left, in Slurm's format ("1:59:40", "UNLIMITED", "INVALID").
    public var timeLeft: String
    /// Start time, or the scheduler's estimate while pending ("N/A" when it has none).
    public var startTime: String

    public init(state: String, nodes: String = "", reason: String = "", timeLeft: String = "", startTime: String = "") {
        self.state = state
        self.nodes = nodes
        self.reason = reason
        self.timeLeft = timeLeft
        self.startTime = startTime
    }

    public static let activeStates: Set<String> = [
        "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED",
        "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT",
    ]
    public var isActive: Bool { Self.activeStates.contains(state) }
    /// The first node of the allocation (`node[01-02]` is never expected: hpcserve jobs have one node).
    public var firstNode: String { String(nodes.split(separator: ",").first ?? "") }
}

/// The answer to "how is job N?".
public enum JobQuery: Sendable, Equatable {
    case found(JobStatus)
    /// squeue no longer knows it (finished and purged, or a wrong id).
    case gone
    /// slurmctld did not answer: transient, try again later.
    case unreachable(String)
    /// Any other failure of squeue.
    case failed(String)
}

public enum SlurmError: UserFacingError, Equatable {
    case commandFailed(argv: [String], status: Int32, stderrTail: String)
    case submitFailed(String)
    case badJobID(String)

    public var description: String {
        switch self {
        case .commandFailed(let argv, let status, let tail):
            return "'\(argv.joined(separator: " "))' failed (exit \(status)): \(tail.isEmpty ? "no message" : tail)"
        case .submitFailed(let tail):
            return "sbatch refused the job: \(tail); fix the option it names and try again"
        case .badJobID(let id):
            return "\(Validate.show(id)) is not a job id; give the number sbatch printed (e.g. 4242)"
        }
    }

    public var exitCode: ExitCode {
        if case .badJobID = self { return .usage }
        return .failure
    }
}

/// The Slurm commands hpcserve uses, through the process seam. Never reimplemented.
public struct Slurm: Sendable {
    public let runner: any ProcessRunner
    public init(runner: any ProcessRunner) { self.runner = runner }

    /// Checks a job id given on the command line.
    public static func jobID(_ text: String) throws -> String {
        guard text.isASCIIDigits, text.utf8.count <= 10 else {
            throw SlurmError.badJobID(text)
        }
        return text
    }

    /// `sbatch --parsable` with the script on stdin; returns the job id.
    public func submit(script: String) async throws -> String {
        let r = try await runner.run(Invocation(["sbatch", "--parsable"], stdin: script, timeout: 120))
        guard r.status == 0 else {
            throw SlurmError.submitFailed(r.lastLine.replacingOccurrences(of: "sbatch: error: ", with: ""))
        }
        // --parsable prints "ID" or "ID;cluster".
        let id = String(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first ?? "")
        return try Self.jobID(id)
    }

    static let format = "%T|%N|%r|%L|%S"

    /// One squeue call for one job id, all states. Throws only when squeue cannot be run at
    /// all (`ToolMissing`): retrying would not help.
    public func query(_ job: String) async throws -> JobQuery {
        let argv = ["squeue", "--noheader", "--jobs=\(job)", "--states=all", "--format=\(Self.format)"]
        let r: ProcessResult
        do {
            r = try await runner.run(Invocation(argv, timeout: 60))
        } catch let error as ToolMissing {
            throw error
        } catch {
            return .failed("cannot run squeue: \(error)")
        }
        return Self.parseQuery(r)
    }

    /// Several jobs at once (for `list`): job id → status; missing ids are gone.
    public func query(jobs: [String]) async throws -> [String: JobStatus] {
        if jobs.isEmpty { return [:] }
        let argv = [
            "squeue", "--noheader", "--jobs=\(jobs.joined(separator: ","))", "--states=all",
            "--format=%i|\(Self.format)",
        ]
        let r = try await runner.run(Invocation(argv, timeout: 60))
        if r.status != 0, !r.stderr.contains("Invalid job id") {
            throw SlurmError.commandFailed(argv: ["squeue"], status: r.status, stderrTail: r.lastLine)
        }
        var out: [String: JobStatus] = [:]
        for line in r.stdout.split(separator: "\n") {
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 6 else { continue }
            out[f[0]] = JobStatus(state: f[1], nodes: f[2], reason: f[3], timeLeft: f[4], startTime: f[5])
        }
        return out
    }

    static func parseQuery(_ r: ProcessResult) -> JobQuery {
        let err = r.stderr
        if err.contains("Unable to contact slurm controller") || err.contains("Socket timed out") || r.timedOut {
            return .unreachable(r.lastLine.isEmpty ? "squeue timed out" : r.lastLine)
        }
        if err.contains("Invalid job id") { return .gone }
        guard r.status == 0 else { return .failed(r.lastLine) }
        guard let line = r.stdout.split(separator: "\n").first else { return .gone }
        let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard f.count >= 5 else { return .failed("unexpected squeue output: \(line)") }
        return .found(JobStatus(state: f[0], nodes: f[1], reason: f[2], timeLeft: f[3], startTime: f[4]))
    }

    /// How a finished job ended, from sacct where accounting exists, else scontrol.
    public func ending(_ job: String) async -> String? {
        if let r = try? await runner.run(
            Invocation(["sacct", "-n", "-X", "-P", "-j", job, "-o", "State,ExitCode,Reason"], timeout: 30)),
            r.status == 0, let line = r.stdout.split(separator: "\n").first
        {
            let f = line.split(separator: "|").map(String.init)
            if let state = f.first { return f.count > 1 ? "\(state), exit code \(f[1])" : state }
        }
        if let r = try? await runner.run(Invocation(["scontrol", "show", "job", job], timeout: 30)), r.status == 0 {
            let words = r.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })
            let state = words.first { $0.hasPrefix("JobState=") }?.dropFirst("JobState=".count)
            let exit = words.first { $0.hasPrefix("ExitCode=") }?.dropFirst("ExitCode=".count)
            if let state { return exit.map { "\(state), exit code \($0)" } ?? String(state) }
        }
        return nil
    }

    /// `scancel JOB`.
    public func cancel(_ job: String) async throws {
        let argv = ["scancel", job]
        let r = try await runner.run(Invocation(argv, timeout: 60))
        guard r.status == 0 else {
            throw SlurmError.commandFailed(argv: argv, status: r.status, stderrTail: r.lastLine)
        }
    }
}

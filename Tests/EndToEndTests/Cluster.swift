import Foundation
import HPCServeCore
import HPCServeTestSupport
import Testing

extension Tag {
    /// Needs the real test cluster (Tests/Cluster/up) and HPCSERVE_E2E=1.
    @Tag static var endToEnd: Self
}

/// Why the end-to-end tests cannot run here, or nil when they can.
let clusterUnavailable: String? = {
    let env = ProcessInfo.processInfo.environment
    guard env["HPCSERVE_E2E"] == "1" else {
        return
            "end-to-end tests skipped: run 'sudo Tests/Cluster/up', then 'HPCSERVE_E2E=1 swift test' as "
            + "root (.ci/run does both)"
    }
    return nil
}()

/// Every end-to-end suite lives in here: one job at a time on the two-node cluster, and all
/// skipped, with the reason printed, unless HPCSERVE_E2E=1.
@Suite(
    .serialized, .tags(.endToEnd), .enabled(if: clusterUnavailable == nil, Comment(rawValue: clusterUnavailable ?? "")))
enum EndToEnd {}

/// The result of a command run on a cluster host.
struct Run: CustomStringConvertible {
    let status: Int32
    let output: String
    var ok: Bool { status == 0 }
    var trimmed: String { output.trimmingCharacters(in: .whitespacesAndNewlines) }
    var description: String { "status \(status): \(output)" }
}

enum ClusterError: Error, CustomStringConvertible {
    case notUp(String)
    case timeout(String)
    case failed(String)
    var description: String {
        switch self {
        case .notUp(let s), .timeout(let s), .failed(let s): return s
        }
    }
}

/// Access to the test cluster: run commands as a user on a host, submit jobs, wait.
enum Cluster {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let onScript = packageRoot + "/Tests/Cluster/on"
    /// hpcserve installed like a site would (on every user's PATH), whatever the clone's permissions.
    static let binary = "/usr/local/bin/hpcserve"

    /// Checks the cluster is up and installs the freshly built binary for the users.
    static func prepare() throws {
        guard FileManager.default.fileExists(atPath: "/run/netns/login") else {
            throw ClusterError.notUp("HPCSERVE_E2E=1 but the test cluster is not up: run 'sudo Tests/Cluster/up' first")
        }
        let built = packageRoot + "/.build/debug/hpcserve"
        guard FileManager.default.isExecutableFile(atPath: built) else {
            throw ClusterError.notUp("no \(built): run 'swift build' before the end-to-end tests")
        }
        let install = try local(["install", "-D", "-m", "0755", built, binary])
        guard install.ok else { throw ClusterError.failed("cannot install \(binary): \(install)") }
    }

    /// Runs `hpcserve ARGS` (a bash word list) on login as `user`; a failure is an error.
    @discardableResult
    static func hpcserve(_ user: String, _ args: String) throws -> Run {
        let r = try on("login", user, "hpcserve \(args)")
        guard r.ok else { throw ClusterError.failed("hpcserve \(args) failed: \(r)") }
        return r
    }

    /// Runs `command` (bash) on `host` as `user` through Tests/Cluster/on.
    @discardableResult
    static func on(_ host: String, _ user: String, _ command: String, timeout: Int = 120) throws -> Run {
        try local(["timeout", String(timeout), onScript, host, user, command])
    }

    /// Runs a program in the root namespace, output to a file (no pipe to fill).
    @discardableResult
    static func local(_ argv: [String], input: String? = nil) throws -> Run {
        let r = try Spawn.run(argv, input: input)
        return Run(status: r.status, output: r.output)
    }

    /// Polls `condition` every `interval` seconds until it is true or `seconds` pass.
    static func waitFor(_ what: String, seconds: Double = 60, interval: Double = 0.5, _ condition: () throws -> Bool)
        throws
    {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            Thread.sleep(forTimeInterval: interval)
        }
        throw ClusterError.timeout("timed out after \(Int(seconds)) s waiting for \(what)")
    }

    /// A fresh scratch directory in the user's home (0700), removed by `cleanup`.
    static func scratch(_ user: String, _ name: String) throws -> String {
        let dir = "/home/\(user)/e2e-\(name)"
        try on("login", user, "rm -rf \(dir) && mkdir -m 700 \(dir)")
        return dir
    }

    /// Writes `text` to `path` as `user` (mode 0600 unless given).
    static func write(_ user: String, _ path: String, _ text: String, mode: String = "600") throws {
        let r = try local(
            ["runuser", "-u", user, "--", "bash", "-c", "umask 077; cat > \"$1\" && chmod \(mode) \"$1\"", "_", path],
            input: text)
        guard r.ok else { throw ClusterError.failed("cannot write \(path) as \(user): \(r)") }
    }

    /// `sbatch --parsable FILE` as `user` on login; returns the job id.
    static func submit(_ user: String, _ script: String) throws -> String {
        let r = try on("login", user, "sbatch --parsable \(script)")
        let id = r.trimmed.split(separator: ";").first.map(String.init) ?? ""
        guard r.ok, !id.isEmpty, id.allSatisfy(\.isNumber) else { throw ClusterError.failed("sbatch failed: \(r)") }
        return id
    }

    /// The job's state and node from squeue (all states), e.g. ("RUNNING", "node01").
    static func state(_ user: String, _ job: String) throws -> (String, String) {
        let r = try on("login", user, "squeue -h -t all -j \(job) -o '%T %N'")
        let parts = r.trimmed.split(separator: " ", maxSplits: 1).map(String.init)
        return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
    }

    /// Waits until connection.json exists and returns it parsed (read as root).
    static func connection(_ user: String, _ job: String, seconds: Double = 120) throws -> [String: Any] {
        let path = "/home/\(user)/.hpcserve/jobs/\(job)/connection.json"
        try waitFor("connection.json of job \(job)", seconds: seconds) {
            if FileManager.default.fileExists(atPath: path) { return true }
            let (state, _) = try state(user, job)
            if ["FAILED", "CANCELLED", "COMPLETED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"].contains(state) {
                throw ClusterError.failed("job \(job) ended (\(state)) before connection.json: \(log(user, job))")
            }
            return false
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ClusterError.failed("connection.json is not an object")
        }
        return json
    }

    static func log(_ user: String, _ job: String) -> String {
        (try? String(contentsOfFile: "/home/\(user)/.hpcserve/jobs/\(job).log", encoding: .utf8)) ?? "(no log)"
    }

    /// scancel and wait until the job has left the running states.
    static func cancel(_ user: String, _ job: String) throws {
        try on("login", user, "scancel \(job)")
        try waitForEnd(user, job)
    }

    /// Waits until Slurm has the job in none of the running states (completing included).
    static func waitForEnd(_ user: String, _ job: String, seconds: Double = 40) throws {
        try waitFor("job \(job) to end", seconds: seconds) {
            !["RUNNING", "PENDING", "COMPLETING", "CONFIGURING"].contains(try state(user, job).0)
        }
    }

    /// The job id of hpcserve's "submitted job N" line in `output`.
    static func submittedJob(_ output: String) -> String? {
        output.split(separator: "\n").first { $0.contains("submitted job ") }?
            .components(separatedBy: "submitted job ").last?.split(separator: " ").first.map(String.init)
    }

    /// Processes of `user` on the machine (PID namespaces are shared: one `ps` sees all hosts).
    static func processes(_ user: String) throws -> String {
        try local(["ps", "-u", user, "-o", "pid=,args="]).output
    }
}

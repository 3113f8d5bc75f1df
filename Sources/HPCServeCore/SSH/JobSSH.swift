import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Whether hpcserve may ssh to compute nodes (the `node_ssh` setting, or `HPCSERVE_NODE_SSH`).
public enum NodeSSH: String, Sendable, CaseIterable {
    /// ssh to the node directly.
    case yes
    /// Never: always through the job (srun --overlap).
    case no
    /// Directly, and through the job when the node refuses.
    case auto
}

/// The way into a job where nobody may ssh to compute nodes: OpenSSH over a Slurm step in the
/// user's own job. The ssh client's ProxyCommand is `srun --overlap --jobid=J … sshd -i`: an
/// sshd in inetd mode, run as the user inside the job for this one connection, speaking SSH on
/// the step's stdin/stdout. It listens on nothing (no port another user could reach); OpenSSH
/// multiplexes every forwarded connection over the one step. Its host key and the client key
/// are made per job in the private session directory (0600), never in the script; host keys
/// are checked strictly against that key (HostKeyAlias), not trusted on first use.
public struct JobSSH: Sendable {
    public let job: String
    /// The job's session directory on the login node (shared with the node).
    public let directory: String
    public let node: String
    /// sshd on the node (`HPCSERVE_SSHD`, default /usr/sbin/sshd).
    public var sshd = "/usr/sbin/sshd"

    public init(job: String, directory: String, node: String) {
        self.job = job
        self.directory = directory
        self.node = node
    }

    /// The host key's path when it is not the job's own (`hpcserve proxy`: one per user).
    public var hostKeyPath: String?
    public var hostKey: String { hostKeyPath ?? directory + "/" + Self.keyFiles[0] }
    public var clientKey: String { directory + "/" + Self.keyFiles[2] }

    /// The key files `prepare` makes in the session directory, which `stop` removes.
    public static let keyFiles = [
        "job_ssh_host_key", "job_ssh_host_key.pub", "job_ssh_client_key", "job_ssh_client_key.pub",
    ]

    /// sshd on the nodes: `HPCSERVE_SSHD` (an absolute plain path) or /usr/sbin/sshd.
    static func sshd(_ context: Context) throws -> String {
        guard let v = try context.variable("HPCSERVE_SSHD") else { return "/usr/sbin/sshd" }
        guard v.startsWith(scalars: "/") else {
            throw UsageError("environment variable HPCSERVE_SSHD must be an absolute path to sshd on the nodes")
        }
        return try Validate.charset(v, option: "environment variable HPCSERVE_SSHD", allowed: "_.-/+", what: "path")
    }
    public var config: String { directory + "/job_sshd_config" }
    public var knownHosts: String { directory + "/job_ssh_known_hosts" }
    public var alias: String { "hpcserve-job-\(job)" }

    /// The step: one task on the job's node, no GPU (it must not wait for a busy one),
    /// unbuffered (SSH is binary, not lines).
    public var proxyCommand: String {
        "srun --overlap --jobid=\(job) --nodelist=\(node) --nodes=1 --ntasks=1 --gres=none --unbuffered --quiet "
            + "\(sshd) -i -f \(config)"
    }

    /// The step as argv (`hpcserve proxy` execs it, standard input and output passed on).
    public var stepArgv: [String] {
        [
            "srun", "--overlap", "--jobid=\(job)", "--nodelist=\(node)", "--nodes=1", "--ntasks=1", "--gres=none",
            "--unbuffered", "--quiet", sshd, "-i", "-f", config,
        ]
    }

    /// Options for any ssh client that goes this way.
    public var sshOptions: [String] {
        [
            "-o", "ProxyCommand=\(proxyCommand)", "-o", "HostKeyAlias=\(alias)", "-o",
            "UserKnownHostsFile=\(knownHosts)",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
            "-i", clientKey,
        ]
    }

    /// The per-connection sshd's configuration: keys only (the user's own and this job's
    /// client key), no passwords, no PAM, nothing written outside the session directory.
    public var sshdConfig: String {
        """
        # hpcserve: sshd -i for job \(job), run as you inside the job by srun --overlap (no port)
        HostKey \(hostKey)
        AuthorizedKeysFile .ssh/authorized_keys \(clientKey).pub
        PubkeyAuthentication yes
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        PidFile none
        PermitRootLogin no
        PermitUserEnvironment no
        X11Forwarding no
        AllowTcpForwarding local
        AllowStreamLocalForwarding local
        PrintMotd no
        Subsystem sftp internal-sftp
        LogLevel ERROR

        """
    }

    /// Makes the keys, the sshd configuration and the known_hosts line (once per job).
    public func prepare(runner: any ProcessRunner) async throws {
        _ = try SessionPaths.ensurePrivateDirectory(directory)
        try await makeKeys([hostKey, clientKey], runner: runner)
        try PrivateFile.write(config, sshdConfig)
        let pub = try String(contentsOfFile: hostKey + ".pub", encoding: .utf8).split(separator: " ").prefix(2)
            .joined(separator: " ")
        try PrivateFile.write(knownHosts, "\(alias) \(pub)\n")
    }

    /// `prepare` as one command for a POSIX shell on another host: the laptop runs it on the login
    /// node through its master when the login node has no hpcserve (the same files, the same
    /// checks: a private directory, no symbolic links, 0600).
    static let prepareScript = """
        umask 077; d=$1 alias=$2 host=$3 client=$4 config=$5 known=$6 text=$7
        [ -d "$d" ] || mkdir -m 700 "$d" || exit 1
        if [ -L "$d" ] || [ ! -O "$d" ] || [ -n "$(find "$d" -maxdepth 0 -perm /077)" ]; then
          echo "$d is not private (a symbolic link, not yours, or open to other users)" >&2; exit 1
        fi
        for k in "$host" "$client"; do
          [ -e "$k" ] || ssh-keygen -q -t ed25519 -N '' -C "$alias" -f "$k" </dev/null >&2 || exit 1
        done
        for f in "$config" "$known"; do
          if [ -L "$f" ]; then echo "$f is a symbolic link" >&2; exit 1; fi
        done
        printf '%s' "$text" >"$config" && chmod 600 "$config" || exit 1
        read -r type key _ <"$host.pub" || exit 1
        printf '%s %s %s\n' "$alias" "$type" "$key" >"$known" && chmod 600 "$known"
        """

    /// `prepare` through `shell` (a `RemoteRunner`: on the login node, for the laptop).
    public func prepare(shell: any ProcessRunner) async throws {
        let r = try await shell.run(
            Invocation(
                [
                    "sh", "-c", Self.prepareScript, "sh", directory, alias, hostKey, clientKey, config, knownHosts,
                    sshdConfig,
                ],
                timeout: 60))
        guard r.status == 0 else {
            throw TunnelError.failed(node: node, message: "the job's ssh keys: \(r.lastLine)")
        }
    }

    /// Only the host key (`hpcserve ssh-config` prints its public half).
    public func prepareHostKey(runner: any ProcessRunner) async throws {
        try await makeKeys([hostKey], runner: runner)
    }

    func makeKeys(_ keys: [String], runner: any ProcessRunner) async throws {
        for key in keys where !FileManager.default.fileExists(atPath: key) {
            let r = try await runner.run(
                Invocation(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", alias, "-f", key], timeout: 30))
            guard r.status == 0 else {
                throw TunnelError.failed(node: node, message: "ssh-keygen for the job's ssh: \(r.lastLine)")
            }
        }
    }
}

/// A small file only its owner may read, written in place (not through a symbolic link).
enum PrivateFile {
    static func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw FileError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        defer { Glibc_close(fd) }
        _ = fchmod(fd, 0o600)
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Foundation.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw FileError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
    }
}

import Foundation

/// The ssh connection to the job's node, opened as soon as squeue names the node, while the
/// server is still starting (seconds): when connection.json appears, only `ssh -O forward`
/// through it (a message on a local socket) and the check through the forward remain.
///
/// It is the same control master a `Tunnel` makes (same control socket, same options, its
/// output to ssh.log), without the forward yet. Its remote command ends, and with it the
/// master and every forward through it, when the job's connection.json has appeared and then
/// its server has exited or the file is gone (the job cleans it up as it ends); it also ends
/// if no connection.json appears within `waitLimit` seconds, or when the master is closed.
/// So a forward added to it later ends by itself with the server, as one `Tunnel.open` makes.
extension Tunnel {
    /// Seconds the early master waits for connection.json before it gives up by itself.
    static let waitLimit = 900

    /// The remote command of an early master (sh: the login shell on the node may be csh).
    /// The session directory is a plain path (SessionPaths allows `[A-Za-z0-9_.+@~/-]`), the
    /// same on the node (the job writes connection.json there).
    static func earlyCommand(connectionFile: String) -> String {
        // `kill -0 $PPID`: the sshd session this runs under; gone when the master is closed. Every
        // 0.1 s: a job that is ready and then ends before a look leaves this waiting (waitLimit).
        let wait =
            "i=0; until [ -e \"$f\" ] || [ $i -ge \(waitLimit * 10) ]; do kill -0 $PPID 2>/dev/null || exit 0; "
            + "sleep 0.1; i=$((i+1)); done"
        let pid = "p=$(sed -n \"s/^ *\\\"pid\\\": *\\([0-9][0-9]*\\).*/\\1/p\" \"$f\" 2>/dev/null)"
        let stay =
            "while [ -e \"$f\" ] && { [ -z \"$p\" ] || kill -0 \"$p\"; } 2>/dev/null && kill -0 $PPID 2>/dev/null; "
            + "do sleep 1; done"
        return "sh -c 'f=\(connectionFile); \(wait); \(pid); \(stay)'"
    }

    /// Opens the master to `node`, without a forward. Only a stale control socket of ours is
    /// removed first (call it when no master answers there): `socket` may be the job's own
    /// reverse tunnel, made by sshd at the same path.
    public func openEarly() async throws {
        try Self.removeOwnSocket(control)
        let argv = [
            "ssh", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "ControlPersist=no",
            "-o", "ServerAliveInterval=30", "-o", "ServerAliveCountMax=3", "-o", "StreamLocalBindMask=0177",
            "-M", "-S", control, "-f", "--", node, Self.earlyCommand(connectionFile: directory + "/connection.json"),
        ]
        let r = try await runner.run(Invocation(argv, timeout: 60, output: .appendToFile(log)))
        guard r.status == 0 else { throw TunnelError.failed(node: node, message: Self.lastLine(log, r.status)) }
    }

    /// Adds the forward (`socket` to `target`) to a master opened by `openEarly`; throws if
    /// there is no such master or ssh could not bind (the caller then opens a fresh `Tunnel`).
    public func addForward() async throws {
        try Self.removeOwnSocket(socket)
        let argv = ["ssh", "-S", control, "-O", "forward", "-L", "\(socket):\(target)", "--", node]
        let r = try await runner.run(Invocation(argv, timeout: 10, output: .appendToFile(log)))
        guard r.status == 0 else { throw TunnelError.failed(node: node, message: Self.lastLine(log, r.status)) }
    }

    /// Stops the master (and a forward through it) and removes the control socket; leaves
    /// `socket` alone (see `openEarly`).
    public func closeMaster() async {
        if FileManager.default.fileExists(atPath: control) {
            _ = try? await runner.run(Invocation(["ssh", "-S", control, "-O", "exit", "--", node], timeout: 10))
        }
        try? Self.removeOwnSocket(control)
    }

    static func lastLine(_ log: String, _ status: Int32) -> String {
        (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").last.map(String.init)
            ?? "ssh exit \(status)"
    }
}

/// Which node the watcher holds an early master to (none, or one); shared by the watcher's
/// steps, which are values.
final class EarlyMasters: @unchecked Sendable {
    private let lock = NSLock()
    private var node: String?

    /// The node of the open early master, if any.
    var current: String? { lock.withLock { node } }

    func set(_ value: String?) { lock.withLock { node = value } }
}

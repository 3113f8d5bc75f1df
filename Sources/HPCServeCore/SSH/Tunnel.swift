import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

public enum TunnelError: UserFacingError {
    case failed(node: String, message: String)
    case notAnswering(String)

    public var description: String {
        switch self {
        case .failed(let node, let message):
            return
                "cannot forward to \(node): \(message); check that 'ssh \(node)' works from this login node "
                + "without a password"
        case .notAnswering(let detail):
            return "the forward is up but the server does not answer through it (\(detail)); see the job log"
        }
    }
    public var exitCode: ExitCode { .failure }
}

/// The login-side forward: a Unix socket in the private session directory, relayed by a
/// backgrounded `ssh -M -S ctl -f -N -L SOCK:TARGET NODE` that is stopped through its
/// control socket. ssh's output goes to a file, never to our pipes.
public struct Tunnel: Sendable {
    public let runner: any ProcessRunner
    public let directory: String
    public let node: String
    /// Where on the node: a socket path or 127.0.0.1:PORT.
    public let target: String
    /// The server's PID on the node: the forward's ssh runs `while kill -0 PID` there instead
    /// of `-N`, so it ends by itself when the server does (no ssh left relaying to nothing).
    public let serverPID: Int?
    /// Through the job (srun --overlap … sshd -i) instead of ssh to the node.
    public var via: JobSSH?

    public init(
        runner: any ProcessRunner, directory: String, node: String, target: String, serverPID: Int? = nil,
        via: JobSSH? = nil
    ) {
        self.runner = runner
        self.directory = directory
        self.node = node
        self.target = target
        self.serverPID = serverPID
        self.via = via
    }

    public var socket: String { directory + "/server.sock" }
    public var control: String { directory + "/ctl.sock" }
    public var log: String { directory + "/ssh.log" }

    /// Opens the forward, first removing a stale socket of ours (ssh never unlinks it).
    public func open() async throws {
        try Self.removeOwnSocket(socket)
        await close()
        let r = try await runner.run(Invocation(argv, timeout: 60, output: .appendToFile(log)))
        guard r.status == 0 else {
            let text = String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self)
            let said = ProcessResult.lastLine(of: text)
            let tail = said.isEmpty ? "ssh exit \(r.status)" : said
            throw TunnelError.failed(node: node, message: tail)
        }
    }

    /// The backgrounded forward: `ssh … -M -S ctl -f -L SOCKET:TARGET NODE` (also run on the login
    /// node by a laptop when hpcserve is not installed there).
    public var argv: [String] {
        [
            "ssh", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "ControlPersist=no",
            "-o", "ServerAliveInterval=30", "-o", "ServerAliveCountMax=3", "-o", "StreamLocalBindMask=0177",
            "-M", "-S", control, "-f",
        ] + (via?.sshOptions ?? []) + (serverPID == nil ? ["-N"] : []) + ["-L", "\(socket):\(target)", "--", node]
            // sh -c: the user's login shell on the node may be csh.
            + (serverPID.map { ["sh -c 'while kill -0 \($0) 2>/dev/null; do sleep 1; done'"] } ?? [])
    }

    /// True while the ssh master answers on its control socket.
    public func isAlive() async -> Bool {
        guard let r = try? await runner.run(Invocation(["ssh", "-S", control, "-O", "check", "--", node], timeout: 10))
        else { return false }
        return r.status == 0
    }

    /// Stops the ssh master and removes both sockets; true if a master answered and exited.
    @discardableResult
    public func close() async -> Bool {
        var stopped = false
        if FileManager.default.fileExists(atPath: control) {
            let r = try? await runner.run(Invocation(["ssh", "-S", control, "-O", "exit", "--", node], timeout: 10))
            stopped = r?.status == 0
        }
        try? Self.removeOwnSocket(socket)
        try? Self.removeOwnSocket(control)
        return stopped
    }

    /// Removes `path` if it is a socket owned by us; refuses anything else.
    static func removeOwnSocket(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK, st.st_uid == getuid() else {
            throw FileError.notOurSocket(path: path)
        }
        unlink(path)
    }
}

/// A tiny HTTP/1.0 client over a Unix socket: enough to prove the server answers and the
/// token works, end to end through the forward.
public enum SocketProbe {
    /// The HTTP status for GET `path`, or nil if nothing answered.
    public static func httpStatus(socket: String, path: String, headers: [String: String] = [:], timeout: Double = 10)
        -> Int?
    {
        httpStatus(fd: Self.connect(socket, timeout: timeout), path: path, headers: headers)
    }

    /// The HTTP status for GET `path` on 127.0.0.1:`port` (the laptop end of a forward).
    public static func httpStatus(port: Int, path: String, headers: [String: String] = [:], timeout: Double = 10)
        -> Int?
    {
        httpStatus(fd: connectLoopback(port: port, timeout: timeout), path: path, headers: headers)
    }

    /// True if something accepts a connection on 127.0.0.1:`port`.
    public static func accepts(port: Int) -> Bool {
        let fd = connectLoopback(port: port, timeout: 5)
        guard fd >= 0 else { return false }
        Glibc_close(fd)
        return true
    }

    static func httpStatus(fd: Int32, path: String, headers: [String: String]) -> Int? {
        guard fd >= 0 else { return nil }
        defer { Glibc_close(fd) }
        var request = "GET \(path) HTTP/1.0\r\nHost: localhost\r\n"
        for (k, v) in headers { request += "\(k): \(v)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        var got = [UInt8]()
        while got.count < 12 {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            got += buffer[0..<n]
        }
        let line = String(decoding: got, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/") else { return nil }
        return Int(parts[1])
    }

    /// True if something accepts a connection on the socket.
    public static func accepts(socket: String) -> Bool {
        let fd = Self.connect(socket, timeout: 5)
        guard fd >= 0 else { return false }
        Glibc_close(fd)
        return true
    }

    /// A connected TCP socket to 127.0.0.1:`port`, or -1.
    static func connectLoopback(port: Int, timeout: Double) -> Int32 {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return -1 }
        setTimeouts(fd, timeout)
        var addr = loopback(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            Glibc_close(fd)
            return -1
        }
        return fd
    }

    /// 127.0.0.1:`port` as a socket address.
    static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        #if canImport(Darwin)
            addr.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(truncatingIfNeeded: port)).bigEndian
        addr.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
        return addr
    }

    /// True when nothing holds 127.0.0.1:`port` (binding it works; it is released at once).
    public static func loopbackPortIsFree(_ port: Int) -> Bool {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { Glibc_close(fd) }
        var addr = loopback(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rc == 0
    }

    static func setTimeouts(_ fd: Int32, _ timeout: Double) {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    static func connect(_ path: String, timeout: Double) -> Int32 {
        #if canImport(Glibc)
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return -1 }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        let bytes = Array(path.utf8)
        guard bytes.count < capacity else {
            Glibc_close(fd)
            return -1
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            Glibc_close(fd)
            return -1
        }
        return fd
    }
}

@inline(__always) func Glibc_close(_ fd: Int32) {
    #if canImport(Glibc)
        _ = Glibc.close(fd)
    #else
        _ = Darwin.close(fd)
    #endif
}

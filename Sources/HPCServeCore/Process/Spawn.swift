import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a program to completion with its stdin and output connected to files, and reaps it
/// itself with waitpid (Foundation's Process can miss a child's exit on Linux).
/// Blocking: for tests and short helper commands, not for the watcher's long-lived children.
public enum Spawn {
    public struct Result: Sendable {
        public let status: Int32
        public let output: String
    }

    /// `argv[0]` is looked up on PATH. Output (stdout and stderr together) is returned;
    /// `environment` nil means this process's environment.
    public static func run(_ argv: [String], environment: [String: String]? = nil, input: String? = nil,
                           directory: String? = nil) throws -> Result {
        let dir = NSTemporaryDirectory() + "hpcserve-spawn-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outPath = dir + "/out", inPath = dir + "/in"
        FileManager.default.createFile(atPath: inPath, contents: Data((input ?? "").utf8))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, input == nil ? "/dev/null" : inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        // Run through env(1) so PATH lookup, the environment and the directory are its job.
        var args = ["/usr/bin/env"]
        if let environment {
            args += ["-i"] + environment.map { "\($0.key)=\($0.value)" }
        }
        var program = argv
        if let directory {
            program = ["sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", directory] + argv
        }
        args += program
        let cArgs = args.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid = pid_t()
        var attributes = posix_spawnattr_t()
        cleanSignalAttributes(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        let rc = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, cArgs, environ)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw POSIXError(.ECHILD) }
        }
        let exit: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        return Result(status: exit, output: output)
    }
}

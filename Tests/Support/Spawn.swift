import Foundation

import HPCServeCore

/// Runs a program to completion for a test, on the calling thread, through hpcserve's own
/// runner (one spawner): stdout and stderr together, through a file (no pipe to fill).
/// Blocking by design: for synchronous test helpers, never for the code under test.
public enum Spawn {
    public struct Result: Sendable {
        public let status: Int32
        public let output: String
    }

    /// `argv[0]` is looked up on PATH; `environment` nil means this process's environment,
    /// otherwise exactly the given variables.
    public static func run(
        _ argv: [String], environment: [String: String]? = nil, input: String? = nil,
        directory: String? = nil, timeout: Double = 600
    ) throws -> Result {
        let dir = NSTemporaryDirectory() + "hpcserve-spawn-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/out"
        var invocation = Invocation(
            argv, directory: directory, stdin: input, timeout: timeout, output: .appendToFile(log))
        if let environment {
            invocation.inheritEnvironment = false
            invocation.environment = environment.mapValues { Optional($0) }
        }
        let r = try LiveProcessRunner.runBlocking(invocation)
        return Result(status: r.status, output: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}

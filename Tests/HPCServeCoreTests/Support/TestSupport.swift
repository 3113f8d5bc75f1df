import Foundation
import HPCServeTestSupport
import Testing

@testable import HPCServeCore

extension Tag {
    /// Runs real bash / shellcheck on generated scripts.
    @Tag static var shell: Self
    /// Golden files under Snapshots/.
    @Tag static var golden: Self
}

/// The result of one in-process run of the CLI.
struct CLIResult {
    let code: ExitCode
    let stdout: String
    let stderr: String
}

/// A private temporary directory, removed when the value is dropped by `cleanup()`.
struct TempDir {
    let path: String
    init() throws {
        var template = Array((NSTemporaryDirectory() + "hpcserve-test.XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: p)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Runs hpcserve in-process with a fixed, golden-friendly environment.
func runCLI(_ args: [String], home: String = "/home/alice", extraEnv: [String: String] = [:], cwd: String = "/tmp")
    async -> CLIResult
{
    var env = [
        "HOME": home, "NO_COLOR": "1", "COLUMNS": "80", "TERM": "dumb", "XDG_CONFIG_HOME": "/nonexistent-config",
        "HPCSERVE_SITE_CONFIG": "/nonexistent-site-config",
    ]
    env.merge(extraEnv) { $1 }
    let out = CapturedOutput()
    let code = await HPCServe.run(args, context: Context(environment: env, output: out, workingDirectory: cwd))
    return CLIResult(code: code, stdout: out.standardOutput, stderr: out.standardError)
}

/// A home directory whose ~/.hpcserve may be created, for commands that create it.
func withHome<T>(_ body: (String) async throws -> T) async throws -> T {
    let dir = try TempDir()
    defer { dir.cleanup() }
    return try await body(dir.path)
}

/// Result of running an external program.
struct ProgramResult {
    let status: Int32
    let output: String
}

/// Runs a program with output to a temporary file (no pipe to fill), waiting for it to end.
func runProgram(_ argv: [String], environment: [String: String]? = nil, input: String? = nil, cwd: String? = nil) throws
    -> ProgramResult
{
    let r = try Spawn.run(argv, environment: environment, input: input, directory: cwd)
    return ProgramResult(status: r.status, output: r.output)
}

/// Writes an executable script through a child process: a file written by this (threaded)
/// test process can be inherited open by a child another test spawns at that moment, and
/// exec'ing it then fails with "Text file busy".
func writeExecutable(_ path: String, _ text: String) throws {
    let r = try Spawn.run(["bash", "-c", "cat > \"$1\" && chmod 755 \"$1\"", "_", path], input: text)
    guard r.status == 0 else { throw POSIXError(.EIO) }
}

/// The hpcserve binary `swift build` / `swift test` built next to this test bundle, or nil.
func builtBinary() -> String? {
    let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    for candidate in [
        bundleDir.appendingPathComponent("hpcserve"), root.appendingPathComponent(".build/debug/hpcserve"),
    ]
    where FileManager.default.isExecutableFile(atPath: candidate.path) {
        return candidate.path
    }
    return nil
}

/// What the built binary did: exit status (128 + N for signal N), and its two streams apart.
struct BinaryResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs the built hpcserve as a child process. `arguments` is bash text after the program name,
/// so a test can give bytes that are not UTF-8 (`$'out\xff.sh'`); `environment` is bash text too.
func runBinary(_ arguments: String, environment: String = "", cwd: String? = nil) throws -> BinaryResult {
    guard let binary = builtBinary() else {
        Issue.record("no built hpcserve binary next to the tests; run 'swift build' first")
        return BinaryResult(status: -1, stdout: "", stderr: "")
    }
    let dir = try TempDir()
    defer { dir.cleanup() }
    let line = "\(environment) \"$1\" \(arguments) >\"$2\"/out 2>\"$2\"/err; echo $? >\"$2\"/status"
    let r = try runProgram(["bash", "-c", line, "_", binary, dir.path], cwd: cwd)
    let read = { (name: String) in (try? String(contentsOfFile: dir.file(name), encoding: .utf8)) ?? "" }
    guard r.status == 0, let status = Int32(read("status").trimmingCharacters(in: .whitespacesAndNewlines)) else {
        Issue.record("could not run the binary: \(r.output)")
        return BinaryResult(status: -1, stdout: "", stderr: "")
    }
    return BinaryResult(status: status, stdout: read("out"), stderr: read("err"))
}

/// Where a command lives on PATH, or nil.
func which(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// Checks a script with `bash -n` and `shellcheck`; records an issue for each problem.
/// `severity` "style" holds our own templates to every note; hostile literal values may
/// rightly draw an "info" note (SC2016: `$(` inside single quotes is literal — the point).
func expectValidBash(
    _ text: String, _ what: String, severity: String = "style", sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let path = dir.file("script.sh")
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    let syntax = try runProgram(["bash", "-n", path])
    #expect(syntax.status == 0, "bash -n on \(what): \(syntax.output)", sourceLocation: sourceLocation)
    guard which("shellcheck") != nil else {
        Issue.record(
            "shellcheck is not installed (apt-get install shellcheck); .ci/run installs it",
            sourceLocation: sourceLocation)
        return
    }
    let lint = try runProgram(["shellcheck", "-s", "bash", "-S", severity, path])
    #expect(lint.status == 0, "shellcheck on \(what):\n\(lint.output)", sourceLocation: sourceLocation)
}

/// Compares `actual` with Snapshots/NAME; HPCSERVE_RECORD=1 writes it instead.
/// A missing snapshot fails (record it once, then review the file).
func expectSnapshot(_ actual: String, named name: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Snapshots")
    let file = dir.appendingPathComponent(name)
    if ProcessInfo.processInfo.environment["HPCSERVE_RECORD"] == "1" {
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? actual.write(to: file, atomically: true, encoding: .utf8)
        return
    }
    guard let expected = try? String(contentsOf: file, encoding: .utf8) else {
        Issue.record(
            Comment(
                rawValue: "no snapshot \(name); run HPCSERVE_RECORD=1 swift test and review "
                    + "Tests/HPCServeCoreTests/Snapshots/\(name)"),
            sourceLocation: sourceLocation)
        return
    }
    if expected != actual {
        let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let line = zip(e, a).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(e.count, a.count)
        let exp = line < e.count ? String(e[line]) : "<end>"
        let act = line < a.count ? String(a[line]) : "<end>"
        Issue.record(
            Comment(
                rawValue: "\(name) differs from its snapshot at line \(line + 1):\n  expected: \(exp)\n  actual:   "
                    + "\(act)\n(re-record with HPCSERVE_RECORD=1 if the change is intended)"),
            sourceLocation: sourceLocation)
    }
}

/// What an app needs on its command line to render at all (a new app with a required option
/// adds it here): `tensorboard` a log directory, `web` a command.
let appRequired: [String: [String]] = [
    "tensorboard": ["--logdir", "runs"],
    "web": ["--command", "webapp --port {port}"],
]

/// `app` and the options it requires.
func appWords(_ app: String) -> [String] { [app] + (appRequired[app] ?? []) }

/// The whole program: arguments in, exit code out. `main.swift` only calls this.
public enum HPCServe {
    /// The program for arguments as the kernel gave them: refuses one that is not UTF-8.
    public static func run(rawArguments: [[UInt8]], context: Context) async -> ExitCode {
        let arguments: [String]
        do {
            arguments = try RawInput(arguments: rawArguments, environment: []).decodedArguments()
        } catch {
            return report(error, context: context)
        }
        return await run(arguments, context: context)
    }

    public static func run(_ arguments: [String], context: Context) async -> ExitCode {
        do {
            return try await dispatch(arguments, context: context)
        } catch {
            return report(error, context: context)
        }
    }

    /// The one place an error reaches the user: one line on stderr, characters that do not
    /// print shown escaped (a value in a message must not drive the terminal).
    static func report(_ error: any Error, context: Context) -> ExitCode {
        let (message, code): (String, ExitCode)
        if let error = error as? any UserFacingError {
            (message, code) = (error.description, error.exitCode)
        } else {
            (message, code) = ("internal error: \(error); please report it", .software)
        }
        context.output.stderr("hpcserve: error: \(Validate.escapeNonPrinting(message))\n")
        return code
    }

    static func dispatch(_ arguments: [String], context: Context) async throws -> ExitCode {
        guard let first = arguments.first else {
            context.output.stderr(Help.fit(Help.main))
            return .usage
        }
        let rest = Array(arguments.dropFirst())
        switch first {
        case "-h", "--help", "help":
            // `help help`, `help --help`: the main help (asking again would never end).
            if let topic = rest.first, !["-h", "--help", "help"].contains(topic) {
                return try await dispatch([topic, "--help"], context: context)
            }
            context.output.stdout(Help.fit(Help.main))
            return .success
        case "--version", "version":
            context.output.stdout("hpcserve \(ScriptRenderer.version)\n")
            return .success
        case "script":
            return try ScriptCommand.run(rest, context: context)
        case "snippet":
            return try SnippetCommand.run(rest, context: context)
        case "watch":
            return try await WatchCommand.watch(rest, context: context)
        case "list":
            return try await SessionsCommand.list(rest, context: context)
        case "stop":
            return try await SessionsCommand.stop(rest, context: context)
        default:
            if let app = Apps.named(first) {
                return try await WatchCommand.submit(app: app, rest, context: context)
            }
            let commands = ["script", "snippet", "watch", "list", "stop", "help", "version"] + Apps.all.map(\.name)
            let hint = Suggest.closest(to: first, in: commands).map { "; did you mean '\($0)'?" } ?? "; see 'hpcserve --help'"
            throw UsageError("unknown command \(Validate.show(first))\(hint)")
        }
    }
}

/// The whole program: arguments in, exit code out. `main.swift` only calls this.
public enum HPCServe {
    public static func run(_ arguments: [String], context: Context) async -> ExitCode {
        do {
            return try await dispatch(arguments, context: context)
        } catch let error as any UserFacingError {
            context.output.stderr("hpcserve: error: \(error.description)\n")
            return error.exitCode
        } catch {
            context.output.stderr("hpcserve: error: internal error: \(error); please report it\n")
            return .software
        }
    }

    static func dispatch(_ arguments: [String], context: Context) async throws -> ExitCode {
        guard let first = arguments.first else {
            context.output.stderr(Help.main)
            return .usage
        }
        let rest = Array(arguments.dropFirst())
        switch first {
        case "-h", "--help", "help":
            if let topic = rest.first { return try await dispatch([topic, "--help"], context: context) }
            context.output.stdout(Help.main)
            return .success
        case "--version", "version":
            context.output.stdout("hpcserve \(ScriptRenderer.version)\n")
            return .success
        case "script":
            return try ScriptCommand.run(rest, context: context)
        case "snippet":
            return try SnippetCommand.run(rest, context: context)
        default:
            let commands = ["script", "snippet", "help", "version"]
            if Apps.named(first) != nil {
                throw UsageError("submitting and watching ('hpcserve \(first)') is not built yet; use 'hpcserve script \(first) ... > job.sh' and 'sbatch job.sh'")
            }
            let hint = Suggest.closest(to: first, in: commands).map { "; did you mean '\($0)'?" } ?? "; see 'hpcserve --help'"
            throw UsageError("unknown command \(Validate.show(first))\(hint)")
        }
    }
}

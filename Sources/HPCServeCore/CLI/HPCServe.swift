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
        let (host, rest) = try Laptop.takeHost(arguments, context: context)
        var context = context
        context.remoteHost = host
        return try await Commands.dispatch(rest, context: context)
    }
}

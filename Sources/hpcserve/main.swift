import Foundation
import HPCServeCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

signal(SIGPIPE, SIG_IGN)
let interrupts = Interrupts()
interrupts.install()
// Arguments and environment as bytes: nothing that is not UTF-8 is silently rewritten.
let input = RawInput.ofThisProcess()
let (environment, undecodable) = input.decodedEnvironment()
let context = Context(
    environment: environment,
    undecodableEnvironment: undecodable,
    output: StandardStreams(),
    workingDirectory: RawInput.workingDirectory(),
    interrupts: interrupts,
    isTerminal: TerminalInfo.stderrIsTerminal,
    ask: { TerminalInfo.ask($0) }
)
let code = await HPCServe.run(rawArguments: input.arguments, context: context)
exit(code.rawValue)

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
let context = Context(
    environment: ProcessInfo.processInfo.environment,
    output: StandardStreams(),
    workingDirectory: FileManager.default.currentDirectoryPath,
    interrupts: interrupts,
    isTerminal: TerminalInfo.stderrIsTerminal,
    ask: { TerminalInfo.ask($0) }
)
let code = await HPCServe.run(Array(CommandLine.arguments.dropFirst()), context: context)
exit(code.rawValue)

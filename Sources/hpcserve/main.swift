import Foundation
import HPCServeCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

signal(SIGPIPE, SIG_IGN)
let context = Context(
    environment: ProcessInfo.processInfo.environment,
    output: StandardStreams(),
    workingDirectory: FileManager.default.currentDirectoryPath
)
let code = await HPCServe.run(Array(CommandLine.arguments.dropFirst()), context: context)
exit(code.rawValue)

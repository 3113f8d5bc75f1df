/// What a command may use from the outside world, passed explicitly (no globals).
public struct Context: Sendable {
    public var environment: [String: String]
    public var output: any OutputSink
    /// The directory relative paths are resolved against.
    public var workingDirectory: String

    public init(environment: [String: String], output: any OutputSink, workingDirectory: String) {
        self.environment = environment
        self.output = output
        self.workingDirectory = workingDirectory
    }

    /// A one-line warning on stderr.
    public func warn(_ message: String) { output.stderr("hpcserve: warning: \(message)\n") }
    /// A one-line note on stderr.
    public func note(_ message: String) { output.stderr("hpcserve: \(message)\n") }

    /// `path` made absolute against the working directory.
    public func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : workingDirectory + "/" + path
    }
}

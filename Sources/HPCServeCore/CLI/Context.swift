import Foundation

/// What a command may use from the outside world, passed explicitly (no globals).
public struct Context: Sendable {
    /// The environment, decoded strictly (see `RawInput`); read it through `variable(_:)`.
    public var environment: [String: String]
    /// Variables whose value is not UTF-8, with their bytes: refused when hpcserve reads them.
    public var undecodableEnvironment: [String: [UInt8]]
    public var output: any OutputSink
    /// The directory relative paths are resolved against.
    public var workingDirectory: String
    /// Runs sbatch, squeue, scancel, ssh.
    public var runner: any ProcessRunner
    /// The clock, in seconds (monotonic for the live program).
    public var now: @Sendable () -> Double
    /// Sleeps; returns early when `interrupts` fire.
    public var sleep: @Sendable (Double) async -> Void
    /// Ctrl-C / SIGTERM, noticed by long-running commands between steps.
    public var interrupts: Interrupts
    /// Whether stderr is a terminal (one redrawn status line) and stdin can answer a question.
    public var isTerminal: Bool
    /// Reads one answer from the user (nil without a terminal).
    public var ask: @Sendable (String) -> String?
    /// `--host LOGIN` / `HPCSERVE_HOST`: the cluster commands run from the laptop through ssh.
    public var remoteHost: String?

    public init(
        environment: [String: String], undecodableEnvironment: [String: [UInt8]] = [:],
        output: any OutputSink, workingDirectory: String,
        runner: any ProcessRunner = LiveProcessRunner(), interrupts: Interrupts = Interrupts(),
        isTerminal: Bool = false,
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSinceReferenceDate },
        sleep: (@Sendable (Double) async -> Void)? = nil,
        ask: @escaping @Sendable (String) -> String? = { _ in nil }
    ) {
        self.environment = environment
        self.undecodableEnvironment = undecodableEnvironment
        self.output = output
        self.workingDirectory = workingDirectory
        self.runner = runner
        self.interrupts = interrupts
        self.isTerminal = isTerminal
        self.now = now
        self.ask = ask
        // Ends early on Ctrl-C or SIGTERM: no wake-ups just to look at the flag.
        self.sleep = sleep ?? { [interrupts] seconds in await interrupts.sleep(seconds) }
    }

    /// A one-line warning on stderr (characters that do not print are shown escaped).
    public func warn(_ message: String) { output.stderr("hpcserve: warning: \(Validate.escapeNonPrinting(message))\n") }
    /// A one-line note on stderr (characters that do not print are shown escaped).
    public func note(_ message: String) { output.stderr("hpcserve: \(Validate.escapeNonPrinting(message))\n") }

    /// `path` made absolute against the working directory.
    public func absolute(_ path: String) -> String {
        path.startsWith(scalars: "/") ? path : workingDirectory + "/" + path
    }

    /// The environment variable `name`, or nil when it is unset or empty. A value hpcserve cannot use
    /// as it stands is refused with the variable's name, never ignored or rewritten: bytes that
    /// are not UTF-8, control or bidirectional characters, or a first character that joins
    /// onto whatever comes before it (a combining mark, a joiner).
    public func variable(_ name: String) throws -> String? {
        if let bytes = undecodableEnvironment[name] {
            throw UsageError(
                "environment variable \(name) is not valid UTF-8 (\(Validate.show(bytes: bytes))); set it "
                    + "to UTF-8 text or unset it"
            )
        }
        guard let value = environment[name], !value.isEmpty else { return nil }
        try Validate.basic(value, option: "environment variable \(name)")
        if let first = value.unicodeScalars.first, !Validate.isPrinting(first) {
            throw UsageError(
                "environment variable \(name) value \(Validate.show(value)) starts with a character that "
                    + "joins onto the one before it or does not print; set it to a plain value or unset it"
            )
        }
        return value
    }
}

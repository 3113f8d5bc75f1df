/// Everything a job script is made from, validated: built once from flags, rendered once.
public struct JobSpec: Sendable {
    public var app: AppProfile
    public var time: String?
    public var partition: String?
    public var account: String?
    public var qos: String?
    public var cpusPerTask: Int?
    public var memory: String?
    public var gpus: String?
    public var gres: String?
    public var jobName: String
    public var constraint: String?
    public var reservation: String?
    /// `false` only with `--shared` (a warning is printed).
    public var exclusive = true
    public var modules: [String] = []
    /// The user's own setup lines: trusted code, placed verbatim.
    public var setupLines: [String] = []
    /// Further sbatch options from after `--`, already checked (`--name=value`).
    public var extraSbatch: [String] = []
    public var listen: ListenMode
    public var reverseTunnel = false
    /// Seconds the script waits for the server to answer.
    public var readyTimeout = 300
    /// App-specific template values by variable name.
    public var appValues: [String: String] = [:]
    /// The private session root, `~/.hpcserve` unless HPCSERVE_DIR says otherwise.
    public var sessionRoot: String

    public init(app: AppProfile, sessionRoot: String) {
        self.app = app
        self.sessionRoot = sessionRoot
        self.jobName = "hpcserve-\(app.name)"
        self.listen = app.listenModes[0]
        for variable in app.options.compactMap(\.templateVariable) { appValues[variable.name] = variable.defaultValue }
    }

    /// Seconds before the time limit at which Slurm tells the script to stop cleanly.
    public var stopGraceSeconds: Int {
        guard let time, let minutes = try? Validate.minutes(time) else { return 120 }
        return minutes <= 10 ? 60 : 120
    }
}

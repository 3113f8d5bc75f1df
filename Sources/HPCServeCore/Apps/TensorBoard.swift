extension Apps {
    /// TensorBoard on 127.0.0.1 (it has no Unix socket and no login of its own).
    public static let tensorboard: AppProfile = {
        var profile = AppProfile(
            name: "tensorboard",
            title: "TensorBoard",
            summary: "TensorBoard (--logdir DIR; no login of its own: 127.0.0.1 behind a private socket)",
            listenModes: [.tcp],
            secret: .token,
            probe: .http(path: "/"),
            urlPath: "/",
            laptopPort: 6006,
            options: [
                .appValue(
                    ["--logdir"], value: "DIR",
                    help: "the event files to show (required; relative to where you submit)",
                    variable: "TENSORBOARD_LOGDIR", default: "", completion: .files
                ) {
                    try Validate.path($0, option: "--logdir")
                }
            ],
            notes: [
                "TensorBoard has no login: anyone who reaches its port sees your runs. It binds 127.0.0.1 on",
                "this exclusive node, and forwards reach it only through a 0700 socket that checks the port is",
                "this job's; those are its only protection (with --shared, other jobs' users can reach it).",
                "--load_fast=false: the fast loader would open a second, unchecked port on the node.",
            ]
        )
        profile.templateValues = { spec in
            guard spec.appValues["TENSORBOARD_LOGDIR"]?.isEmpty == false else {
                throw UsageError(
                    "tensorboard needs --logdir DIR, the directory with your event files (e.g. --logdir runs)")
            }
            return [:]
        }
        profile.exampleModule = "python/3.11"
        profile.exampleArguments = " --logdir runs"
        profile.forwardCheck = .httpAny(path: "/")
        profile.client = { info, port in
            let url = "http://localhost:\(port)\(info.urlPath)"
            return (url, [("Then open", url)])
        }
        return profile
    }()
}

/// Where the server listens on the compute node.
public enum ListenMode: String, Sendable, CaseIterable {
    /// A Unix socket in a 0700 node-local directory (only where the app supports one).
    case socket
    /// 127.0.0.1 on a free port.
    case tcp
}

/// How the job script decides the server is up.
public enum ReadinessProbe: Sendable, Equatable {
    /// Any HTTP answer on this path (authentication is checked later by the watcher).
    case http(path: String)
    /// The port is in LISTEN state (read from /proc/net/tcp, no connection is made:
    /// pvserver takes a probe's connection for its one client).
    case tcpListen
}

/// How the per-job secret is shown to and used by the server.
public enum SecretKind: String, Sendable {
    /// 48 hex characters, given to the server by environment.
    case token
    /// 48 hex characters checked by a generated helper that reads a 0600 file.
    case password
    /// A decimal number from 1 to 2147483647 (ParaView's connect-id).
    case connectID = "connect-id"
}

/// How the watcher proves, through the finished forward, that the server really answers.
public enum ForwardCheck: Sendable, Equatable {
    /// GET path with `Authorization: token SECRET` must give 200.
    case httpWithToken(path: String)
    /// GET path must give any HTTP answer.
    case httpAny(path: String)
    /// A connection must be accepted.
    case connect
}

/// Everything hpcserve knows about one server application: data, plus one template.
/// Adding an app means one profile here and one file in `Templates/`.
public struct AppProfile: Sendable {
    /// The subcommand and template name (`jupyter` → `Templates/jupyter.sh`).
    public let name: String
    public let title: String
    /// One line for `hpcserve --help`.
    public let summary: String
    /// Listening modes the app supports, the default first.
    public let listenModes: [ListenMode]
    public let secret: SecretKind
    public let probe: ReadinessProbe
    /// The path the user opens (Jupyter `/lab`); `nil` when the client is not a browser.
    public let urlPath: String?
    /// The port suggested for the laptop end of the tunnel.
    public let laptopPort: Int
    /// The app's own options (e.g. Jupyter's `--classic`), each setting a template variable
    /// (`OptionSpec.appFlag`, `OptionSpec.appValue`): help, completions and tests pick them up.
    public let options: [OptionSpec]
    /// Lines for the script's header comment: what is special about this app.
    public let notes: [String]
    /// Further sbatch options the app needs, from its option values (e.g. `--ntasks` for ranks).
    public var sbatchOptions: @Sendable ([String: String]) -> [String] = { _ in [] }
    /// The app template's own `{{if NAME}}` conditions, from its option values (e.g. `CLASSIC`):
    /// every name the template uses, true or false, so that only the lines this job runs go in.
    public var conditions: @Sendable ([String: String]) -> [String: Bool] = { _ in [:] }
    /// The sbatch options `sbatchOptions` may write (long name without dashes), each with the
    /// app option to use instead: they cannot also come through `--`.
    public var ownedSbatchOptions: [String: String] = [:]
    public var forwardCheck: ForwardCheck = .connect
    /// A module name for the examples in help (`python/3.11`).
    public var exampleModule = "NAME"
    /// What the examples in help give after the app's name: the options it requires, if any.
    public var exampleArguments = ""
    /// Secret files the template writes into the session directory (besides connection.json),
    /// removed by `hpcserve stop`.
    public var secretFiles: [String] = []
    /// What the user opens on the laptop, given the laptop port: the URL (for --json) and
    /// labelled lines to print (URL, user, password, connect-id…).
    public var client: @Sendable (ConnectionInfo, Int) -> (url: String, lines: [(String, String)]) = { _, port in
        ("localhost:\(port)", [("Connect to", "localhost:\(port)")])
    }

    /// Template values that depend on the whole job (an option together with `--listen`), and the
    /// check that its options fit together: a `UsageError` when they do not. Each value is placed
    /// as it is, so the app quotes what needs it (`PROBE_PATH` and `URL_PATH` replace the profile's).
    public var templateValues: @Sendable (JobSpec) throws -> [String: String] = { _ in [:] }

    public var templateName: String { name + ".sh" }

    /// Whether the app takes `--container IMAGE`.
    public var runsInContainer: Bool { options.contains { $0.key == Apps.containerOption.key } }
}

public enum Apps {
    /// `--container IMAGE`, for the apps that can run in an Apptainer/Singularity image: their
    /// template puts `{{CONTAINER_PREFIX}}` before the server and asks for its binds.
    public static let containerOption = OptionSpec.appValue(
        ["--container"], value: "IMAGE", help: "run the server in this Apptainer/Singularity image (file or URI)",
        variable: "CONTAINER_IMAGE", default: "", completion: .files
    ) {
        try Validate.containerImage($0)
    }

    /// Every app, in the order help lists them.
    public static let all: [AppProfile] = [jupyter, rstudio, paraview, tensorboard, codeServer, web]

    public static func named(_ name: String) -> AppProfile? {
        all.first { $0.name == name }
    }
}

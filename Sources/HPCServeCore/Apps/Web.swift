extension Apps {
    /// Any web app: the user's own command, told where to listen through placeholders.
    public static let web: AppProfile = {
        var profile = AppProfile(
            name: "web",
            title: "Web app",
            summary: "any web app: --command 'CMD' with {host} {port} (or {socket} with --listen socket)",
            listenModes: [.tcp, .socket],
            secret: .token,
            probe: .http(path: "/"),
            urlPath: "/",
            laptopPort: 8000,
            options: [
                .appValue(
                    ["--command"], value: "CMD",
                    help: "your server's command line, verbatim (required; {host} {port} {socket}: above)",
                    variable: "WEB_COMMAND", default: ""
                ) {
                    try Validate.setupLine($0, option: "--command")
                },
                .appValue(
                    ["--probe-path"], value: "PATH", help: "any HTTP answer here means ready (default /)",
                    variable: "WEB_PROBE_PATH", default: "/"
                ) {
                    try Validate.urlPath($0, option: "--probe-path")
                },
                .appValue(
                    ["--url-path"], value: "PATH", help: "the page to open (default /)",
                    variable: "WEB_URL_PATH", default: "/"
                ) {
                    try Validate.urlPath($0, option: "--url-path")
                },
                containerOption,
            ],
            notes: [
                "Your --command is trusted code, placed verbatim like --setup lines: {host} becomes 127.0.0.1,",
                "{port} the port this job proved is its own, {socket} a socket in a 0700 node-local directory",
                "(--listen socket). Bind only there: on TCP the job stops a command found listening beyond 127.0.0.1.",
                "The per-job secret is in its environment as HPCSERVE_SECRET, for an app that can use one.",
            ]
        )
        // In an image, bash there runs the function: on the host it is a shell function of the script.
        profile.conditions = { values in
            ["SERVER_FUNCTION": values["CONTAINER_IMAGE"]?.isEmpty != false, "USER_COMMAND": true]
        }
        profile.templateValues = { spec in
            let command = spec.appValues["WEB_COMMAND"] ?? ""
            guard !command.isEmpty else {
                throw UsageError(
                    "web needs --command 'CMD', your server's command line with {host} and {port} "
                        + "(e.g. --command 'python3 -m http.server --bind {host} {port}')")
            }
            return [
                "WEB_COMMAND_LINE": try WebCommand.line(command, listen: spec.listen),
                "PROBE_PATH": ShellQuote.quote(spec.appValues["WEB_PROBE_PATH"] ?? "/"),
                "URL_PATH": ShellQuote.quote(spec.appValues["WEB_URL_PATH"] ?? "/"),
            ]
        }
        profile.exampleModule = "python/3.11"
        profile.exampleArguments = " --command 'python3 -m http.server --bind {host} {port}'"
        profile.forwardCheck = .httpAny(path: "/")
        profile.client = { info, port in
            let url = "http://localhost:\(port)\(info.urlPath)"
            return (url, [("Then open", url), ("HPCSERVE_SECRET", info.token)])
        }
        return profile
    }()
}

/// The placeholders of `web --command`, replaced by the shell words that hold their values in
/// the job; the rest of the command stays as the user wrote it.
public enum WebCommand {
    /// Each placeholder, with what replaces it and the listening mode it belongs to.
    static let placeholders: [(name: String, word: String, mode: ListenMode)] = [
        ("host", "127.0.0.1", .tcp),
        ("port", "${hpcserve_port}", .tcp),
        ("socket", "${hpcserve_node_socket}", .socket),
    ]

    /// `command` with its placeholders replaced; a `UsageError` when one is inside single quotes
    /// (the shell would not expand it there), belongs to the other listening mode, or the one
    /// that tells the app where to listen is missing.
    public static func line(_ command: String, listen: ListenMode) throws -> String {
        let scalars = Array(command.unicodeScalars)
        enum Quote { case none, single, ansi, double }
        var quote = Quote.none
        var out = String.UnicodeScalarView()
        var used: Set<String> = []
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if c == "\\", quote != .single {  // the next character is escaped: copy both
                out.append(c)
                if i + 1 < scalars.count { out.append(scalars[i + 1]) }
                i += 2
                continue
            }
            switch (quote, c) {
            case (.none, "'"): quote = .single
            case (.none, "$") where i + 1 < scalars.count && scalars[i + 1] == "'":
                out.append(c)
                out.append(scalars[i + 1])
                quote = .ansi
                i += 2
                continue
            case (.none, "\""): quote = .double
            case (.single, "'"), (.ansi, "'"), (.double, "\""): quote = .none
            case (_, "{") where i == 0 || scalars[i - 1] != "$":
                let rest = scalars[(i + 1)...]
                guard let close = rest.firstIndex(of: "}") else { break }
                let name = String(String.UnicodeScalarView(rest[..<close]))
                guard let placeholder = placeholders.first(where: { $0.name == name }) else {
                    if !name.isEmpty, name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) }),
                        let near = Suggest.closest(to: name, in: placeholders.map(\.name))
                    {
                        throw UsageError(
                            "--command has {\(name)}, which is no placeholder; did you mean {\(near)}? "
                                + "(the placeholders are {host}, {port} and {socket})")
                    }
                    break
                }
                if quote == .single || quote == .ansi {
                    throw UsageError(
                        "--command has {\(name)} inside single quotes, where the shell cannot put in its value; "
                            + "put it outside them or in double quotes")
                }
                if placeholder.mode != listen {
                    throw UsageError(
                        "--command has {\(name)}, which only --listen \(placeholder.mode.rawValue) has; "
                            + (listen == .tcp
                                ? "use {host} and {port}, or add --listen socket"
                                : "with --listen socket use {socket}, or use --listen tcp"))
                }
                used.insert(name)
                // A variable in double quotes (the user's own, or ours around it).
                let variable = placeholder.word.hasPrefix("$") && quote != .double
                out.append(contentsOf: (variable ? "\"\(placeholder.word)\"" : placeholder.word).unicodeScalars)
                i = close + 1
                continue
            default: break
            }
            out.append(c)
            i += 1
        }
        let needed = listen == .tcp ? "port" : "socket"
        guard used.contains(needed) else {
            throw UsageError(
                "--command has no {\(needed)}: your app must listen "
                    + (listen == .tcp
                        ? "on {host} at {port} (e.g. 'python3 -m http.server --bind {host} {port}')"
                        : "on {socket} (e.g. 'gunicorn --bind unix:{socket} app:app')"))
        }
        return String(out)
    }
}

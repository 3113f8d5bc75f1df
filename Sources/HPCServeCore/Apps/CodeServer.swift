extension Apps {
    /// code-server (VS Code in the browser) on a private Unix socket, with the per-job password.
    public static let codeServer: AppProfile = {
        var profile = AppProfile(
            name: "code-server",
            title: "code-server",
            summary: "code-server, VS Code in a browser (4.14.1+; password in a 0600 file, private Unix socket)",
            listenModes: [.socket, .tcp],
            secret: .password,
            probe: .http(path: "/healthz"),
            urlPath: "/",
            laptopPort: 8080,
            options: [containerOption],
            notes: [
                "The password reaches code-server in a 0600 config file in the node directory (never argv;",
                "PASSWORD and HASHED_PASSWORD are unset for it). Its settings and extensions stay in your",
                "--user-data-dir; its session socket is this job's. It needs code-server 4.14.1 or later:",
                "older ones share a session socket in /tmp. With --listen tcp any process on the node can",
                "connect to 127.0.0.1:PORT and meets the password check.",
            ]
        )
        profile.exampleModule = "code-server/4.96"
        profile.forwardCheck = .httpAny(path: "/healthz")
        profile.client = { info, port in
            let url = "http://localhost:\(port)/"
            return (url, [("Then open", url), ("Password", info.token)])
        }
        return profile
    }()
}

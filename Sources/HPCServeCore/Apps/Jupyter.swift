extension Apps {
    /// JupyterLab (or the classic Notebook) on a private Unix socket by default.
    public static let jupyter: AppProfile = {
        var profile = AppProfile(
            name: "jupyter",
            title: "JupyterLab",
            summary: "JupyterLab or Notebook (token in a 0600 file, private Unix socket)",
            listenModes: [.socket, .tcp],
            secret: .token,
            probe: .http(path: "/api"),
            urlPath: "/lab",
            laptopPort: 8888,
            options: [
                .appFlag(
                    ["--classic"], help: "'jupyter notebook' (needs the notebook package)",
                    variable: "JUPYTER_CLASSIC"),
                containerOption,
            ],
            notes: [
                "The token reaches Jupyter through JUPYTER_TOKEN_FILE (a 0600 file, never argv);",
                "JUPYTER_RUNTIME_DIR is private to this job, so 'jupyter server list' elsewhere cannot delete it.",
                "With --listen tcp any process on the node can connect to 127.0.0.1:PORT and meets the token check.",
            ]
        )
        profile.conditions = { values in ["CLASSIC": values["JUPYTER_CLASSIC"] == "1"] }
        profile.exampleModule = "python/3.11"
        profile.forwardCheck = .httpWithToken(path: "/api/status")
        profile.client = { info, port in
            let url = "http://localhost:\(port)\(info.urlPath)?token=\(info.token)"
            return (url, [("Then open", url)])
        }
        return profile
    }()
}

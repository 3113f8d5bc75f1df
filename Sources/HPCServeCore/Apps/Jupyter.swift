extension Apps {
    /// JupyterLab (or the classic Notebook) on a private Unix socket by default.
    public static let jupyter = AppProfile(
        name: "jupyter",
        title: "JupyterLab",
        summary: "JupyterLab or Jupyter Notebook (token by environment, private Unix socket)",
        listenModes: [.socket, .tcp],
        secret: .token,
        probe: .http(path: "/api"),
        urlPath: "/lab",
        laptopPort: 8888,
        options: [
            AppOption(
                names: ["--classic"], valueName: nil,
                help: "start the classic 'jupyter notebook' interface instead of 'jupyter lab'",
                variable: "JUPYTER_CLASSIC", defaultValue: "0",
                validate: { $0 }),
        ],
        notes: [
            "The token reaches Jupyter as JUPYTER_TOKEN (environment, never argv);",
            "JUPYTER_RUNTIME_DIR is private to this job, so 'jupyter server list' elsewhere cannot delete it.",
        ]
    )
}

extension Apps {
    /// ParaView's `pvserver`, offscreen, with a connect-id.
    public static let paraview: AppProfile = {
        var profile = AppProfile(
            name: "paraview",
            title: "ParaView pvserver",
            summary: "ParaView pvserver (offscreen, connect-id, 127.0.0.1 on ParaView 5.13+)",
            listenModes: [.tcp],
            secret: .connectID,
            probe: .tcpListen,
            urlPath: nil,
            laptopPort: 11111,
            options: [
                .appValue(
                    ["--ranks"], value: "N", help: "run N pvserver ranks with srun (default 1: no srun)",
                    variable: "PARAVIEW_RANKS", default: "1"
                ) {
                    String(try Validate.integer($0, option: "--ranks", range: 1...100_000))
                }
            ],
            notes: [
                "pvserver before 5.13 has no --bind-address and listens on every address of the node:",
                "then only the exclusive allocation and the connect-id protect it (see the job log).",
                "pvserver takes the connect-id only on its command line, so it shows in 'ps' on the node;",
                "any process on the node can connect to its port and must present that connect-id.",
            ]
        )
        profile.sbatchOptions = { values in
            guard let ranks = Int(values["PARAVIEW_RANKS"] ?? ""), ranks > 1 else { return [] }
            return ["--ntasks=\(ranks)"]
        }
        profile.conditions = { values in ["SRUN": (Int(values["PARAVIEW_RANKS"] ?? "") ?? 1) > 1] }
        profile.ownedSbatchOptions = ["ntasks": "--ranks N"]
        profile.exampleModule = "ParaView/5.13"
        profile.forwardCheck = .connect
        profile.client = { info, port in
            let url = "cs://localhost:\(port)"
            return (url, [("In ParaView", "File > Connect > add server \(url)"), ("Connect-id", info.token)])
        }
        return profile
    }()
}

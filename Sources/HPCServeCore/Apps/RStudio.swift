extension Apps {
    /// RStudio Server's `rserver`, run as the user, with a generated password helper.
    public static let rstudio: AppProfile = {
        var profile = AppProfile(
            name: "rstudio",
            title: "RStudio Server",
            summary: "RStudio Server (rserver as you, password checked by a generated helper)",
            listenModes: [.tcp, .socket],
            secret: .password,
            probe: .http(path: "/"),
            urlPath: "/",
            laptopPort: 8787,
            options: [containerOption],
            notes: [
                "rserver runs as you (--server-user) with a per-job password checked by a generated",
                "PAM helper that reads it from a 0600 file; data, database and cookie key are per job.",
                "With --listen socket, rserver needs --www-socket (RStudio Server 2024.12 or later). On TCP any",
                "process on the node can connect to 127.0.0.1:PORT and meets the password check.",
            ]
        )
        profile.exampleModule = "R/4.4"
        profile.forwardCheck = .httpAny(path: "/")
        profile.secretFiles = ["rstudio-password", "rstudio-secure-cookie-key"]
        profile.client = { info, port in
            let url = "http://localhost:\(port)/"
            return (url, [("Then open", url), ("User", info.user), ("Password", info.token)])
        }
        return profile
    }()
}

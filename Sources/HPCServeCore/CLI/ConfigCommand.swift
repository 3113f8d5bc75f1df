/// `hpcserve config [APP] [OPTIONS]`: the effective settings and where each came from.
public enum ConfigCommand {
    /// The flags that configuration keys stand for, so a command line can be shown on top.
    static let options: [OptionSpec] =
        Configuration.keys.compactMap { key in
            key.flag.flatMap { flag in
                (ScriptCommand.jobOptions + WatchCommand.watchOptions).first { $0.key == flag }
            }
        } + [.help]

    static let command: Command = {
        var command = Command(
            "config", summary: "the effective settings and where each came from",
            usage: "hpcserve config [APP] [OPTIONS]",
            about: [
                """
                Show the settings hpcserve would use for APP (without APP: the [defaults] ones), merged from \
                /etc/hpcserve/config (the site's; HPCSERVE_SITE_CONFIG names another), \
                $XDG_CONFIG_HOME/hpcserve/config (default ~/.config/hpcserve/config), the environment \
                (HPCSERVE_KEY, e.g. HPCSERVE_PARTITION) and the options given here, each later one winning; \
                'module' and 'setup' values add up instead. Each line says where the value came from (FILE:LINE, \
                env VAR or command line).
                """,
                """
                File format: [defaults] and [APP] sections, 'key = value' lines (the value is the rest of the \
                line, trimmed), '#' comment lines. Keys: \(Configuration.keys.map(\.name).joined(separator: ", ")). \
                A bad value is an error naming FILE:LINE (exit 78); an unknown key is a warning. A file that \
                others can write, or that is owned by someone else (root for the site's), is refused.
                """,
            ]
        ) { parsed, context in
            try run(parsed, context: context)
        }
        command.optionGroups = [OptionGroup("Options (shown on top of the files, as for a command)", options)]
        command.argument = .words(Apps.all.map(\.name))
        command.notes = [
            "node_ssh (yes, no or auto): whether the forward may ssh to compute nodes (auto: directly, and through "
                + "the job with srun --overlap when the node refuses). container (--container) applies to the apps "
                + "that can run in one: " + Apps.all.filter(\.runsInContainer).map(\.name).joined(separator: ", ")
                + "."
        ]
        command.examples = [
            "hpcserve config",
            "hpcserve config jupyter --partition gpu",
            "hpcserve config rstudio --time 4:00:00",
        ]
        return command
    }()

    static func run(_ parsed: ParsedArguments, context: Context) throws -> ExitCode {
        guard parsed.positionals.count <= 1 else {
            throw UsageError("give at most one app: hpcserve config [APP]")
        }
        var app: AppProfile?
        if let name = parsed.positionals.first {
            guard let found = Apps.named(name) else {
                let names = Apps.all.map(\.name)
                let hint = Suggest.closest(to: name, in: names).map { "did you mean '\($0)'? " } ?? ""
                throw UsageError(
                    "unknown app \(Validate.show(name)); \(hint)choose one of: \(names.joined(separator: ", "))")
            }
            app = found
        }
        let configuration = try Configuration.load(context)
        // The command line's values, checked as the files' are.
        for key in Configuration.keys where !key.isSwitch {
            for value in key.flag.map(parsed.all) ?? [] { _ = try key.check(value, app) }
        }
        var rows: [[String]] = [["KEY", "VALUE", "FROM"]]
        for (key, settings) in configuration.effective(app: app, commandLine: parsed) {
            // A key no flag reads yet is checked and shown, and says so.
            let unused = key.flag == nil && key.name != "node_ssh" ? " (not used yet)" : ""
            if settings.isEmpty { rows.append([key.name, "-", "(not set)" + unused]) }
            for setting in settings {
                rows.append(
                    [key.name, setting.value, setting.origin.description + unused].map(Validate.escapeNonPrinting))
            }
        }
        let widths = (0..<2).map { c in rows.map { $0[c].count }.max() ?? 0 }
        var text = ""
        for row in rows {
            text +=
                row[0].padding(toLength: widths[0], withPad: " ", startingAt: 0) + "  "
                + row[1].padding(toLength: widths[1], withPad: " ", startingAt: 0) + "  " + row[2] + "\n"
        }
        text += "\n"
        for (what, file) in [("site file", configuration.site), ("user file", configuration.user)] {
            text += "\(what): \(Validate.escapeNonPrinting(file.path)) (\(file.present ? "read" : "not present"))\n"
        }
        context.output.stdout(text)
        return .success
    }
}

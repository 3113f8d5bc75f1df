/// Help pages, rendered from the command table (`Commands`): a usage line, paragraphs, tables
/// of options or commands, examples; fitted to 80 columns. Checked by golden tests.
public enum Help {
    public static let width = 80
    /// Where an option's help starts in an option table.
    static let optionColumn = 30

    /// One part of a page; parts are separated by a blank line.
    enum Block {
        /// Prose, re-flowed to the width.
        case paragraph(String)
        /// A heading and two columns; the second wraps under itself. `column` nil: just wide enough.
        case table(title: String, rows: [(String, String)], column: Int?)
        /// A heading and lines kept whole (examples), indented.
        case lines(title: String, [String])
    }

    /// The page for `hpcserve`, `hpcserve --help` and `hpcserve help`.
    public static let main: String = {
        let shown = Commands.all.filter { Apps.named($0.name) == nil && $0.name != "version" }
        var usage = [
            (
                "hpcserve APP [OPTIONS] [-- SBATCH-OPTIONS]",
                "submit APP, wait, forward, print the laptop command"
            ),
            (
                "hpcserve --host LOGIN APP|watch|list|stop|shell|ssh-config …",
                "the same from the laptop: one login, a local URL, a browser"
            ),
        ]
        for command in shown {
            // A group whose subcommands are not apps (snippets) lists each of them.
            let split = !command.subcommands.isEmpty && command.subcommandNoun != "app"
            usage +=
                split
                ? command.subcommands.map { ("hpcserve \(command.name) \($0.name) [OPTIONS]", $0.summary) }
                : [(command.usage, command.summary)]
        }
        usage.append((Commands.version.usage, Commands.version.summary))
        let apps = Apps.all
        return render([
            .paragraph(
                """
                hpcserve: run an interactive server (\(apps.map(\.title).joined(separator: ", "))) on a Slurm \
                compute node and reach it from your laptop safely: whole node, server on 127.0.0.1 or a private Unix \
                socket, a per-job secret, and no TCP port open on the login node.
                """),
            .table(title: "Usage", rows: usage, column: nil),
            .table(title: "Apps", rows: apps.map { ($0.name, $0.summary) }, column: nil),
            .lines(
                title: "Examples",
                [
                    "hpcserve --host hpc jupyter --time 2:00:00     # on the laptop",
                    "hpcserve jupyter --time 2:00:00                # on the login node",
                    "hpcserve rstudio -t 4:00:00 -p interactive --module R/4.4 --detach",
                    "hpcserve script jupyter -t 2:00:00 -o lab.sh && sbatch lab.sh",
                    "hpcserve watch 4242",
                    "hpcserve script rstudio -t 4:00:00 -p interactive --module R/4.4 -o rstudio.sh",
                    "hpcserve script paraview -t 1:00:00 --ranks 4 --module ParaView/5.13",
                    "hpcserve snippet license --gateway gw01 --server lic.example.org --port 27000",
                    "source <(hpcserve completions bash)",
                ]),
            .paragraph(
                """
                --host LOGIN (or HPCSERVE_HOST), before the command: run it from the laptop through one OpenSSH \
                control master to LOGIN (an ssh host, user@host or ~/.ssh/config alias); the laptop end listens on \
                127.0.0.1 only. HPCSERVE_REMOTE names the login node's hpcserve (default: the one on its PATH; \
                'none': the laptop renders, submits and forwards by itself).
                """),
            .paragraph(
                """
                Exit codes: 0 ok, 1 failure, 64 usage error, 69 a required tool is missing, 70 internal error, \
                78 a configuration file is wrong or unsafe. \
                Files: ~/.hpcserve/jobs/JOBID/ (private session directories; HPCSERVE_DIR moves them), \
                /etc/hpcserve/config and ~/.config/hpcserve/config (settings; see 'hpcserve config --help'), \
                ~/.config/hpcserve/templates/ (template overrides). See hpcserve(1).
                """),
        ])
    }()

    /// The page for `hpcserve PATH… --help`.
    public static func page(_ command: Command, path: [String]) -> String {
        if path == [Commands.help.name] { return main }
        var blocks: [Block] = [.paragraph("Usage: " + command.usage)]
        blocks += command.about.map { .paragraph($0) }
        if !command.subcommands.isEmpty {
            let title = command.subcommandNoun.prefix(1).uppercased() + command.subcommandNoun.dropFirst() + "s"
            blocks.append(.table(title: title, rows: command.subcommands.map { ($0.name, $0.summary) }, column: nil))
        } else {
            blocks += command.optionGroups.map { group in
                .table(title: group.title, rows: group.options.map { (label($0), $0.help) }, column: optionColumn)
            }
        }
        blocks += command.notes.map { .paragraph($0) }
        if !command.examples.isEmpty { blocks.append(.lines(title: "Examples", command.examples)) }
        return render(blocks)
    }

    /// An option's spellings, short first, and its value: `-t, --time TIME`.
    static func label(_ option: OptionSpec) -> String {
        option.names.sorted { $0.count < $1.count }.joined(separator: ", ") + (option.valueName.map { " " + $0 } ?? "")
    }

    static func render(_ blocks: [Block]) -> String {
        blocks.map { block -> String in
            switch block {
            case .paragraph(let text):
                return wrap(words(text), first: "", hang: 0).joined(separator: "\n")
            case .table(let title, let rows, let column):
                let column = column ?? 2 + (rows.map(\.0.count).max() ?? 0) + 2
                let lines = rows.flatMap { row(label: $0.0, text: $0.1, column: column) }
                return ([title + ":"] + lines).joined(separator: "\n")
            case .lines(let title, let lines):
                return ([title + ":"] + lines.map { "  " + $0 }).joined(separator: "\n")
            }
        }.joined(separator: "\n\n") + "\n"
    }

    /// `  label   text`, the text wrapped under its column; a label too wide for the column
    /// stands on its own line.
    static func row(label: String, text: String, column: Int) -> [String] {
        let head = "  " + label
        // Too little room right of the column (under 36): the text goes under the label.
        let column = column > width - 36 ? 6 : column
        let indent = String(repeating: " ", count: column)
        if head.count > column - 2 {
            return [head] + wrap(words(text), first: indent, hang: column)
        }
        return wrap(words(text), first: head.padding(toLength: column, withPad: " ", startingAt: 0), hang: column)
    }

    static func words(_ text: String) -> [String] {
        text.split(separator: " ").map(String.init)
    }

    /// Words laid out after `first`, continuation lines indented by `hang`.
    static func wrap(_ words: [String], first: String, hang: Int) -> [String] {
        var out: [String] = []
        var current = first
        var empty = true
        for word in words {
            if !empty, current.count + 1 + word.count > width {
                out.append(current)
                current = String(repeating: " ", count: hang) + word
            } else {
                current += (empty ? "" : " ") + word
            }
            empty = false
        }
        out.append(current)
        return out
    }
}

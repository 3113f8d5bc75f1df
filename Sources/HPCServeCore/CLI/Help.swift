/// The help texts: plain static text, checked by golden tests.
public enum Help {
    public static let main = """
    hpcserve: run an interactive server (Jupyter, RStudio Server, ParaView) on a Slurm
    compute node and reach it from your laptop safely: whole node, server on 127.0.0.1 or a
    private Unix socket, a per-job secret, and no TCP port open on the login node.

    Usage:
      hpcserve APP [OPTIONS] [-- SBATCH-OPTIONS]          submit APP, wait, forward, print the laptop command
      hpcserve watch JOBID [OPTIONS]                      the same for a job submitted by hand
      hpcserve list [--all] [--json]                      your sessions: state, node, time left, URL
      hpcserve stop JOBID                                 cancel, close the forward, remove secrets
      hpcserve script APP [OPTIONS] [-- SBATCH-OPTIONS]   print an sbatch script for APP
      hpcserve snippet license [OPTIONS]                  bash for a job: license server via a gateway
      hpcserve snippet reverse-tunnel [OPTIONS]           bash for a job: tunnel back to the login node
      hpcserve help [COMMAND]                             help for a command
      hpcserve --version

    Apps:
    \(Apps.all.map { "  " + $0.name.padding(toLength: 10, withPad: " ", startingAt: 0) + $0.summary }.joined(separator: "\n"))

    Examples:
      hpcserve jupyter --time 2:00:00
      hpcserve rstudio -t 4:00:00 -p interactive --module R/4.4 --detach
      hpcserve script jupyter -t 2:00:00 -o lab.sh && sbatch lab.sh
      hpcserve watch 4242
      hpcserve script rstudio -t 4:00:00 -p interactive --module R/4.4 -o rstudio.sh
      hpcserve script paraview -t 1:00:00 --ranks 4 --module ParaView/5.13
      hpcserve snippet license --gateway gw01 --server lic.example.org --port 27000

    Exit codes: 0 ok, 1 failure, 64 usage error, 69 a required tool is missing, 70 internal error.
    Files: ~/.hpcserve/jobs/JOBID/ (private session directories; HPCSERVE_DIR moves them),
    ~/.config/hpcserve/templates/ (template overrides). See hpcserve(1).

    """

    public static let script = """
    Usage: hpcserve script APP [OPTIONS] [-- SBATCH-OPTIONS]

    Print an sbatch script that starts APP (\(Apps.all.map(\.name).joined(separator: ", "))) on a compute node,
    bound to 127.0.0.1 or a private Unix socket, with a per-job secret. Submit it yourself
    with sbatch; the script writes ~/.hpcserve/jobs/JOBID/connection.json once the server answers.

    Run 'hpcserve script APP --help' for the options of one app.

    Examples:
      hpcserve script jupyter --time 2:00:00 > jupyter.sh && sbatch jupyter.sh
      hpcserve script jupyter -t 8:00:00 --setup 'source ~/venvs/lab/bin/activate'
      hpcserve script rstudio -t 4:00:00 --module R/4.4 -- --mail-type=END

    """

    public static func scriptApp(_ app: AppProfile) -> String {
        let jobOptions = ScriptCommand.jobOptions
        let appOptions = app.options.map { OptionSpec($0.names, value: $0.valueName, help: $0.help) }
        let appOwned = app.ownedSbatchOptions.keys.sorted().map { ", --" + $0 }.joined()
        var text = """
        Usage: hpcserve script \(app.name) [OPTIONS] [-- SBATCH-OPTIONS]

        Print an sbatch script that starts \(app.title) on a compute node.
        \(app.notes.joined(separator: "\n"))

        Job options (sbatch's own spellings):
        \(table(jobOptions))

        """
        if !appOptions.isEmpty {
            text += "\n\(app.title) options:\n\(table(appOptions))\n\n"
        }
        if appOptions.isEmpty { text += "\n" }
        text += """
        Output:
        \(table(ScriptCommand.ownOptions))

        After '--': further sbatch options (e.g. -- --mail-type=END -w node07), checked and
        written as #SBATCH lines. Those hpcserve writes itself are refused (--nodes, --output,
        --error, --signal, --exclusive\(appOwned), and the job options above: use those), and
        --export may not set BASH_ENV, ENV or LD_* variables.
        --setup lines are your own trusted code, placed into the script verbatim.

        Examples:
          hpcserve script \(app.name) --time 2:00:00 > \(app.name).sh && sbatch \(app.name).sh
          hpcserve script \(app.name) -t 1-00:00:00 -p gpu -G 1 --module \(exampleModule(app))

        """
        return text
    }

    public static func submit(_ app: AppProfile) -> String {
        """
        Usage: hpcserve \(app.name) [OPTIONS] [-- SBATCH-OPTIONS]

        Submit \(app.title) (the script 'hpcserve script \(app.name)' prints), wait for it gently
        (squeue backs off while pending; readiness comes from the session directory), forward a
        Unix socket in your private session directory on this login node to the server, check it
        answers, and print the laptop command. Then stay, showing the time left and keeping the
        forward alive, until Ctrl-C (which asks whether to cancel the job) or the job ends.

        Job options: as for 'hpcserve script \(app.name) --help'.

        Watch options:
        \(table(WatchCommand.watchOptions))

        Examples:
          hpcserve \(app.name) --time 2:00:00
          hpcserve \(app.name) -t 8:00:00 -p gpu -G 1 --module \(exampleModule(app)) --detach
          hpcserve \(app.name) -t 30 --json --cancel-on-exit

        """
    }

    public static let watch = """
    Usage: hpcserve watch JOBID [OPTIONS]

    Attach to a job submitted from a generated script (or reattach after Ctrl-C or --detach):
    wait for it, forward, check, and print the laptop command, as 'hpcserve APP' does.

    Options:
    \(table(WatchCommand.watchOptions))

    Examples:
      sbatch jupyter.sh          # Submitted batch job 4242
      hpcserve watch 4242
      hpcserve watch 4242 --json --detach

    """

    public static let list = """
    Usage: hpcserve list [--all] [--json]

    Your sessions (~/.hpcserve/jobs): job id, app, state, node, time left and URL; running ones
    and the last 5 that ended (--all: every one). Forwards of jobs that have ended are closed.

    Examples:
      hpcserve list
      hpcserve list --json

    """

    public static let stop = """
    Usage: hpcserve stop JOBID

    Cancel the job, close its forward, and remove its sockets and secrets (the log stays).

    Examples:
      hpcserve stop 4242

    """

    public static let snippet = """
    Usage: hpcserve snippet license|reverse-tunnel [OPTIONS]

    Print bash to paste into an existing job script.
      license         forward a license server's port through a gateway, with random-port retry
      reverse-tunnel  tunnel from the job back to a private socket on the login node

    Examples:
      hpcserve snippet license --gateway gw01 --server lic.example.org --port 27000
      hpcserve snippet reverse-tunnel --port 8888

    """

    public static let snippetLicense = """
    Usage: hpcserve snippet license --gateway HOST --server HOST --port N [OPTIONS]

    Print bash for a job script: picks a random free local port, starts
    'ssh -f -N -o ExitOnForwardFailure=yes GATEWAY -L 127.0.0.1:PORT:SERVER:N' (retrying with another port
    when the bind fails), exports VAR=PORT@localhost, and ends the tunnel when the job ends.

    Options:
    \(table(SnippetCommand.licenseOptions))

    Examples:
      hpcserve snippet license --gateway gw01 --server lic.example.org --port 27000
      hpcserve snippet license --gateway gw1 --server flexlm.example.org --port 27000 \\
          --vendor-port 27001 --env LM_LICENSE_FILE --env MLM_LICENSE_FILE

    """

    public static let snippetReverseTunnel = """
    Usage: hpcserve snippet reverse-tunnel --port N [OPTIONS]

    Print bash for a job script: 'ssh -f -N -R SOCKET:127.0.0.1:N $SLURM_SUBMIT_HOST', ending in a
    Unix socket in your private session directory on the login node (never a TCP port there,
    unless you ask with --insecure-tcp-port), and ends the tunnel when the job ends.

    Options:
    \(table(SnippetCommand.reverseOptions))

    Examples:
      hpcserve snippet reverse-tunnel --port 8888
      hpcserve snippet reverse-tunnel --port 6006 --socket /home/me/.tb/tb.sock

    """

    /// `text` fitted to 80 columns: a prose paragraph with a long line is re-flowed; a long
    /// table row ("  name   description") wraps its description under its own column;
    /// example commands without a description are left whole.
    public static func fit(_ text: String, width: Int = 80) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var out: [String] = []
        var paragraph: [String] = []
        func flushParagraph() {
            if paragraph.contains(where: { $0.count > width }) {
                out += wrap(paragraph.joined(separator: " ").split(separator: " ").map(String.init), first: "", hang: 0, width: width)
            } else {
                out += paragraph
            }
            paragraph = []
        }
        for line in lines {
            let indent = line.prefix { $0 == " " }.count
            let isHeading = line.hasSuffix(":") && line.count < 40
            if indent == 0, !line.isEmpty, !isHeading {
                paragraph.append(line)
                continue
            }
            flushParagraph()
            guard line.count > width else { out.append(line); continue }
            // A table row: the description starts after the first gap of two or more spaces.
            let body = line.dropFirst(indent)
            if let gap = body.range(of: "  ") {
                let column = indent + body.distance(from: body.startIndex, to: gap.lowerBound)
                let descStart = line.index(line.startIndex, offsetBy: column)
                let rest = line[descStart...].drop { $0 == " " }
                let hang = line.count - rest.count
                let head = String(line.prefix(hang))
                out += wrap(rest.split(separator: " ").map(String.init), first: head, hang: hang, width: width)
            } else {
                out.append(line)
            }
        }
        flushParagraph()
        return out.joined(separator: "\n")
    }

    /// Words laid out after `first`, continuation lines indented by `hang`.
    private static func wrap(_ words: [String], first: String, hang: Int, width: Int) -> [String] {
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

    static func exampleModule(_ app: AppProfile) -> String {
        switch app.name {
        case "jupyter": return "python/3.11"
        case "rstudio": return "R/4.4"
        case "paraview": return "ParaView/5.13"
        default: return app.name
        }
    }

    /// Two columns: spellings with the value name, then the help.
    static func table(_ options: [OptionSpec]) -> String {
        options.map { spec in
            let names = spec.names.sorted { $0.count < $1.count }.joined(separator: ", ")
            let left = names + (spec.valueName.map { " " + $0 } ?? "")
            let pad = left.count < 28 ? left.padding(toLength: 28, withPad: " ", startingAt: 0) : left + "\n" + String(repeating: " ", count: 30)
            return "  " + pad + spec.help
        }.joined(separator: "\n")
    }
}

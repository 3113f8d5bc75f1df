/// The options after `--`: further sbatch options, checked and turned into `#SBATCH` lines.
public enum SbatchPassthrough {
    /// sbatch's long options (Slurm 22.05 to 24.x) that are safe to pass through.
    static let longOptions: Set<String> = [
        "account", "acctg-freq", "array", "batch", "bb", "bbf", "begin", "chdir",
        "cluster-constraint", "clusters", "comment", "constraint", "container", "contiguous",
        "core-spec", "cores-per-socket", "cpu-freq", "cpus-per-gpu", "cpus-per-task", "deadline",
        "delay-boot", "dependency", "distribution", "exclude", "export", "extra-node-info",
        "get-user-env", "gpu-bind", "gpu-freq", "gpus", "gpus-per-node", "gpus-per-socket",
        "gpus-per-task", "gres", "gres-flags", "hint", "hold", "ignore-pbs", "job-name",
        "kill-on-invalid-dep", "licenses", "mail-type", "mail-user", "mcs-label", "mem",
        "mem-bind", "mem-per-cpu", "mem-per-gpu", "mincpus", "network", "nice", "no-kill",
        "no-requeue", "nodefile", "nodelist", "nodes", "ntasks", "ntasks-per-core",
        "ntasks-per-gpu", "ntasks-per-node", "ntasks-per-socket", "open-mode", "overcommit",
        "partition", "power", "prefer", "priority", "profile", "propagate", "qos", "reboot",
        "requeue", "reservation", "sockets-per-node", "spread-job", "switches", "thread-spec",
        "threads-per-core", "time", "time-min", "tmp", "use-min-nodes", "wait-all-nodes", "wckey",
    ]

    /// Options hpcserve sets itself or that would break the session; each with the reason.
    static let refused: [String: String] = [
        "output": "hpcserve writes the job log into your private session directory",
        "error": "hpcserve writes the job log into your private session directory",
        "input": "the server job reads no input",
        "wrap": "the script is the job",
        "signal": "hpcserve uses --signal to stop the server cleanly before the time limit",
        "exclusive": "the allocation is exclusive by default; use --shared to opt out",
        "oversubscribe": "use --shared to opt out of the exclusive allocation",
        "share": "use --shared to opt out of the exclusive allocation",
        "parsable": "that is an sbatch command-line flag, not a job option",
        "test-only": "that is an sbatch command-line flag, not a job option",
        "wait": "that is an sbatch command-line flag, not a job option",
        "uid": "a job runs as you", "gid": "a job runs as you",
    ]

    /// Options hpcserve writes itself (or has its own option for): passing them through would
    /// give two lines, and the last one wins in sbatch. Each with what to use instead.
    static let owned: [String: String] = [
        "time": "-t/--time TIME", "partition": "-p/--partition NAME", "account": "-A/--account NAME",
        "qos": "-q/--qos NAME", "cpus-per-task": "-c/--cpus-per-task N", "mem": "--mem SIZE",
        "gpus": "-G/--gpus [TYPE:]N", "gres": "--gres LIST", "job-name": "-J/--job-name NAME",
        "constraint": "-C/--constraint FEATURES", "reservation": "--reservation NAME",
    ]

    /// Variables `--export` must not set: bash reads BASH_ENV/ENV and runs that file before the
    /// job script, SHELLOPTS/BASHOPTS change how it runs, the loader's LD_* variables and exported
    /// functions put someone's code into every program the job starts.
    static let forbiddenExports: Set<String> = ["BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS"]
    static let forbiddenExportPrefixes = ["LD_", "BASH_FUNC_"]

    /// Short options and the long option each stands for (all take a value except -H, -k, -O, -s, -W).
    static let shortOptions: [Unicode.Scalar: String] = [
        "A": "account", "a": "array", "b": "begin", "C": "constraint", "c": "cpus-per-task",
        "D": "chdir", "d": "dependency", "F": "nodefile", "G": "gpus", "H": "hold",
        "J": "job-name", "k": "no-kill", "L": "licenses", "M": "clusters", "m": "distribution",
        "N": "nodes", "n": "ntasks", "O": "overcommit", "p": "partition", "q": "qos",
        "S": "core-spec", "s": "oversubscribe", "t": "time", "w": "nodelist", "x": "exclude",
        "o": "output", "e": "error", "i": "input", "W": "wait",
    ]
    static let shortFlags: Set<Unicode.Scalar> = ["H", "k", "O", "s", "W"]

    /// Characters allowed in a passed-through value: enough for lists, ranges, mail addresses,
    /// dependency expressions and paths; never quotes, spaces, `$`, backquotes or `#`.
    static let valueCharacters = "_.-,:=+@/%[]()*&|!~"

    /// Turns the words after `--` into `--name=value` / `--flag` spellings for `#SBATCH` lines.
    ///
    /// `app`'s own sbatch options (ParaView's `--ntasks` from `--ranks`) are refused as well.
    /// Words are split on Unicode scalars: a mark after `=` or `-` cannot hide the separator.
    public static func parse(_ words: [String], app: AppProfile? = nil) throws -> [String] {
        var out: [String] = []
        var i = 0
        while i < words.count {
            let word = words[i]
            try Validate.basic(word, option: "sbatch option")
            let scalars = Array(word.unicodeScalars)
            if word.startsWith(scalars: "--") {
                let (name, value) = word.dropping(scalars: 2).splitOnce(at: "=")
                try check(name: name, shown: "--\(name)", app: app)
                if let value {
                    out.append("--\(name)=\(try checkValue(value, name: name))")
                } else {
                    out.append("--\(name)")
                }
            } else if scalars.count >= 2, scalars[0] == "-" {
                let letter = scalars[1]
                guard let long = shortOptions[letter] else {
                    throw UsageError(
                        "unknown sbatch option \(Validate.show(word)) after '--'; use the long spelling "
                            + "(e.g. --mail-type=END)"
                    )
                }
                try check(name: long, shown: "-\(letter)", app: app)
                if shortFlags.contains(letter) {
                    guard scalars.count == 2 else { throw UsageError("sbatch flag -\(letter) takes no value") }
                    out.append("--\(long)")
                } else if scalars.count > 2 {
                    out.append("--\(long)=\(try checkValue(word.dropping(scalars: 2), name: long))")
                } else {
                    i += 1
                    guard i < words.count else { throw UsageError("sbatch option -\(letter) after '--' needs a value") }
                    out.append("--\(long)=\(try checkValue(words[i], name: long))")
                }
            } else {
                throw UsageError(
                    "\(Validate.show(word)) after '--' is not an sbatch option; write options such as "
                        + "--mail-type=END or -w node07"
                )
            }
            i += 1
        }
        return out
    }

    private static func check(name: String, shown: String, app: AppProfile?) throws {
        if let reason = refused[name] {
            throw UsageError("sbatch option \(Validate.show(shown)) cannot be passed through: \(reason)")
        }
        if name == "nodes" {
            throw UsageError(
                "sbatch option \(Validate.show(shown)) cannot be passed through: hpcserve asks for one node "
                    + "(--nodes=1) and runs the server there"
            )
        }
        if let instead = owned[name] {
            throw UsageError(
                "sbatch option \(Validate.show(shown)) cannot be passed through: hpcserve writes the "
                    + "--\(name) line itself; use its option \(instead) instead"
            )
        }
        if let app, let instead = app.ownedSbatchOptions[name] {
            throw UsageError(
                "sbatch option \(Validate.show(shown)) cannot be passed through: \(app.title) sets "
                    + "--\(name) itself; use \(instead) instead"
            )
        }
        guard longOptions.contains(name) else {
            let hint =
                Suggest.closest(to: name, in: longOptions).map { "; did you mean --\($0)?" } ?? "; see 'man sbatch'"
            throw UsageError("unknown sbatch option \(Validate.show(shown)) after '--'\(hint)")
        }
    }

    private static func checkValue(_ value: String, name: String) throws -> String {
        let value = try Validate.charset(
            value, option: "sbatch option --\(name)", allowed: valueCharacters, what: "value for --\(name)")
        if name == "export" { try checkExport(value) }
        return value
    }

    /// `--export=[ALL|NONE|NIL,]NAME[=VALUE],…` must not set a variable that runs code.
    private static func checkExport(_ value: String) throws {
        for item in value.pieces(at: ",") {
            let name = item.splitOnce(at: "=").head
            if forbiddenExports.contains(name)
                || forbiddenExportPrefixes.contains(where: { name.startsWith(scalars: $0) })
            {
                throw UsageError(
                    "sbatch option --export cannot set \(Validate.show(name)): bash or the loader would run "
                        + "someone's code before or inside the job script; set it in a --setup line if you "
                        + "really need it"
                )
            }
        }
    }
}

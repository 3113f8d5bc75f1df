import Foundation
import Testing

@testable import HPCServeCore

/// Site and user configuration files: precedence, file:line errors, files that are refused.
@Suite struct ConfigurationTests {
    /// A site file and a user file (mode 0644) in a temporary directory, and the environment naming them.
    struct Files {
        let dir: TempDir
        var site: String { dir.file("site-config") }
        var user: String { dir.file("xdg/hpcserve/config") }
        var env: [String: String] { ["HPCSERVE_SITE_CONFIG": site, "XDG_CONFIG_HOME": dir.file("xdg")] }

        init(site: String?, user: String?) throws {
            dir = try TempDir()
            try FileManager.default.createDirectory(atPath: dir.file("xdg/hpcserve"), withIntermediateDirectories: true)
            if let site { try Self.write(site, to: self.site) }
            if let user { try Self.write(user, to: self.user) }
        }

        static func write(_ text: String, to path: String, mode: mode_t = 0o644) throws {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            chmod(path, mode)
        }
    }

    static let site = """
        # the site's defaults
        [defaults]
        login_host = login.example.org
        partition = site-part
        time = 1:00:00
        module = site/1

        [jupyter]
        account = site-acct
        """
    static let user = """
        [defaults]
        partition = user-part
        module = user/1
        """

    /// The row `hpcserve config` prints for `key` (value and origin).
    func row(_ output: String, _ key: String) -> [String] {
        output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter { $0.first == key }
            .map { $0.dropFirst().joined(separator: " ") }
    }

    @Test func siteThenUserThenEnvironmentThenCommandLine() async throws {
        let files = try Files(site: Self.site, user: Self.user)
        defer { files.dir.cleanup() }
        let env = files.env
        var r = await runCLI(["config", "jupyter"], extraEnv: env)
        #expect(r.code == .success, "\(r.stderr)")
        #expect(row(r.stdout, "partition") == ["user-part \(files.user):2"])
        #expect(row(r.stdout, "time") == ["1:00:00 \(files.site):5"])
        #expect(row(r.stdout, "login_host") == ["login.example.org \(files.site):3"])
        #expect(row(r.stdout, "account") == ["site-acct \(files.site):9"], "[jupyter] applies to jupyter")
        #expect(row(r.stdout, "node_ssh") == ["- (not set)"])
        #expect(row(r.stdout, "container") == ["- (not set)"])
        #expect(row(r.stdout, "module") == ["site/1 \(files.site):6", "user/1 \(files.user):3"], "modules add up")

        r = await runCLI(["config"], extraEnv: env)
        #expect(row(r.stdout, "account") == ["- (not set)"], "[jupyter] is not [defaults]")

        r = await runCLI(["config", "jupyter"], extraEnv: env.merging(["HPCSERVE_PARTITION": "env-part"]) { $1 })
        #expect(row(r.stdout, "partition") == ["env-part env HPCSERVE_PARTITION"])

        r = await runCLI(
            ["config", "jupyter", "-p", "cli-part", "--module", "cli/1"],
            extraEnv: env.merging(["HPCSERVE_PARTITION": "env-part"]) { $1 })
        #expect(row(r.stdout, "partition") == ["cli-part command line"])
        #expect(row(r.stdout, "module").last == "cli/1 command line")

        // Without the user file the site's value counts.
        try FileManager.default.removeItem(atPath: files.user)
        r = await runCLI(["config", "jupyter"], extraEnv: env)
        #expect(row(r.stdout, "partition") == ["site-part \(files.site):4"])
        #expect(r.stdout.contains("user file: \(files.user) (not present)"))
    }

    /// The merged values reach the job script and the laptop command as flags would.
    @Test func theMergedValuesReachTheScriptAndTheWatcher() async throws {
        let files = try Files(site: Self.site, user: Self.user)
        defer { files.dir.cleanup() }
        try await withHome { home in
            var r = await runCLI(["script", "jupyter"], home: home, extraEnv: files.env)
            #expect(r.code == .success, "\(r.stderr)")
            #expect(r.stdout.contains("#SBATCH --partition=user-part\n"))
            #expect(r.stdout.contains("#SBATCH --account=site-acct\n"))
            #expect(r.stdout.contains("#SBATCH --time=1:00:00\n"))
            let site = try #require(r.stdout.range(of: "site/1"))
            let user = try #require(r.stdout.range(of: "user/1"))
            #expect(site.lowerBound < user.lowerBound, "site modules load first")
            r = await runCLI(["script", "jupyter", "-t", "30", "-p", "cli"], home: home, extraEnv: files.env)
            #expect(r.stdout.contains("#SBATCH --partition=cli\n") && r.stdout.contains("#SBATCH --time=30\n"))
            #expect(!r.stdout.contains("user-part"))
        }
        let context = Context(
            environment: files.env.merging(["HOME": "/home/alice"]) { $1 }, output: CapturedOutput(),
            workingDirectory: "/")
        let parsed = try Configuration.load(context).applied(to: ParsedArguments(), app: Apps.named("jupyter"))
        #expect(try WatchCommand.watchSettings(parsed, context: context).loginHost == "login.example.org")
    }

    @Test func aBadValueNamesFileAndLineAndExits78() async throws {
        let files = try Files(site: nil, user: "[defaults]\n# comment\ntime = 2 hours\n")
        defer { files.dir.cleanup() }
        let r = await runCLI(["script", "jupyter"], extraEnv: files.env)
        #expect(r.code == .config)
        #expect(r.code.rawValue == 78)
        #expect(
            r.stderr.hasPrefix("hpcserve: error: \(files.user):3: time: --time value '2 hours' is not a Slurm time"))
        #expect(r.stderr.hasSuffix("fix or remove that line\n"))
    }

    @Test(arguments: [
        ("partition = gpu\n", 1, "'partition' is outside a section; put it under [defaults]"),
        ("[defaults]\npartition\n", 2, "expected 'key = value' or '[section]'"),
        ("[defaults\n", 1, "a section header must end with ']'"),
        ("[paraview]\nlisten = socket\n", 2, "listen: ParaView pvserver cannot listen on 'socket'; use tcp"),
        ("[defaults]\nnode_ssh = maybe\n", 2, "node_ssh: 'maybe' is not one of: yes, no, auto"),
        ("[defaults]\nlaptop_port = 99999\n", 2, "laptop_port: laptop_port value '99999' is not a whole number"),
        ("[defaults]\nmodule = $(reboot)\n", 2, "module: --module value '$(reboot)' is not a valid module name"),
        ("[tensorboard]\ncontainer = tb.sif\n", 2, "container: TensorBoard cannot run in a container"),
        ("[defaults]\ncontainer = -x.sif\n", 2, "container: container value '-x.sif' starts with '-'"),
    ])
    func badLinesAreErrorsWithFileAndLine(_ text: String, _ line: Int, _ message: String) async throws {
        let files = try Files(site: text, user: nil)
        defer { files.dir.cleanup() }
        let r = await runCLI(["config"], extraEnv: files.env)
        #expect(r.code == .config)
        #expect(r.stderr.hasPrefix("hpcserve: error: \(files.site):\(line): \(message)"), "\(r.stderr)")
    }

    @Test func anUnknownKeyOrSectionIsAWarningWithFileAndLine() async throws {
        let files = try Files(site: nil, user: "[defaults]\npartiton = gpu\n[jupyterr]\ntime = 5\n")
        defer { files.dir.cleanup() }
        let r = await runCLI(["config"], extraEnv: files.env)
        #expect(r.code == .success)
        #expect(
            r.stderr.contains(
                "hpcserve: warning: \(files.user):2: unknown key 'partiton', ignored; did you mean 'partition'?\n"))
        #expect(r.stderr.contains("\(files.user):3: unknown section [jupyterr], its settings are ignored"))
        #expect(row(r.stdout, "partition") == ["- (not set)"] && row(r.stdout, "time") == ["- (not set)"])
    }

    /// container in [defaults] is for the apps that can run in one; the others leave it.
    @Test func aDefaultContainerReachesTheAppsThatCanRunInOne() async throws {
        let files = try Files(site: "[defaults]\ncontainer = /images/lab.sif\n", user: nil)
        defer { files.dir.cleanup() }
        try await withHome { home in
            var r = await runCLI(["script", "jupyter", "-t", "10"], home: home, extraEnv: files.env)
            #expect(r.code == .success && r.stdout.contains("hpcserve_container_image=/images/lab.sif\n"), "\(r)")
            r = await runCLI(["script", "jupyter", "--container", "mine.sif"], home: home, extraEnv: files.env)
            #expect(r.stdout.contains("hpcserve_container_image=mine.sif\n"), "the command line wins")
            r = await runCLI(["script", "tensorboard", "--logdir", "r"], home: home, extraEnv: files.env)
            #expect(r.code == .success && !r.stdout.contains("hpcserve_container"), "\(r.stderr)")
            r = await runCLI(["config", "tensorboard"], home: home, extraEnv: files.env)
            #expect(row(r.stdout, "container") == ["- (not set)"])
        }
    }

    /// listen = socket in [defaults] is for the apps that can; ParaView keeps TCP.
    @Test func aDefaultListenModeAnAppCannotUseIsLeftToTheApp() async throws {
        let files = try Files(site: "[defaults]\nlisten = socket\nreverse_tunnel = yes\n", user: nil)
        defer { files.dir.cleanup() }
        try await withHome { home in
            let r = await runCLI(["script", "paraview", "-t", "10"], home: home, extraEnv: files.env)
            #expect(r.code == .success, "\(r.stderr)")
        }
        let context = Context(environment: files.env, output: CapturedOutput(), workingDirectory: "/")
        let config = try Configuration.load(context)
        #expect(config.applied(to: ParsedArguments(), app: Apps.named("jupyter")).values["--listen"] == ["socket"])
        #expect(config.applied(to: ParsedArguments(), app: Apps.named("paraview")).values["--listen"] == nil)
        #expect(config.applied(to: ParsedArguments(), app: nil).values["--reverse-tunnel"] == [""])
    }

    @Test(arguments: [0o664 as mode_t, 0o646, 0o666])
    func aFileOthersCanWriteIsRefused(_ mode: mode_t) async throws {
        let files = try Files(site: nil, user: "[defaults]\npartition = gpu\n")
        defer { files.dir.cleanup() }
        chmod(files.user, mode)
        let r = await runCLI(["script", "jupyter"], extraEnv: files.env)
        #expect(r.code == .config)
        #expect(
            r.stderr.contains(
                "refusing configuration file \(files.user): it is writable by group or others (mode "
                    + String(mode, radix: 8) + ")"))
        #expect(r.stderr.contains("chmod go-w"))
    }

    @Test func aFileOwnedBySomeoneElseIsRefused() throws {
        let files = try Files(site: "[defaults]\npartition = gpu\n", user: nil)
        defer { files.dir.cleanup() }
        let someoneElse = getuid() &+ 4242
        #expect(throws: ConfigError.self) {
            _ = try Configuration.read(files.site, owners: [someoneElse], ownerWord: "root", warn: { _ in })
        }
        do {
            _ = try Configuration.read(files.site, owners: [someoneElse], ownerWord: "root", warn: { _ in })
        } catch let error as ConfigError {
            #expect(error.description.contains("it is owned by user id \(getuid()), not by root"))
            #expect(error.exitCode == .config)
        }
        // The real site file must be root's: a file of the user's own is only fine when named by the variable.
        let own = try Configuration.read(files.site, owners: [getuid()], ownerWord: "you", warn: { _ in })
        #expect(own.sections["defaults"]?.first?.value == "gpu")
    }

    @Test func aBadEnvironmentValueNamesTheVariable() async throws {
        let r = await runCLI(["config"], extraEnv: ["HPCSERVE_TIME": "soon"])
        #expect(r.code == .usage)
        #expect(r.stderr.contains("environment variable HPCSERVE_TIME: --time value 'soon' is not a Slurm time"))
    }

    /// Hostile values given to `config`: refused as the job options refuse them, or shown escaped.
    @Test(arguments: [
        ["-p", "a;b"], ["--time", "$(id)"], ["--module", "x y"], ["--setup", "echo \u{1b}[31m"],
        ["--listen", "both"], ["--laptop-port", "0"], ["--login-host", "-oProxyCommand=x"], ["-A", "\u{202e}x"],
    ])
    func configRefusesWhatTheJobOptionsRefuse(_ words: [String]) async {
        let r = await runCLI(["config", "jupyter"] + words)
        #expect(r.code == .usage, "\(r.stdout)")
        #expect(r.stdout.isEmpty)
    }

    @Test func configShowsATrustedSetupLineAsGiven() async {
        let r = await runCLI(["config", "jupyter", "--setup", "source ~/venv/bin/activate # lab"])
        #expect(r.code == .success)
        #expect(row(r.stdout, "setup") == ["source ~/venv/bin/activate # lab command line"])
    }
}

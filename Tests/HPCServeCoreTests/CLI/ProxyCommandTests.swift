import Foundation
import Testing

@testable import HPCServeCore

@Suite struct ProxyCommandTests {
    /// ssh-config's options that are not job options, met by the corpus here.
    static let ownValueOptions: Set<String> = ["--name", "--login-host"]

    @Test func theShellJobScriptOnlyHoldsTheNodeAndPassesBashAndShellcheck() throws {
        let parsed = try ArgumentReader.read(
            ["--time", "8:00:00", "-p", "gpu", "-G", "1", "--", "--mail-type=END"],
            options: ProxyCommand.command.options,
            command: "proxy")
        let text = try ProxyCommand.script(
            parsed, paths: SessionPaths(root: "/home/alice/.hpcserve"),
            context: Context(environment: [:], output: CapturedOutput(), workingDirectory: "/"))
        #expect(text.contains("#SBATCH --job-name=hpcserve-shell\n"))
        #expect(text.contains("#SBATCH --time=8:00:00\n#SBATCH --partition=gpu\n"))
        #expect(text.contains("#SBATCH --gpus=1\n") && text.contains("#SBATCH --exclusive\n"))
        #expect(text.contains("#SBATCH --mail-type=END\n"))
        #expect(!text.contains("jupyter"))
        try expectValidBash(text, "shell job")
    }

    @Test(arguments: ["--job-name", "--module", "--setup", "--listen", "--template"])
    func optionsForServersAreNotProxyOptions(_ option: String) async {
        let r = await runCLI(["proxy", option, "x"])
        #expect(r.code == .usage, "\(r.stderr)")
    }

    /// Hostile values never reach the printed ~/.ssh/config block: refused on one line, exit 64.
    @Test func hostileValuesNeverReachTheSshConfigBlock() async throws {
        try await withHome { home in
            let corpus = HostileCorpus.values(canary: "/nonexistent/CANARY")
            for value in corpus.enumerated().filter({ $0.offset % 5 == 0 }).map(\.element) {
                for option in ["--name", "--login-host", "--time", "--partition", "--gres", "--constraint"] {
                    let r = await runCLI(["ssh-config", option, value], home: home)
                    if r.code == .success {
                        // Accepted: a plain value, and the block still has exactly its own lines.
                        #expect(r.stdout.split(separator: "\n").count == 11, "\(option) \(value.debugDescription)")
                        #expect(!value.contains("\n") && !value.contains(" "))
                    } else {
                        #expect(r.code == .usage, "\(option) \(value.debugDescription): \(r.stderr)")
                        #expect(r.stderr.split(separator: "\n").count == 1)
                    }
                }
            }
        }
    }

    @Test func percentInAProxyCommandIsDoubledForSsh() async throws {
        try await withHome { home in
            let r = await runCLI(["ssh-config", "--login-host", "hpc", "--constraint", "a%b"], home: home)
            if r.code == .success {
                #expect(r.stdout.contains("--constraint a%%b") || r.stdout.contains("'a%%b'"))
                #expect(!r.stdout.contains("a%b"))
            }
        }
    }
}

/// `hpcserve --host LOGIN ssh-config|shell` on the laptop: the block and the ssh command.
@Suite struct LaptopShellTests {
    static let key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPwwtI7QUtPjPk0CLXZjnQoRjGOVkGKLvuUsn/5OE13V hpcserve-job-0\n"

    @Test func theBlockNamesTheLoginTheRemoteHpcserveAndTheHostKey() throws {
        let text = try ProxyCommand.block(
            name: "hpc-job", login: "alice@hpc.example.org", user: "alice", remote: "/opt/hpc serve/bin/hpcserve",
            words: ["--time", "8:00:00", "--constraint", "a%b"], hostKey: Self.key)
        #expect(
            text.contains(
                "  ProxyCommand ssh alice@hpc.example.org '/opt/hpc serve/bin/hpcserve' proxy --time 8:00:00 "
                    + "--constraint a%%b\n"))
        #expect(text.contains("Host hpc-job\n  User alice\n"))
        #expect(
            text.contains(
                "#   echo 'hpcserve-shell ssh-ed25519 "
                    + "AAAAC3NzaC1lZDI1NTE5AAAAIPwwtI7QUtPjPk0CLXZjnQoRjGOVkGKLvuUsn/5OE13V' "
                    + ">> ~/.ssh/known_hosts_hpcserve\n"))
        #expect(text.split(separator: "\n").count == 11)
    }

    /// What the login node answered for the key goes into a line the user runs: only a key.
    @Test(arguments: ["", "not a key", "ssh-ed25519 AAAA'; rm -rf ~; '", "ssh-ed25519 AA\nAA", "ecdsa AAAA"])
    func anUnreadableHostKeyIsRefused(_ answer: String) {
        #expect(throws: LoginError.self) {
            try ProxyCommand.block(name: "x", login: "hpc", user: "alice", words: [], hostKey: answer)
        }
    }

    @Test func theShellGoesThroughTheMasterWithTheRemoteWordsQuoted() {
        let terminal = Laptop.shellArgv(
            host: "hpc", control: "/home/me/.hpcserve/laptop/k.ctl", remote: "hpcserve", words: ["--time", "2:00:00"],
            command: nil, terminal: true)
        #expect(
            terminal == [
                "ssh", "-S", "/home/me/.hpcserve/laptop/k.ctl", "-o", "ControlMaster=no", "-t", "--", "hpc",
                "hpcserve shell --time 2:00:00",
            ])
        let command = Laptop.shellArgv(
            host: "hpc", control: "/c", remote: "hpcserve", words: [], command: ["echo $(hostname)", "it's"],
            terminal: false)
        #expect(
            command == [
                "ssh", "-S", "/c", "-o", "ControlMaster=no", "-o", "BatchMode=yes", "--", "hpc",
                "hpcserve shell -- 'echo $(hostname)' 'it'\\''s'",
            ])
    }

    @Test func theShellFromTheLaptopNeedsHpcserveThere() async throws {
        try await withHome { home in
            let r = await runCLI(
                ["--host", "hpc", "shell"], home: home, extraEnv: ["HPCSERVE_REMOTE": "none"])
            #expect(r.code == .usage, "\(r.stderr)")
            #expect(r.stderr.contains("unset HPCSERVE_REMOTE=none"))
        }
    }
}

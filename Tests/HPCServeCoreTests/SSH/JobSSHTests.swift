import Foundation
import Testing

@testable import HPCServeCore

/// The job's ssh keys and sshd configuration, made here (the login node's watcher) or through a
/// shell on another host (the laptop, through its master): the same files either way.
@Suite(.tags(.shell)) struct JobSSHTests {
    func files(_ dir: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() {
            let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/" + name)
            out[name] = String((attributes[.posixPermissions] as? Int) ?? 0, radix: 8)
        }
        return out
    }

    @Test func theShellWayMakesWhatTheLocalWayMakes() async throws {
        try #require(which("ssh-keygen") != nil, "ssh-keygen is not installed")
        let temp = try TempDir()
        defer { temp.cleanup() }
        let local = JobSSH(job: "42", directory: temp.file("local"), node: "node01")
        try await local.prepare(runner: LiveProcessRunner())
        let shell = JobSSH(job: "42", directory: temp.file("shell"), node: "node01")
        try await shell.prepare(shell: LiveProcessRunner())
        let made = try files(shell.directory)
        // The same files, private alike (public halves: 0644 or 0600, as the umask has it).
        let secret = { (all: [String: String]) in all.filter { !$0.key.hasSuffix(".pub") } }
        #expect(secret(made) == secret(try files(local.directory)))
        #expect(Set(made.keys) == Set(JobSSH.keyFiles + ["job_sshd_config", "job_ssh_known_hosts"]))
        #expect(made.values.allSatisfy { $0 == "600" || $0 == "644" }, "\(made)")
        #expect(made["job_ssh_client_key"] == "600" && made["job_sshd_config"] == "600")
        #expect(try String(contentsOfFile: shell.config, encoding: .utf8) == shell.sshdConfig)
        // known_hosts: the alias and this job's own host key, nothing else.
        let known = try String(contentsOfFile: shell.knownHosts, encoding: .utf8)
        let pub = try String(contentsOfFile: shell.hostKey + ".pub", encoding: .utf8).split(separator: " ")
        #expect(known == "hpcserve-job-42 \(pub[0]) \(pub[1])\n")
        // Again: the keys are kept (a second forward of the same job), not made anew.
        try await shell.prepare(shell: LiveProcessRunner())
        #expect(try String(contentsOfFile: shell.knownHosts, encoding: .utf8) == known)
    }

    @Test func theShellWayRefusesADirectoryOthersMayRead() async throws {
        let temp = try TempDir()
        defer { temp.cleanup() }
        let dir = temp.file("open")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        chmod(dir, 0o755)
        let shell = JobSSH(job: "42", directory: dir, node: "node01")
        await #expect(throws: TunnelError.self) { try await shell.prepare(shell: LiveProcessRunner()) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func theShellWayWritesNoFileThroughASymbolicLink() async throws {
        let temp = try TempDir()
        defer { temp.cleanup() }
        let dir = temp.file("job")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        chmod(dir, 0o700)
        try FileManager.default.createSymbolicLink(
            atPath: dir + "/job_sshd_config", withDestinationPath: temp.file("x"))
        let shell = JobSSH(job: "42", directory: dir, node: "node01")
        await #expect(throws: TunnelError.self) { try await shell.prepare(shell: LiveProcessRunner()) }
        #expect(!FileManager.default.fileExists(atPath: temp.file("x")))
    }
}

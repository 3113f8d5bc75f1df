import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT/SIGTERM turned into a flag that long-running commands check between steps, so they
/// can stop their children and ask what to do instead of dying mid-way.
public final class Interrupts: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var sources: [any DispatchSourceSignal] = []

    public init() {}

    private var claimed = false

    public var fired: Bool { lock.lock(); defer { lock.unlock() }; return count > 0 }
    /// Called by a command that checks `fired` itself; until then an interrupt stops the
    /// running children and exits 130 at once.
    public func claim() { lock.lock(); claimed = true; lock.unlock() }

    public func fire() {
        lock.lock()
        count += 1
        let handled = claimed && count < 2   // a second Ctrl-C (e.g. at the question) exits at once
        lock.unlock()
        if !handled, !sources.isEmpty {
            LiveProcessRunner.running.terminateAll()
            exit(ExitCode.interrupted.rawValue)
        }
    }
    public func reset() { lock.lock(); count = 0; lock.unlock() }

    /// Catches SIGINT and SIGTERM from now on (a second one always exits 130).
    public func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.fire() }
            source.resume()
            sources.append(source)
        }
    }
}

/// Terminal facts for the live program.
public enum TerminalInfo {
    public static var stderrIsTerminal: Bool { isatty(2) == 1 }
    public static var stdinIsTerminal: Bool { isatty(0) == 1 }

    /// Reads a line from the terminal after printing `prompt` on stderr.
    public static func ask(_ prompt: String) -> String? {
        guard stdinIsTerminal else { return nil }
        FileHandle.standardError.write(Data(prompt.utf8))
        return readLine()
    }
}

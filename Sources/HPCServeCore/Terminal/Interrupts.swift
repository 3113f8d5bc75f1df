import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Written only by the signal handler (and `claim`), read by `Interrupts.fired`: word-sized
// values, as close to sig_atomic_t as Swift gets without newer platform requirements.
nonisolated(unsafe) private var signalCount: Int32 = 0
nonisolated(unsafe) private var signalClaimed: Int32 = 0

/// The SIGINT/SIGTERM handler: async-signal-safe (a counter and `_exit` only). Until a
/// command claims interrupts, and on a second signal, it exits 130 at once; children in our
/// process group get the terminal's Ctrl-C themselves.
private func onSignal(_ sig: Int32) {
    signalCount &+= 1
    if signalClaimed == 0 || signalCount >= 2 { _exit(130) }
}

/// SIGINT/SIGTERM turned into a flag that long-running commands check between steps, so they
/// can stop their children and ask what to do instead of dying mid-way.
/// (A plain handler, not a dispatch source: on Linux those read a signalfd, which never sees
/// a signal that is ignored.)
public final class Interrupts: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var installed = false

    public init() {}

    public var fired: Bool {
        lock.lock()
        defer { lock.unlock() }
        return count > 0 || (installed && signalCount > 0)
    }

    /// For tests and callers without real signals.
    public func fire() {
        lock.lock()
        count += 1
        lock.unlock()
    }

    /// Called by a command that checks `fired` itself; until then a signal exits 130 at once.
    public func claim() { signalClaimed = 1 }

    /// Installs the handler for SIGINT and SIGTERM (the live program only).
    public func install() {
        lock.lock()
        installed = true
        lock.unlock()
        // Whoever started us may have blocked them (a test harness, a job launcher).
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for sig in [SIGINT, SIGTERM] {
            sigaddset(&unblock, sig)
        }
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        for sig in [SIGINT, SIGTERM] {
            var action = sigaction()
            #if canImport(Glibc)
                action.__sigaction_handler.sa_handler = onSignal
            #else
                action.__sigaction_u.__sa_handler = onSignal
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(sig, &action, nil)
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

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
// The write end of the self-pipe that wakes sleepers (-1 until `install`): `write` is
// async-signal-safe, and a dispatch source on the read end resumes them.
nonisolated(unsafe) private var signalPipe: Int32 = -1

/// The SIGINT/SIGTERM handler: async-signal-safe (a counter and `_exit` only). Until a
/// command claims interrupts, and on a second signal, it exits 130 at once; children in our
/// process group get the terminal's Ctrl-C themselves.
private func onSignal(_ sig: Int32) {
    signalCount &+= 1
    if signalClaimed == 0 || signalCount >= 2 { _exit(130) }
    if signalPipe >= 0 {
        var byte: UInt8 = 1
        _ = write(signalPipe, &byte, 1)
    }
}

/// SIGINT/SIGTERM turned into a flag that long-running commands check between steps, so they
/// can stop their children and ask what to do instead of dying mid-way. `sleep` ends early when
/// it fires, so a waiting command wakes only when it has something to do.
/// (A plain handler, not a dispatch source: on Linux those read a signalfd, which never sees
/// a signal that is ignored.)
public final class Interrupts: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var installed = false
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter = 0
    private var source: (any DispatchSourceRead)?

    public init() {}

    public var fired: Bool {
        lock.lock()
        defer { lock.unlock() }
        return firedLocked
    }
    private var firedLocked: Bool { count > 0 || (installed && signalCount > 0) }

    /// For tests and callers without real signals.
    public func fire() {
        lock.lock()
        count += 1
        lock.unlock()
        wake()
    }

    /// Sleeps `seconds`, or less when an interrupt comes first (or has come already).
    public func sleep(_ seconds: Double) async {
        guard seconds > 0, !fired else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9)) }
            group.addTask { await self.waitUntilFired() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once an interrupt has fired, or when the calling task is cancelled.
    func waitUntilFired() async {
        let id = newWaiterID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                lock.lock()
                if firedLocked || Task.isCancelled {
                    lock.unlock()
                    c.resume()
                    return
                }
                waiters[id] = c
                lock.unlock()
            }
        } onCancel: {
            lock.lock()
            let c = waiters.removeValue(forKey: id)
            lock.unlock()
            c?.resume()
        }
    }

    /// Sleepers waiting for an interrupt now (for tests).
    var sleeperCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return waiters.count
    }

    private func newWaiterID() -> Int {
        lock.lock()
        defer { lock.unlock() }
        nextWaiter += 1
        return nextWaiter
    }

    /// Resumes every sleeper (after a signal or `fire`).
    private func wake() {
        lock.lock()
        let woken = waiters.values
        waiters.removeAll()
        lock.unlock()
        for c in woken { c.resume() }
    }

    /// Called by a command that checks `fired` itself; until then a signal exits 130 at once.
    public func claim() { signalClaimed = 1 }

    /// Installs the handler for SIGINT and SIGTERM (the live program only).
    public func install() {
        lock.lock()
        installed = true
        lock.unlock()
        // The self-pipe: the handler writes a byte, this source drains it and wakes sleepers.
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
            let readEnd = fds[0]
            let source = DispatchSource.makeReadSource(fileDescriptor: readEnd, queue: .global())
            source.setEventHandler { [weak self] in
                var buffer = [UInt8](repeating: 0, count: 64)
                while read(readEnd, &buffer, buffer.count) > 0 {}
                self?.wake()
            }
            source.resume()
            lock.lock()
            self.source = source
            lock.unlock()
            signalPipe = fds[1]
        }
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

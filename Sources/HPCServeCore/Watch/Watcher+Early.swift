import Foundation

/// The watcher's early ssh master: opened when squeue names the node, used at ready.
extension Watcher {
    /// Opens an ssh master to `node` while the server starts, unless one is open already (to
    /// that node, or a live forward of an earlier watch, which the ready step reuses). A
    /// failure here is not reported: the ready step opens a fresh forward and reports its error.
    func openEarly(_ node: String) async {
        // Where ssh to nodes is off, the forward goes through the job (srun): nothing to open early.
        guard options.nodeSSH != .no else { return }
        if early.current == node { return }
        if early.current != nil { await closeEarly() }
        let master = Tunnel(runner: context.runner, directory: directory, node: node, target: "")
        if await master.isAlive() { return }
        do {
            try await master.openEarly()
            early.set(node)
        } catch {
            await master.closeMaster()
        }
    }

    /// Closes the early master, if one is open.
    func closeEarly() async {
        guard let node = early.current else { return }
        early.set(nil)
        await Tunnel(runner: context.runner, directory: directory, node: node, target: "").closeMaster()
    }

    /// Adds `tunnel`'s forward to the early master to its node; false (and the master closed)
    /// if there is none or ssh refused, so the caller opens a fresh forward.
    func forwardEarly(_ tunnel: Tunnel) async -> Bool {
        guard early.current == tunnel.node else { return false }
        early.set(nil)
        do {
            try await tunnel.addForward()
            return true
        } catch {
            await tunnel.close()
            return false
        }
    }
}

/// Runs a blocking call (a socket probe with its timeouts) on a thread of its own, never on
/// Swift concurrency's cooperative pool.
enum OffPool {
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }
}

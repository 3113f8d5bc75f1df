/// When to ask squeue again: gentle with a shared scheduler, quick where it is free.
public struct PollPolicy: Sendable, Equatable {
    /// First squeue interval while pending, growing by `growth` up to `pendingMax`.
    public var pendingFirst = 2.0
    public var pendingMax = 60.0
    public var growth = 1.6
    /// While running but not yet ready (readiness comes from the file, not from squeue).
    public var running = 10.0
    /// Once ready: only to notice the end, a requeue, and the time left.
    public var ready = 30.0
    /// Retries while slurmctld does not answer.
    public var unreachableFirst = 5.0
    public var unreachableMax = 60.0
    /// How often connection.json is looked at (a local stat: free for the scheduler).
    public var file = 0.5
    /// ... once the job runs: the server is due within seconds, and every 50 ms of delay is
    /// the user's (for `fileRunningFor` seconds after squeue said running, then `file` again).
    public var fileRunning = 0.05
    public var fileRunningFor = 120.0
    /// ... while a job has been pending longer than `filePendingFor`: the job's log appearing is
    /// what the look is for, and a start noticed a little later is hidden by the server's own
    /// start-up (the ssh to the node opens meanwhile); fewer wake-ups for a long wait.
    public var filePendingLong = 2.0
    public var filePendingFor = 60.0
    public init() {}
}

/// Where a watched job is.
public enum WatchPhase: Sendable, Equatable {
    case waiting
    case pending(reason: String)
    case running(node: String)
    case ready(ConnectionInfo)
    case ended(state: String)
}

/// Something worth telling the user, or acting on.
public enum WatchEvent: Sendable, Equatable {
    case pending(reason: String, startEstimate: String)
    case running(node: String)
    case ready(ConnectionInfo)
    /// The job moved to another node (requeue): the forward must follow.
    case moved(from: String, to: String)
    case controllerUnreachable(message: String, retryIn: Double)
    case controllerBack
    case ended(state: String, reason: String)
    case gone
    case squeueFailed(String)
}

/// The watcher's state machine: fed squeue answers and connection.json observations with
/// the time they were made, it says what changed and when to ask squeue next. Pure: the
/// clock, squeue and the file system are the caller's.
public struct WatchState: Sendable {
    public let policy: PollPolicy
    public private(set) var phase: WatchPhase = .waiting
    /// Time (seconds, caller's clock) at which squeue should be asked next.
    public private(set) var nextSqueue: Double
    public private(set) var interval: Double
    public private(set) var unreachable = false
    private var lastNode = ""
    private var lastReason = ""
    /// When squeue last said the job runs (on a node it did not run on before).
    private var runningSince: Double?
    private var lastEstimate = ""
    /// When squeue first said the job pends (since the last time it ran).
    private var pendingSince: Double?

    public init(policy: PollPolicy = PollPolicy(), now: Double) {
        self.policy = policy
        self.nextSqueue = now
        self.interval = policy.pendingFirst
    }

    public var isFinished: Bool {
        if case .ended = phase { return true }
        return false
    }

    /// True until squeue or connection.json has shown the job running.
    public var isWaitingToStart: Bool {
        switch phase {
        case .waiting, .pending: return true
        default: return false
        }
    }

    public mutating func observe(_ query: JobQuery, at now: Double) -> [WatchEvent] {
        var events: [WatchEvent] = []
        switch query {
        case .unreachable(let message):
            interval = unreachable ? min(interval * policy.growth, policy.unreachableMax) : policy.unreachableFirst
            unreachable = true
            nextSqueue = now + interval
            return [.controllerUnreachable(message: message, retryIn: interval)]
        case .failed(let message):
            interval = min(max(interval, policy.unreachableFirst) * policy.growth, policy.unreachableMax)
            nextSqueue = now + interval
            return [.squeueFailed(message)]
        case .gone:
            phase = .ended(state: "GONE")
            return [.gone]
        case .found(let status):
            if unreachable {
                events.append(.controllerBack)
                unreachable = false
                interval = policy.pendingFirst
            }
            events += observe(status, at: now)
        }
        return events
    }

    private mutating func observe(_ status: JobStatus, at now: Double) -> [WatchEvent] {
        var events: [WatchEvent] = []
        if !status.isActive {
            phase = .ended(state: status.state)
            return [.ended(state: status.state, reason: status.reason)]
        }
        if status.state == "PENDING" || status.state == "REQUEUED" || status.nodes.isEmpty {
            let wasPending: Bool
            if case .pending = phase { wasPending = true } else { wasPending = false }
            // A new reason, or a new start estimate from the same squeue answer (no extra call).
            let newEstimate = status.startTime != lastEstimate && !["", "N/A"].contains(status.startTime)
            if !wasPending || status.reason != lastReason || newEstimate {
                events.append(.pending(reason: status.reason, startEstimate: status.startTime))
            }
            lastEstimate = status.startTime
            // Back off while pending: the scheduler is shared, and nothing changes fast.
            interval = wasPending ? min(interval * policy.growth, policy.pendingMax) : policy.pendingFirst
            if !wasPending { pendingSince = now }
            phase = .pending(reason: status.reason)
            lastReason = status.reason
            nextSqueue = now + interval
            return events
        }
        let node = status.firstNode
        switch phase {
        case .ready(let info) where info.node != node:
            events.append(.moved(from: info.node, to: node))
            phase = .running(node: node)
            runningSince = now
        case .ready:
            break
        case .running(let old) where old != node:
            events.append(.moved(from: old, to: node))
            phase = .running(node: node)
            runningSince = now
        case .running:
            break
        default:
            if !lastNode.isEmpty, lastNode != node { events.append(.moved(from: lastNode, to: node)) }
            events.append(.running(node: node))
            phase = .running(node: node)
            runningSince = now
        }
        lastNode = node
        if case .ready = phase { interval = policy.ready } else { interval = policy.running }
        nextSqueue = now + interval
        return events
    }

    /// connection.json as read now (nil: not there). Ready once it names the node the job
    /// runs on (a file from before a requeue names the old node and does not count).
    public mutating func observe(connection: ConnectionInfo?, at now: Double) -> [WatchEvent] {
        guard let info = connection else { return [] }
        switch phase {
        case .running(let node) where info.node == node:
            phase = .ready(info)
            interval = policy.ready
            nextSqueue = now + interval
            return [.ready(info)]
        case .waiting, .pending:
            // squeue has not said "running" yet (or slurmctld is away, or the pending backoff
            // is long after a requeue): the file is proof enough.
            let moved: [WatchEvent] =
                !lastNode.isEmpty && lastNode != info.node ? [.moved(from: lastNode, to: info.node)] : []
            lastNode = info.node
            phase = .ready(info)
            interval = policy.ready
            nextSqueue = now + interval
            return moved + [.ready(info)]
        case .ready(let old) where old != info:
            phase = .ready(info)
            return old.node != info.node ? [.moved(from: old.node, to: info.node), .ready(info)] : [.ready(info)]
        default:
            return []
        }
    }

    /// Ask squeue at the next step (e.g. connection.json vanished: the job is probably over).
    public mutating func pollSoon(now: Double) {
        nextSqueue = min(nextSqueue, now)
    }

    /// Seconds to sleep before the next thing to do (squeue or a file look).
    public func sleepTime(now: Double) -> Double {
        let untilSqueue = max(0, nextSqueue - now)
        switch phase {
        case .ready, .ended: return untilSqueue
        case .running:
            let fast = runningSince.map { now - $0 < policy.fileRunningFor } ?? false
            return min(untilSqueue, fast ? policy.fileRunning : policy.file)
        case .pending:
            let long = pendingSince.map { now - $0 >= policy.filePendingFor } ?? false
            return min(untilSqueue, long ? policy.filePendingLong : policy.file)
        default: return min(untilSqueue, policy.file)
        }
    }
}

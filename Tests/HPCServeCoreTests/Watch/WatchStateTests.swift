import Testing

@testable import HPCServeCore

func info(node: String = "node01") -> ConnectionInfo {
    ConnectionInfo(
        version: 1, app: "jupyter", jobID: 42, node: node, host: "127.0.0.1", port: nil,
        socket: "/tmp/hpcserve-42.x/server.sock", reverseSocket: nil, token: "t", secretKind: "token",
        user: "alice", urlPath: "/lab", pid: 1, started: "")
}

@Suite struct WatchStateTests {
    let pending = JobQuery.found(JobStatus(state: "PENDING", reason: "Priority", timeLeft: "2:00:00", startTime: "N/A"))
    func running(_ node: String) -> JobQuery {
        .found(JobStatus(state: "RUNNING", nodes: node, reason: "None", timeLeft: "1:59:00"))
    }

    @Test func pendingBacksOffToAMinuteAndNeverPollsFasterThanTwoSeconds() {
        var s = WatchState(now: 0)
        var now = 0.0
        var intervals: [Double] = []
        for _ in 0..<12 {
            _ = s.observe(pending, at: now)
            intervals.append(s.nextSqueue - now)
            now = s.nextSqueue
        }
        #expect(intervals.first == 2)
        #expect(intervals.allSatisfy { $0 >= 2 })
        #expect(zip(intervals, intervals.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(intervals.last == 60)
        // After the first minute of pending: at most one squeue per 10 s.
        var t = 0.0
        var calls = 0
        var s2 = WatchState(now: 0)
        while t < 600 {
            _ = s2.observe(pending, at: t)
            if t > 60 { calls += 1 }
            t = s2.nextSqueue
        }
        #expect(Double(calls) <= 540.0 / 10.0)
    }

    @Test func pendingIsReportedOnceAndAgainWhenTheReasonChanges() {
        var s = WatchState(now: 0)
        #expect(s.observe(pending, at: 0) == [.pending(reason: "Priority", startEstimate: "N/A")])
        #expect(s.observe(pending, at: 2).isEmpty)
        let resources = JobQuery.found(
            JobStatus(state: "PENDING", reason: "Resources", startTime: "2026-11-22T03:00:00"))
        #expect(s.observe(resources, at: 5) == [.pending(reason: "Resources", startEstimate: "2026-11-22T03:00:00")])
    }

    @Test func readinessComesFromTheFileForTheNodeTheJobRunsOn() {
        var s = WatchState(now: 0)
        #expect(s.observe(running("node01"), at: 0) == [.running(node: "node01")])
        #expect(s.sleepTime(now: 0) == 0.05, "the file is polled every 50 ms once the job runs")
        #expect(s.nextSqueue == 10, "squeue only every 10 s while running")
        #expect(s.observe(connection: nil, at: 0.5).isEmpty)
        #expect(s.observe(connection: info(node: "node02"), at: 1).isEmpty, "a file naming another node is stale")
        #expect(s.observe(connection: info(), at: 1.5) == [.ready(info())])
        #expect(s.nextSqueue == 31.5)
    }

    @Test func theFileIsPolledQuicklyOnlyWhileTheServerIsDue() {
        var s = WatchState(now: 0)
        _ = s.observe(pending, at: 0)
        #expect(s.sleepTime(now: 0) == 0.5, "while pending, a look every 0.5 s")
        _ = s.observe(running("node01"), at: 2)
        #expect(s.sleepTime(now: 2) == 0.05)
        _ = s.observe(running("node01"), at: 100)
        #expect(s.sleepTime(now: 100) == 0.05, "still within two minutes of the start")
        _ = s.observe(running("node01"), at: 130)
        #expect(s.sleepTime(now: 130) == 0.5, "a server that takes minutes is looked for every 0.5 s")
        _ = s.observe(running("node02"), at: 140)
        #expect(s.sleepTime(now: 140) == 0.05, "moved to another node: due again")
        _ = s.observe(connection: info(node: "node02"), at: 141)
        #expect(s.sleepTime(now: 141) == 30, "ready: only squeue, every 30 s")
    }

    @Test func aLongPendingJobIsLookedForLessOften() {
        var s = WatchState(now: 0)
        _ = s.observe(pending, at: 0)
        _ = s.observe(pending, at: 50)
        #expect(s.sleepTime(now: 50) == 0.5, "the first minute of pending: every 0.5 s")
        _ = s.observe(pending, at: 70)
        #expect(s.sleepTime(now: 70) == 2, "pending for over a minute: every 2 s")
        _ = s.observe(running("node01"), at: 80)
        #expect(s.sleepTime(now: 80) == 0.05, "running: the server is due")
        _ = s.observe(pending, at: 90)
        #expect(s.sleepTime(now: 90) == 0.5, "requeued and pending again: the minute starts again")
    }

    @Test func aRequeueOntoAnotherNodeIsNoticed() {
        var s = WatchState(now: 0)
        _ = s.observe(running("node01"), at: 0)
        _ = s.observe(connection: info(), at: 1)
        #expect(s.observe(running("node02"), at: 31) == [.moved(from: "node01", to: "node02")])
        #expect(s.observe(connection: info(node: "node01"), at: 32).isEmpty)
        #expect(s.observe(connection: info(node: "node02"), at: 40) == [.ready(info(node: "node02"))])
    }

    @Test func aRequeueSeenFirstInTheFileIsStillAMove() {
        var s = WatchState(now: 0)
        _ = s.observe(running("node01"), at: 0)
        _ = s.observe(connection: info(), at: 1)
        let requeued = JobQuery.found(
            JobStatus(state: "PENDING", reason: "BeginTime", startTime: "2026-11-22T03:00:00"))
        #expect(s.observe(requeued, at: 31) == [.pending(reason: "BeginTime", startEstimate: "2026-11-22T03:00:00")])
        #expect(
            s.observe(connection: info(node: "node02"), at: 40) == [
                .moved(from: "node01", to: "node02"), .ready(info(node: "node02")),
            ])
    }

    @Test func anUnreachableControllerIsRetriedWithBackoffNotFatal() {
        var s = WatchState(now: 0)
        _ = s.observe(pending, at: 0)
        let down = JobQuery.unreachable("slurm_load_jobs error: Unable to contact slurm controller (connect failure)")
        #expect(
            s.observe(down, at: 2) == [
                .controllerUnreachable(
                    message: "slurm_load_jobs error: Unable to contact slurm controller (connect failure)", retryIn: 5)
            ])
        _ = s.observe(down, at: 7)
        #expect(s.nextSqueue - 7 == 8)
        #expect(!s.isFinished)
        #expect(s.observe(pending, at: 15).first == .controllerBack)
    }

    @Test func theEndIsReported() {
        var s = WatchState(now: 0)
        _ = s.observe(running("node01"), at: 0)
        #expect(
            s.observe(.found(JobStatus(state: "FAILED", nodes: "node01", reason: "NonZeroExitCode")), at: 10)
                == [.ended(state: "FAILED", reason: "NonZeroExitCode")])
        #expect(s.isFinished)
        var g = WatchState(now: 0)
        #expect(g.observe(.gone, at: 0) == [.gone])
    }
}

@Suite struct SlurmParsingTests {
    @Test func squeueAnswersAreClassified() {
        #expect(
            Slurm.parseQuery(ProcessResult(status: 0, stdout: "RUNNING|node01|None|1:59:40|2026-11-22T02:00:00\n"))
                == .found(
                    JobStatus(
                        state: "RUNNING", nodes: "node01", reason: "None", timeLeft: "1:59:40",
                        startTime: "2026-11-22T02:00:00")))
        #expect(Slurm.parseQuery(ProcessResult(status: 0, stdout: "")) == .gone)
        #expect(
            Slurm.parseQuery(ProcessResult(status: 1, stderr: "slurm_load_jobs error: Invalid job id specified\n"))
                == .gone)
        #expect(
            Slurm.parseQuery(
                ProcessResult(
                    status: 1, stderr: "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"))
                == .unreachable("slurm_load_jobs error: Unable to contact slurm controller (connect failure)"))
        #expect(
            Slurm.parseQuery(ProcessResult(status: 1, stderr: "squeue: error: something\n"))
                == .failed("squeue: error: something"))
    }

    @Test func jobIDsAreNumbers() throws {
        #expect(try Slurm.jobID("4242") == "4242")
        for bad in ["", "42a", "-1", "4242;id", "12345678901"] {
            #expect(throws: SlurmError.self) { try Slurm.jobID(bad) }
        }
    }
}

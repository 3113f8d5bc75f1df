import Foundation
import Testing

@testable import HPCServeCore

/// The live sleep ends on an interrupt instead of looking at a flag every so often: a watcher
/// that waits wakes only for its own work. (An hour-long sleep that did not end would hold the
/// test until its time limit: that is the failure, not a measured time.)
@Suite struct InterruptsTests {
    @Test(.timeLimit(.minutes(1))) func anHourLongSleepEndsWhenTheInterruptFires() async {
        let interrupts = Interrupts()
        async let slept: Void = interrupts.sleep(3600)
        // Fire only once the sleeper waits (it registers itself; fired before, it returns at once too).
        while interrupts.sleeperCount == 0 { await Task.yield() }
        interrupts.fire()
        await slept
        #expect(interrupts.fired)
        #expect(interrupts.sleeperCount == 0)
    }

    @Test(.timeLimit(.minutes(1))) func aSleepAfterTheInterruptReturnsAtOnce() async {
        let interrupts = Interrupts()
        interrupts.fire()
        await interrupts.sleep(3600)
        #expect(interrupts.sleeperCount == 0)
    }

    @Test func aShortSleepEndsByItselfAndLeavesNoSleeperBehind() async {
        let interrupts = Interrupts()
        await interrupts.sleep(0.01)
        #expect(!interrupts.fired)
        #expect(interrupts.sleeperCount == 0)
    }

    @Test(.timeLimit(.minutes(1))) func manySleepersAllWake() async {
        let interrupts = Interrupts()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { await interrupts.sleep(3600) } }
            while interrupts.sleeperCount < 20 { await Task.yield() }
            interrupts.fire()
        }
        #expect(interrupts.sleeperCount == 0)
    }
}

import Foundation
import Logging
import Testing
import WeirCore

@testable import WeirActions

/// One worker process, directly: deadlines hold however big the request, and stopping many
/// workers shares one grace period.
@Suite struct WorkerProcessTests {
    @Test func aHungWorkerMissesItsDeadlineEvenWithARequestBiggerThanThePipe() throws {
        // Never reads its stdin: a 1 MiB request cannot be written in full.
        let worker = try WorkerProcess(
            argv: ["/bin/sleep", "60"], environment: [:], directory: nil, function: "t", logger: Logger(label: "t"))
        let row: JSONObject = ["blob": .string(String(repeating: "x", count: 1 << 20))]
        let started = ContinuousClock.now
        let result = worker.call(row: row, timeout: .milliseconds(300))
        let took = ContinuousClock.now - started
        guard case .failure(.timedOut) = result else {
            Issue.record("expected a timeout, got \(result)")
            return
        }
        #expect(took < .seconds(5), "the deadline held: \(took)")
        #expect(!worker.isAlive)
        worker.terminate()
        #expect(kill(worker.pid, 0) != 0, "killed and reaped")
    }

    @Test func stoppingManyWorkersTakesOneGracePeriod() throws {
        // They ignore end of input: each needs the SIGKILL after the grace period.
        let workers = try (0..<6).map { _ in
            try WorkerProcess(
                argv: ["/bin/sh", "-c", "trap '' TERM; sleep 60"], environment: [:], directory: nil, function: "t",
                logger: Logger(label: "t"))
        }
        let started = ContinuousClock.now
        WorkerProcess.terminate(workers, grace: .milliseconds(300))
        let took = ContinuousClock.now - started
        #expect(took < .seconds(3), "not 6 x the grace period: \(took)")
        #expect(workers.allSatisfy { kill($0.pid, 0) != 0 })
    }

    @Test func anAnswerWithTheWrongIdRetiresTheWorker() throws {
        let worker = try WorkerProcess(
            argv: ["/bin/sh", "-c", #"while read -r l; do echo '{"id":999,"output":[]}'; done"#], environment: [:], directory: nil,
            function: "t",
            logger: Logger(label: "t"))
        guard case .failure(.protocolError(let why)) = worker.call(row: [:], timeout: .seconds(5)) else {
            Issue.record("expected a protocol error")
            return
        }
        #expect(why.contains("999"))
        #expect(!worker.isAlive)
        worker.terminate()
    }
}

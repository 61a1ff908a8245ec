import Synchronization
import Testing
import WeirCore

/// A shareable counter for tests (an `Atomic` cannot be captured by escaping closures).
final class SharedCount: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var current: Int { value.withLock { $0 } }
}

@Suite struct BoundedQueueTests {
    @Test func deliversInOrderAndDrainsAfterFinish() async {
        let queue = BoundedQueue<Int>(capacity: 3)
        for i in 0..<3 { #expect(await queue.send(i)) }
        #expect(!queue.trySend(99))
        queue.finish()
        #expect(await queue.send(4) == false)
        var got: [Int] = []
        while let x = await queue.next() { got.append(x) }
        #expect(got == [0, 1, 2])
    }

    @Test func asyncSendWaitsForRoom() async {
        let queue = BoundedQueue<Int>(capacity: 1)
        await queue.send(1)
        let sent = SharedCount()
        let producer = Task {
            await queue.send(2)
            sent.add()
        }
        // The producer is waiting once its element counts; it has not been let through.
        var waited = 0
        while queue.count < 2 && waited < 10_000 {
            try? await Task.sleep(for: .milliseconds(1))
            waited += 1
        }
        #expect(queue.count == 2)
        #expect(sent.current == 0)
        #expect(await queue.next() == 1)
        await producer.value
        #expect(sent.current == 1)
        #expect(await queue.next() == 2)
    }

    @Test func blockingProducersLoseNothingUnderContention() async {
        let queue = BoundedQueue<Int>(capacity: 8)
        let producers = 4
        let perProducer = 2_000
        for p in 0..<producers {
            startOSThread(name: "producer") {
                for i in 0..<perProducer { queue.sendBlocking(p * perProducer + i) }
            }
        }
        var seen = Set<Int>()
        var lastPerProducer = [Int](repeating: -1, count: producers)
        for _ in 0..<(producers * perProducer) {
            guard let x = await queue.next() else { break }
            #expect(queue.count <= 8 + producers)
            let p = x / perProducer
            #expect(x > lastPerProducer[p], "per-producer order holds")
            lastPerProducer[p] = x
            seen.insert(x)
        }
        #expect(seen.count == producers * perProducer)
    }

    @Test func finishReleasesBlockedProducersAndWaitingConsumers() async {
        let queue = BoundedQueue<Int>(capacity: 1)
        queue.sendBlocking(1)
        let released = SharedCount()
        startOSThread(name: "blocked") {
            if !queue.sendBlocking(2) { released.add() }
        }
        try? await Task.sleep(for: .milliseconds(50))
        queue.finish()
        for _ in 0..<100 where released.current == 0 {
            try? await Task.sleep(for: .milliseconds(10))
        }
        #expect(released.current == 1)
        #expect(await queue.next() == 1)
        #expect(await queue.next() == nil)
    }

    @Test func cancelledConsumerGetsNil() async {
        let queue = BoundedQueue<Int>(capacity: 1)
        let consumer = Task { await queue.next() }
        try? await Task.sleep(for: .milliseconds(20))
        consumer.cancel()
        #expect(await consumer.value == nil)
        #expect(queue.trySend(5))
        #expect(await queue.next() == 5)
    }

    /// A batch handed over by one blocking producer arrives whole and in order, in runs, even when
    /// it is far bigger than the queue: what does not fit waits for room, nothing is lost.
    @Test func batchesLargerThanTheQueueArriveWholeAndInOrder() async {
        let queue = BoundedQueue<Int>(capacity: 8)
        let accepted = SharedCount()
        startOSThread(name: "batch-producer") {
            for batch in 0..<10 {
                let n = queue.sendBlocking(contentsOf: Array((batch * 100)..<(batch * 100 + 100)))
                for _ in 0..<n { accepted.add() }
            }
            queue.finish()
        }
        var seen: [Int] = []
        var largestRun = 0
        while let run = await queue.next(upTo: 5) {
            #expect(run.count <= 5)
            largestRun = max(largestRun, run.count)
            seen += run
        }
        #expect(seen == Array(0..<1000))
        #expect(accepted.current == 1000)
        #expect(largestRun > 1, "runs are taken together when buffered")
    }

    @Test func aBatchAfterFinishIsRefused() async {
        let queue = BoundedQueue<Int>(capacity: 4)
        #expect(queue.sendBlocking(contentsOf: [1, 2]) == 2)
        queue.finish()
        #expect(queue.sendBlocking(contentsOf: [3]) == 0)
        #expect(await queue.next(upTo: 10) == [1, 2])
        #expect(await queue.next(upTo: 10) == nil)
    }
}

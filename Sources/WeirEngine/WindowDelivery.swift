import Synchronization
import WeirActions
import WeirCore
import WeirRules

/// Runs the rule's actions for each window row, in the pool. A closed window's saved state is
/// deleted once every action for its row has run.
public func submit(
    _ outputs: [(Rule, WindowOutput)], engine: WindowEngine, to pool: ActionPool, fromWorker: Bool = false, settlement: Settlement? = nil
) async {
    for (rule, output) in outputs {
        engine.closing(rule.name, output)
        let actions = output.late ? rule.lateActions : rule.actions
        let remaining = Countdown(actions.count) { engine.delivered(rule.name, output) }
        // An aggregate has no single input topic: its subject is the rule's first FROM filter.
        let topic = rule.query.topicFilters.first ?? ""
        for action in actions {
            var invocation = Invocation(rule: rule.name, action: action, row: output.row, topic: topic, receivedAt: output.windowEnd)
            // Failed or not, the action has run (a failure is counted and logged by the pool): the
            // saved window goes, so a row that cannot be delivered is not re-emitted at every start.
            // Unless the store refused it: then the row stays saved and comes again at the next start.
            invocation.onCompletion = { settled in if settled { remaining.tick() } }
            invocation.settlement = settlement
            await pool.submit(invocation, fromWorker: fromWorker)
        }
    }
}

/// Calls `done` once `tick()` has been called `count` times.
final class Countdown: Sendable {
    private let left: Mutex<Int>
    private let done: @Sendable () -> Void

    init(_ count: Int, done: @escaping @Sendable () -> Void) {
        left = Mutex(count)
        self.done = done
        if count == 0 { done() }
    }

    func tick() {
        let finished = left.withLock { n in
            n -= 1
            return n == 0
        }
        if finished { done() }
    }
}

import Logging
import Metrics
import WeirCore
import WeirRules

/// Admission: one event's input into its rule's open windows, the outcome's metric and log line,
/// and, with a store, the event's settlement registered for the checkpoint that saves its change.
struct WindowAdmitter: Sendable {
    let table: WindowTable
    /// nil without a store.
    let checkpointer: WindowCheckpointer?
    let clock: @Sendable () -> Int64
    let logger: Logger

    /// Adds one event's input; returns rows its window emitted at once (count, sliding, sessions).
    /// With a store, `settlement` waits for the checkpoint that makes this change durable.
    func add(_ input: WindowInput, settlement: Settlement?) -> [(Rule, WindowOutput)] {
        let now = clock()
        let name = input.rule.name
        let result: (outcome: Result<(WindowAdmission, [WindowOutput]), EvaluationError>, counter: Counter)? =
            table.shared.withLock { shared in
                let admitted = shared.entries.modify(name) { entry in
                    // Processing time is this engine's clock (not the receive stamp), so windows and
                    // the clock that closes them agree, and tests can drive both.
                    let time = input.rule.timeMode == .processing ? now : input.time
                    let outcome = Result { () throws(EvaluationError) in
                        try entry.windows.add(keys: input.keys, values: input.values, time: time, now: now)
                    }
                    let counter = entry.metrics.counter(Self.count(of: outcome))
                    return (outcome, counter, entry.hasUnsavedChanges)
                }
                guard case (let outcome, let counter, let changed)? = admitted else { return nil }
                if let settlement, let checkpointer, case .success((.accepted, _)) = outcome {
                    checkpointer.register(settlement, &shared.checkpoint)
                }
                if changed { checkpointer?.markDirty(name, &shared.checkpoint) }
                return (outcome, counter)
            }
        guard let result else { return [] }
        result.counter.increment()
        switch result.outcome {
        case .success(let (admission, outputs)):
            if admission == .late, !input.rule.lateActions.isEmpty {
                var row = JSONObject()
                if case .object(let object) = input.payload { row = object } else { row["payload"] = input.payload }
                return [(input.rule, WindowOutput(row: row, windowStart: input.time, windowEnd: input.time, late: true))]
            }
            return outputs.map { (input.rule, $0) }
        case .failure(let error):
            if table.shouldLog(name) {
                logger.warning("windowed rule failed on event", metadata: ["rule": "\(name)", "error": "\(error.message)"])
            }
            return []
        }
    }

    /// The counter an admission outcome counts in.
    private static func count(of outcome: Result<(WindowAdmission, [WindowOutput]), EvaluationError>) -> WindowRuleMetrics.Count {
        switch outcome {
        case .success((.accepted, _)): .events
        case .success((.late, _)): .late
        case .success((.overGroupLimit, _)): .dropped
        case .failure: .errors
        }
    }
}

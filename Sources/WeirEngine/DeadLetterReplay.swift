import Logging
import WeirActions
import WeirCore
import WeirForwarder
import WeirRules
import WeirStore

/// Puts dead letters back where they failed (`weir dlq replay`, through the admin endpoint).
///
/// A function's invocation goes to the pool again (with its retries; failing again makes a new
/// letter), a refused batch's rows go back to their upstream's outbox (with new sequence numbers).
/// A letter is deleted once it is handed back. Unreadable records and undeliverable emitted values
/// cannot be replayed: they stay, for `weir dlq show` and `purge`.
public struct DeadLetterReplay: Sendable {
    let deadLetters: DeadLetters
    let pool: ActionPool
    let outboxes: [String: Outbox]
    /// Where the store's blocking reads and writes run (the admin's executor).
    let io: BlockingThreads
    let logger: Logger

    public init(deadLetters: DeadLetters, pool: ActionPool, outboxes: [String: Outbox], io: BlockingThreads, logger: Logger) {
        self.deadLetters = deadLetters
        self.pool = pool
        self.outboxes = outboxes
        self.io = io
        self.logger = logger
    }

    /// Replays `chosen` in order: `{"replayed": N, "skipped": [{"id", "reason"}]}`.
    public func replay(_ chosen: [DeadLetter]) async throws -> JSONValue {
        var replayed = 0
        var skipped: [JSONValue] = []
        for letter in chosen {
            if let reason = try await replay(letter) {
                skipped.append(["id": .int(Int64(letter.id)), "reason": .string(reason)])
                continue
            }
            let letters = deadLetters
            _ = try await io.run { try letters.purge(letter.id) }
            replayed += 1
        }
        logger.notice("dead letters replayed", metadata: ["replayed": "\(replayed)", "skipped": "\(skipped.count)"])
        return ["replayed": .int(Int64(replayed)), "skipped": .array(skipped)]
    }

    /// Hands one letter back; the reason when it cannot be.
    private func replay(_ letter: DeadLetter) async throws -> String? {
        switch letter.kind {
        case .function:
            guard case .string(let rule)? = letter.payload["rule"], case .object(let row)? = letter.payload["row"] else {
                return "payload has no rule and row"
            }
            let invocation = Invocation(
                rule: rule, action: .call(function: letter.target), row: row, topic: "$weir/replay", receivedAt: currentTimeMillis())
            return await pool.submit(invocation) ? nil : "weir is stopping"
        case .upstream:
            guard let outbox = outboxes[letter.target] else { return "upstream '\(letter.target)' is no longer configured" }
            guard case .array(let rows) = letter.payload else { return "payload is not a list of rows" }
            let records = try rows.map { try OutboxRecord(json: $0) }
            for record in records { _ = try await outbox.append(record.encoded()) }
            return nil
        case .record, .emit, .publish, .unknown:
            return "a '\(letter.kind.rawValue)' letter cannot be replayed (kept for inspection; purge it when done)"
        }
    }
}

import Logging
import WeirCore
import WeirForwarder
import WeirFunctions
import WeirRules
import WeirStore

/// `weir dlq replay|purge`, run inside the daemon (which holds the store's lock) through the
/// admin endpoint.
///
/// Replay puts a letter back where it failed: a function's invocation goes to the pool again
/// (with its retries; failing again makes a new letter), a refused batch's rows go back to their
/// upstream's outbox (with new sequence numbers). A letter is deleted once it is handed back.
/// Unreadable records and undeliverable emitted values cannot be replayed: they stay, for
/// `weir dlq show` and `purge`.
struct AdminCommands: Sendable {
    let deadLetters: DeadLetters
    let pool: FunctionPool
    let outboxes: [String: Outbox]
    let logger: Logger
    private let io = BlockingExecutor(label: "weir-admin")

    init(deadLetters: DeadLetters, pool: FunctionPool, outboxes: [String: Outbox], logger: Logger) {
        self.deadLetters = deadLetters
        self.pool = pool
        self.outboxes = outboxes
        self.logger = logger
    }

    /// Answers `POST /dlq/replay` and `/dlq/purge` with `id=N` or `all=1`: status and JSON body.
    func run(path: String, query: String) async -> (Int, String) {
        var parameters: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = kv.first, !key.isEmpty else { continue }
            parameters[String(key)] = kv.count == 2 ? String(kv[1]) : ""
        }
        let id = parameters["id"].flatMap(UInt64.init)
        let all = parameters["all"] == "1"
        guard id != nil || all else { return (400, #"{"error":"give id=N or all=1"}"# + "\n") }
        do {
            switch path {
            case "/dlq/purge":
                let letters = deadLetters
                let purged = try await io.run { try letters.purge(all ? nil : id) }
                logger.notice("dead letters purged", metadata: ["count": "\(purged)"])
                return (200, "\(JSONValue.object(["purged": .int(Int64(purged))]))\n")
            case "/dlq/replay":
                let letters = deadLetters
                let chosen: [DeadLetter] = try await io.run {
                    if all { return try letters.list() }
                    return try letters.get(id!).map { [$0] } ?? []
                }
                if !all && chosen.isEmpty { return (404, #"{"error":"no such dead letter"}"# + "\n") }
                return (200, "\(try await replay(chosen))\n")
            default:
                return (404, #"{"error":"unknown command"}"# + "\n")
            }
        } catch {
            return (500, "\(JSONValue.object(["error": .string("\(error)")]))\n")
        }
    }

    private func replay(_ chosen: [DeadLetter]) async throws -> JSONValue {
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
        case "function":
            guard case .string(let rule)? = letter.payload["rule"], case .object(let row)? = letter.payload["row"] else {
                return "payload has no rule and row"
            }
            let invocation = Invocation(
                rule: rule, action: .call(function: letter.target), row: row, topic: "$weir/replay", receivedAt: currentTimeMillis())
            return await pool.submit(invocation) ? nil : "weir is stopping"
        case "upstream":
            guard let outbox = outboxes[letter.target] else { return "upstream '\(letter.target)' is no longer configured" }
            guard case .array(let rows) = letter.payload else { return "payload is not a list of rows" }
            let records = try rows.map { try OutboxRecord(json: $0) }
            for record in records { _ = try await outbox.append(record.encoded()) }
            return nil
        default:
            return "a '\(letter.kind)' letter cannot be replayed (kept for inspection; purge it when done)"
        }
    }
}

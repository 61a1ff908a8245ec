import Logging
import WeirActions
import WeirCore
import WeirEngine
import WeirStore

/// `weir dlq replay|purge`, run inside the daemon (which holds the store's lock) through the
/// admin endpoint.
///
/// Replay itself (putting letters back where they failed) is `DeadLetterReplay`'s.
struct AdminCommands: Sendable {
    let deadLetters: DeadLetters
    let logger: Logger
    private let io: BlockingThreads
    private let replayer: DeadLetterReplay

    init(deadLetters: DeadLetters, pool: ActionPool, outboxes: [String: Outbox], logger: Logger) {
        self.deadLetters = deadLetters
        self.logger = logger
        let io = BlockingThreads.serial(name: "weir-admin")
        self.io = io
        replayer = DeadLetterReplay(deadLetters: deadLetters, pool: pool, outboxes: outboxes, io: io, logger: logger)
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
                return (200, "\(try await replayer.replay(chosen))\n")
            default:
                return (404, #"{"error":"unknown command"}"# + "\n")
            }
        } catch {
            return (500, "\(JSONValue.object(["error": .string("\(error)")]))\n")
        }
    }
}

import Logging
import Synchronization
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
    /// Set while a replay runs: a second one is refused, so no letter is handed back twice.
    private let replaying = Replaying()
    /// Letters read from the store at a time by `replay --all`: memory stays bounded whatever
    /// the store holds.
    static let replayBatch = 256

    private final class Replaying: Sendable {
        let flag = Atomic<Bool>(false)
    }

    init(deadLetters: DeadLetters, pool: ActionPool, outboxes: [String: Outbox], logger: Logger) {
        self.deadLetters = deadLetters
        self.logger = logger
        let io = BlockingThreads.serial(name: "weir-admin")
        self.io = io
        replayer = DeadLetterReplay(deadLetters: deadLetters, pool: pool, outboxes: outboxes, io: io, logger: logger)
    }

    /// Answers `POST /dlq/replay` and `/dlq/purge` with `id=N` or `all=1`: status and JSON body.
    func run(path: String, query: String) async -> (Int, String) {
        let parameters = AdminHandler.parameters(query)
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
                guard !replaying.flag.exchange(true, ordering: .acquiringAndReleasing) else {
                    return (409, #"{"error":"a replay is already running"}"# + "\n")
                }
                defer { replaying.flag.store(false, ordering: .releasing) }
                let letters = deadLetters
                guard all else {
                    let chosen = try await io.run { try letters.get(id!).map { [$0] } ?? [] }
                    if chosen.isEmpty { return (404, #"{"error":"no such dead letter"}"# + "\n") }
                    return (200, "\(try await replayer.replay(chosen))\n")
                }
                return (200, "\(try await replayAll())\n")
            default:
                return (404, #"{"error":"unknown command"}"# + "\n")
            }
        } catch {
            return (500, "\(JSONValue.object(["error": .string("\(error)")]))\n")
        }
    }

    /// Every letter that existed when the replay began, read `replayBatch` at a time in id order.
    /// Letters that fail again while it runs get new, higher ids: they are not replayed again.
    private func replayAll() async throws -> JSONValue {
        let letters = deadLetters
        let last = letters.lastID
        var after: UInt64 = 0
        var replayed: Int64 = 0
        var skipped: [JSONValue] = []
        while after < last {
            let from = after
            let batch = try await io.run { try letters.list(after: from, limit: Self.replayBatch) }.filter { $0.id <= last }
            guard let next = batch.last?.id else { break }
            let result = try await replayer.replay(batch)
            replayed += Int64(result["replayed"]?.intValue ?? 0)
            if case .array(let more)? = result["skipped"] { skipped += more }
            after = next
        }
        return ["replayed": .int(replayed), "skipped": .array(skipped)]
    }
}

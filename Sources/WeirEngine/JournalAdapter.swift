import WeirActions
import WeirCore
import WeirRules
import WeirStore

/// The pool's view of the store's invocation journal: `call:` invocations in, journal entries out.
public struct PoolJournal: InvocationJournaling {
    public let journal: InvocationJournal

    public init(journal: InvocationJournal) {
        self.journal = journal
    }

    public func record(_ invocation: Invocation, whenDurable: @escaping @Sendable ((any Error)?) -> Void) -> UInt64 {
        guard case .call(let function) = invocation.action else {
            whenDurable(nil)
            return 0
        }
        let entry = JournalEntry(
            rule: invocation.rule, function: function, row: invocation.row, topic: invocation.topic, receivedAt: invocation.receivedAt,
            hops: invocation.hops, attempt: invocation.attempt)
        return journal.record(entry, whenDurable: whenDurable)
    }

    public func update(_ id: UInt64, attempt: Int) { journal.update(id, attempt: attempt) }

    public func remove(_ id: UInt64) { journal.remove(id) }

    /// The invocations a previous run left journaled (queued, running or waiting for a retry when
    /// it stopped or crashed), to run again: at least once.
    public func resumable() throws -> [Invocation] {
        try journal.entries().map { entry in
            var invocation = Invocation(
                rule: entry.rule, action: .call(function: entry.function), row: entry.row, topic: entry.topic, receivedAt: entry.receivedAt)
            invocation.hops = entry.hops
            invocation.attempt = entry.attempt
            invocation.journalID = entry.id
            return invocation
        }
    }
}

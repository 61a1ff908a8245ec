import Metrics
import WeirRules

/// Spilling: after a checkpoint, every group not changed since is saved, so rules over their
/// in-memory budget can move their least recently updated such groups out of memory (to 90 % of
/// the budget); a spilled group is loaded back from the store on its next event.
struct WindowSpilling: Sendable {
    let table: WindowTable

    func spillIfOverBudget() {
        table.shared.withLock { shared in
            for name in Array(shared.entries.keys) {
                shared.entries.modify(name) { entry in
                    guard entry.windows.groups.count > entry.rule.maxGroupsInMemory else { return }
                    let target = entry.rule.maxGroupsInMemory * 9 / 10
                    let candidates = entry.windows.groups.filter { !entry.windows.touched.contains($0.key) }
                    let victims = candidates.sorted { $0.value.lastEvent < $1.value.lastEvent }
                        .prefix(max(0, entry.windows.groups.count - target)).map(\.key)
                    entry.windows.evict(victims)
                    entry.metrics.spilledGroups().record(entry.windows.spilled.count)
                }
            }
        }
    }
}

import Logging
import WeirActions
import WeirEngine
import WeirMQTT
import WeirRules

/// Everything a successful rules reload changes besides the rule set itself, in this order:
/// windowed rules keep or reset their open windows, ingest subscribes to the new topic filters,
/// functions retire the workers of removed functions. Registered once, by `buildDaemon`.
struct ReloadEffects: Sendable {
    let windows: WindowEngine
    let partitions: PartitionEngine
    /// The ingest connection, whose subscriptions follow the rules.
    let ingest: MQTTClient
    let functions: FunctionRunner
    let logger: Logger

    func apply(_ fresh: RuleSet) {
        windows.sync(with: fresh)
        partitions.sync(with: fresh)
        do {
            try ingest.setSubscriptions(fresh.topicFilters)
        } catch {
            logger.error("updating subscriptions failed", metadata: ["error": "\(error)"])
        }
        functions.retire(keeping: fresh.functions)
    }

    /// Runs `apply` after every successful reload of `rules`.
    func register(on rules: LiveRules) {
        rules.onChange { fresh in self.apply(fresh) }
    }
}

import Glibc
import Logging
import ServiceLifecycle
import UnixSignals
import WeirCore
import WeirEngine
import WeirRules

/// Reloads the rules on SIGHUP and when files in the rules directory, or the lookup tables they
/// load, change.
///
/// Changes are found by polling a fingerprint (path, size, mtime) of the rule files: cheap for a
/// directory of a few files, and it works on every filesystem, including overlay and network ones
/// where inotify is unreliable.
struct RuleWatcher: Service {
    let rules: LiveRules
    let interval: Duration
    let handleSIGHUP: Bool
    let logger: Logger

    /// Reads and parses the rule files, then trims the heap: blocking work, so on a blocking
    /// thread rather than the cooperative pool.
    private func reload(reason: String) async {
        _ = await BlockingThreads.shared.run { rules.reload(reason: reason) }
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            if handleSIGHUP {
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
                        await reload(reason: "SIGHUP")
                    }
                }
            }
            if interval > .zero {
                group.addTask {
                    var last = fingerprint()
                    while !Task.isShuttingDownGracefully {
                        do {
                            try await Task.sleep(for: interval)
                        } catch {
                            return
                        }
                        let now = fingerprint()
                        if now != last {
                            last = now
                            await reload(reason: "rules directory changed")
                        }
                    }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// The rule files' and the loaded lookup tables' fingerprints: a table file that changes
    /// reloads the rules (and so the table) as a rule file does.
    func fingerprint() -> [String] {
        guard let files = try? RuleLoader.ruleFiles(in: rules.directory) else { return [] }
        return (files + rules.current.tables.map(\.path)).map { path in
            var info = stat()
            guard stat(path, &info) == 0 else { return "\(path)|-1|0" }
            return "\(path)|\(info.st_size)|\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        }
    }
}

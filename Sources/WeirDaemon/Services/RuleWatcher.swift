import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import WeirEngine
import WeirRules

/// Reloads the rules on SIGHUP and when files in the rules directory change.
///
/// Changes are found by polling a fingerprint (path, size, mtime) of the rule files: cheap for a
/// directory of a few files, and it works on every filesystem, including overlay and network ones
/// where inotify is unreliable.
struct RuleWatcher: Service {
    let rules: LiveRules
    let interval: Duration
    let handleSIGHUP: Bool
    let logger: Logger

    func run() async throws {
        await withDiscardingTaskGroup { group in
            if handleSIGHUP {
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
                        rules.reload(reason: "SIGHUP")
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
                            rules.reload(reason: "rules directory changed")
                        }
                    }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    func fingerprint() -> [String] {
        guard let files = try? RuleLoader.ruleFiles(in: rules.directory) else { return [] }
        return files.map { path in
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            let size = (attributes?[.size] as? NSNumber)?.int64Value ?? -1
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(path)|\(size)|\(modified)"
        }
    }
}

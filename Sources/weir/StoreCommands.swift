import ArgumentParser
import FoundationEssentials
import Glibc
import WeirCore
import WeirDaemon
import WeirRocksDB
import WeirRules

/// Opens the store read-only, turning any failure into an operator-facing message.
func inspector(_ options: ConfigOption) throws -> StoreInspector {
    let config = try options.load()
    do {
        return try StoreInspector(config: config)
    } catch {
        throw failure(printing: "\(error)")
    }
}

struct OutboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox", abstract: "Inspect the upstream outboxes (works while the daemon runs).",
        subcommands: [Stats.self, Peek.self])

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per upstream: depth, bytes queued, bytes on disk, oldest age, sent, dropped, expired, rejected.")
        @OptionGroup var options: ConfigOption
        @Flag(help: "One JSON object per upstream instead of a table.") var json = false

        func run() throws {
            let store = try inspector(options)
            if json {
                for line in try store.outboxStatsJSON() { print(line) }
            } else {
                print(try store.outboxStatsTable())
            }
        }
    }

    struct Peek: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the next queued events of an upstream as CloudEvents, one per line.")
        @OptionGroup var options: ConfigOption
        @Option(help: "Upstream name (default: the only or first one configured).") var upstream: String?
        @Option(name: .shortAndLong, help: "How many events.") var limit = 10

        func run() throws {
            let store = try inspector(options)
            guard let name = upstream ?? store.config.upstreams.first?.name else {
                throw failure(printing: "no upstreams configured in \(store.config.path)")
            }
            do {
                for line in try store.peek(upstream: name, limit: limit) { print(line) }
            } catch {
                throw failure(printing: "\(error)")
            }
        }
    }
}

struct DeadLetterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Dead letters: invocations that failed their last attempt, batches an upstream refused, unreadable records.",
        subcommands: [List.self, Show.self, Replay.self, Purge.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per dead letter.")
        @OptionGroup var options: ConfigOption
        @Option(name: .shortAndLong, help: "At most this many.") var limit = 100

        func run() throws { print(try inspector(options).deadLetterTable(limit: limit)) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one dead letter as JSON, with its payload.")
        @OptionGroup var options: ConfigOption
        @Argument(help: "The id from 'weir dlq list'.") var id: UInt64

        func run() throws {
            guard let letter = try inspector(options).deadLetter(id) else { throw failure(printing: "no dead letter \(id)") }
            print(letter.json)
        }
    }
}

extension DeadLetterCommand {
    /// Which letters a replay or purge takes: one id, or `--all`.
    struct Selection: ParsableArguments {
        @Argument(help: "The id from 'weir dlq list'.") var id: UInt64?
        @Flag(help: "Every dead letter.") var all = false

        func validate() throws {
            guard (id != nil) != all else { throw ValidationError("give either an id or --all") }
        }

        var query: String { all ? "all=1" : "id=\(id ?? 0)" }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hand letters back to the running daemon: invocations run again, refused batches go back to their outbox.")
        @OptionGroup var options: ConfigOption
        @OptionGroup var selection: Selection

        func run() throws {
            let config = try options.load()
            guard let answer = adminCommand(config, "/dlq/replay?\(selection.query)") else {
                throw failure(
                    printing:
                        "weir is not running (nothing answers on the admin endpoint \(adminAddress(config))); "
                        + "replay needs the running daemon"
                )
            }
            print(answer)
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete letters for good (through the daemon when it runs, else in the store).")
        @OptionGroup var options: ConfigOption
        @OptionGroup var selection: Selection

        func run() throws {
            let config = try options.load()
            if let answer = adminCommand(config, "/dlq/purge?\(selection.query)") {
                print(answer)
                return
            }
            do {
                let purged = try StoreInspector.purgeDeadLetters(config: config, id: selection.all ? nil : selection.id)
                print("{\"purged\":\(purged)}")
            } catch {
                throw failure(printing: "\(error)")
            }
        }
    }
}

/// Where the admin endpoint of `config` listens, as operators read it.
func adminAddress(_ config: WeirConfig) -> String {
    config.admin.host.map { "\($0):\(config.admin.port)" } ?? "(admin disabled)"
}

/// POSTs a command to the running daemon's admin endpoint over loopback; nil when nothing
/// answers. A refusal becomes a CLI failure with the daemon's message.
func adminCommand(_ config: WeirConfig, _ path: String) -> String? {
    guard config.admin.host != nil else { return nil }
    // Nothing listens: the caller works on the store directly, and needs no token.
    guard let probe = AdminClient.connect(port: config.admin.port) else { return nil }
    close(probe)
    let token: String
    do {
        token = try AdminToken.read(stateDir: config.stateDir)
    } catch {
        writeToStandardError("weir: \(error)\n")
        exit(1)
    }
    guard
        let (status, body) = AdminClient.request(
            "POST", port: config.admin.port, path: path, headers: ["X-Weir-Command": "1", "Authorization": "Bearer \(token)"],
            timeoutSeconds: 60)
    else { return nil }
    let text = body.trimmingWhitespaceAndNewlines()
    guard status == 200 else {
        writeToStandardError("weir: the daemon refused (HTTP \(status)): \(text)\n")
        exit(1)
    }
    return text
}

struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "Scheduled rules: last run and next run (works while the daemon runs).", subcommands: [List.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per scheduled rule: schedule, last run, next run (UTC).")
        @OptionGroup var options: ConfigOption

        func run() throws {
            let config = try options.load()
            let rules: RuleSet
            do {
                rules = try RuleLoader.load(directory: config.rulesDir, upstreams: Set(config.upstreams.map(\.name)))
            } catch {
                throw failure(printing: error.diagnostics.map(\.description).joined(separator: "\n"))
            }
            print(try StoreInspector.scheduleTable(config: config, rules: rules))
        }
    }
}

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Maintain the state store (outboxes, window state, dead letters).",
        subcommands: [Verify.self, Repair.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read and decode every stored value (works while the daemon runs); exit 1 if anything is damaged.")
        @OptionGroup var options: ConfigOption
        @Flag(help: "One JSON object instead of a table.") var json = false

        func run() throws {
            let config = try options.load()
            let result: StoreVerification
            do {
                result = try StoreVerifier.verify(config: config)
            } catch {
                throw failure(printing: "\(error)")
            }
            print(json ? result.json : result.text)
            if !result.ok { throw ExitCode.failure }
        }
    }

    struct Repair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild a damaged store from what is readable (stop the daemon first; back up state_dir/store).")
        @OptionGroup var options: ConfigOption

        func run() throws {
            let config = try options.load()
            let path = config.stateDir + "/store"
            guard FileManager.default.fileExists(atPath: path) else { throw failure(printing: "\(path): no store") }
            do {
                try RocksDB.repair(path: path)
            } catch {
                throw failure(printing: "\(path): repair failed: \(error) (is weir still running?)")
            }
            print("\(path): repaired; readable records kept, damaged files moved to \(path)/lost")
        }
    }
}

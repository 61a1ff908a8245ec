import WeirCore
import WeirForwarder
import WeirRocksDB
import WeirStore

/// What `weir store verify` found: per kind of state, how many entries and how many of them are
/// damaged, and each damaged key with what failed.
public struct StoreVerification: Sendable {
    public struct Kind: Sendable, Equatable {
        /// `outbox`, `dead_letters`, `windows`, `journal` or `schedules`.
        public var kind: String
        /// The outbox's upstream name; empty for the other kinds.
        public var name: String
        public var entries: Int
        public var damaged: Int
    }

    public struct Damage: Sendable, Equatable {
        public var kind: String
        /// The key as operators read it (`outbox/cloud/5`, `dlq/3`), or the store's path when the
        /// store itself could not be opened or read.
        public var key: String
        public var problem: String
    }

    public var path: String
    public var kinds: [Kind] = []
    public var damage: [Damage] = []

    /// Nothing is damaged.
    public var ok: Bool { damage.isEmpty }

    /// An aligned table of the kinds, then one line per damaged key, then the verdict.
    public var text: String {
        var rows = [["KIND", "NAME", "ENTRIES", "DAMAGED"]]
        for k in kinds { rows.append([k.kind, k.name.isEmpty ? "-" : k.name, "\(k.entries)", "\(k.damaged)"]) }
        var lines = [path, table(rows)]
        if ok {
            lines.append("store ok")
        } else {
            lines.append("")
            lines += damage.map { "damaged: \($0.key): \($0.problem)" }
            lines.append("store damaged: \(damage.count) problem(s)")
        }
        return lines.joined(separator: "\n")
    }

    /// The whole result as one JSON object, for scripts.
    public var json: String {
        JSONWriter.string([
            "store": .string(path), "ok": .bool(ok),
            "kinds": .array(
                kinds.map {
                    [
                        "kind": .string($0.kind), "name": .string($0.name), "entries": .int(Int64($0.entries)),
                        "damaged": .int(Int64($0.damaged)),
                    ]
                }),
            "damage": .array(damage.map { ["kind": .string($0.kind), "key": .string($0.key), "problem": .string($0.problem)] }),
        ])
    }
}

/// `weir store verify`: reads and decodes every stored value — outbox rows (header and record),
/// outbox totals, dead letters, saved window groups, journaled invocations and schedule times —
/// from a store opened read-only, so it works beside a running daemon. RocksDB errors while
/// opening or reading (a damaged file) count as damage too.
public enum StoreVerifier {
    /// - Throws: `ConfigurationError` when there is no store under `state_dir` yet.
    public static func verify(config: WeirConfig) throws -> StoreVerification {
        let path = config.stateDir + "/store"
        let inspector: StoreInspector
        do {
            inspector = try StoreInspector(config: config)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            var result = StoreVerification(path: path)
            let advice = "stop weir, back up the store, then `weir store repair`"
            result.damage.append(.init(kind: "store", key: path, problem: "cannot open the store: \(error) (\(advice))"))
            return result
        }
        return verify(db: inspector.db, path: path)
    }

    static func verify(db: RocksDB, path: String) -> StoreVerification {
        var result = StoreVerification(path: path)
        let names: [String]
        do {
            names = try Outbox.names(db: db)
        } catch {
            result.damage.append(.init(kind: "outbox", key: "outbox/", problem: "reading failed: \(error)"))
            names = []
        }
        for name in names {
            result.check("outbox", name: name) { note in
                if let problem = try Outbox.metaProblem(db: db, name: name) {
                    note(.init(kind: "outbox", key: "meta/outbox/\(name)", problem: problem))
                }
                var entries = 0
                try Outbox.forEachStored(db: db, name: name) { entry in
                    entries += 1
                    let key = "outbox/\(name)/\(entry.sequence)"
                    guard entry.appendedAt >= 0 else {
                        let format = entry.record.first.map { "format byte \($0)" } ?? "empty"
                        let problem = "unreadable value header (\(entry.record.count) bytes, \(format))"
                        return note(.init(kind: "outbox", key: key, problem: problem))
                    }
                    do {
                        _ = try OutboxRecord(decoding: entry.record)
                    } catch {
                        note(.init(kind: "outbox", key: key, problem: "record is not a readable row: \(error)"))
                    }
                }
                return entries
            }
        }
        result.check("dead_letters") { note in
            var entries = 0
            try DeadLetters.forEachStored(db: db) { id, letter in
                entries += 1
                guard case .failure(let error) = letter else { return }
                let problem = error is DeadLetterUnreadable ? "\(error)" : "dead letter is unreadable: \(error)"
                note(.init(kind: "dead_letters", key: "dlq/\(id)", problem: problem))
            }
            return entries
        }
        result.check("windows") { note in
            var entries = 0
            try WindowStore.forEachStored(db: db) { rule, storeKey, state in
                entries += 1
                if case .failure(let error) = state {
                    note(.init(kind: "windows", key: "window/\(rule)/\(storeKey)", problem: "saved group is unreadable: \(error)"))
                }
            }
            return entries
        }
        result.check("journal") { note in
            let contents = try InvocationJournal.contents(db: db)
            for (id, error) in contents.unreadable { note(.init(kind: "journal", key: "inv/\(id)", problem: error)) }
            return contents.entries.count + contents.unreadable.count
        }
        result.check("schedules") { note in
            var entries = 0
            try ScheduleStore.forEachStored(db: db) { rule, kind, millis in
                entries += 1
                let key = kind == "last_run" ? "schedule/\(rule)" : "schedule-seen/\(rule)"
                if millis == nil { note(.init(kind: "schedules", key: key, problem: "\(kind) is not an 8-byte time")) }
            }
            return entries
        }
        return result
    }
}

extension StoreVerification {
    /// Runs one kind's check: `body` notes damage and returns the entries it saw. A RocksDB error
    /// (a damaged file under the keys) ends that kind's check and is damage too.
    fileprivate mutating func check(_ kind: String, name: String = "", _ body: (_ note: (Damage) -> Void) throws -> Int) {
        var found: [Damage] = []
        var entries = 0
        do {
            entries = try body { found.append($0) }
        } catch {
            found.append(Damage(kind: kind, key: name.isEmpty ? kind : "\(kind) \(name)", problem: "reading failed: \(error)"))
        }
        kinds.append(Kind(kind: kind, name: name, entries: entries, damaged: found.count))
        damage += found
    }
}

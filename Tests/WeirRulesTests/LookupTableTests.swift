import Foundation
import Testing
import WeirCore

@testable import WeirRules

/// Lookup tables: CSV and JSON files, `lookup()` in SELECT, WHERE and GROUP BY, and every mistake
/// at its place.
@Suite struct LookupTableTests {
    /// A rules folder with `files` (name → text); returns its path.
    func folder(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("weir-tables-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return dir
    }

    func messages(_ dir: URL) -> [String] {
        do {
            _ = try RuleLoader.load(directory: dir.path)
            return []
        } catch {
            return error.diagnostics.map {
                "\(URL(fileURLWithPath: $0.location.file).lastPathComponent):\($0.location.line):\($0.location.column): \($0.message)"
            }
        }
    }

    static let devices =
        "\u{FEFF}id,site,max_temp,asset,active\r\nd1,north,80,\"pump, main\",true\r\n"
        + "007,south,75.5,\"say \"\"hi\"\"\",false\r\n\r\n17,east,,x,true\r\n"

    static let rule = """
        tables:
          - name: devices
            file: ./devices.csv
            key: id
        rules:
          - name: enrich
            sql: >-
              SELECT device, lookup('devices', device, 'site') AS site, lookup('devices', device) AS info
              FROM "t/+" WHERE temp > lookup('devices', device, 'max_temp')
            actions: [ { log: {} } ]
          - name: per-site
            sql: >-
              SELECT lookup('devices', device, 'site') AS site, count(*) AS n FROM "t/+"
              GROUP BY lookup('devices', device, 'site'), TUMBLING(10s)
            actions: [ { log: {} } ]
        """

    @Test func csvRowsAreTypedAndFoundInSelectWhereAndGroupBy() throws {
        let dir = try folder(["devices.csv": Self.devices, "r.yaml": Self.rule])
        defer { try? FileManager.default.removeItem(at: dir) }
        let set = try RuleLoader.load(directory: dir.path)
        let table = try #require(set.tables.first)
        #expect(table.count == 3)
        #expect(table.columns == ["id", "site", "max_temp", "asset", "active"])

        func run(_ payload: String) -> EventOutcome {
            set.process(Event(topic: "t/a", payload: Array(payload.utf8), receivedAt: 0))
        }
        let hot = run(#"{"device":"d1","temp":85}"#)
        #expect(hot.matches.first?.row["site"] == "north")
        #expect(hot.matches.first?.row["info"] == ["id": "d1", "site": "north", "max_temp": 80, "asset": "pump, main", "active": true])
        #expect(run(#"{"device":"d1","temp":79}"#).matches.isEmpty, "WHERE compares with the row's max_temp")
        let zeroPadded = run(#"{"device":"007","temp":76}"#)
        #expect(zeroPadded.matches.first?.row["info"]?["asset"] == #"say "hi""#)
        #expect(zeroPadded.matches.first?.row["info"]?["max_temp"] == 75.5)
        #expect(run(#"{"device":7,"temp":99}"#).matches.isEmpty, "007 is a string key: 7 does not find it")
        // 17 written as a number, looked up by the number or its text; its empty max_temp is null.
        #expect(run(#"{"device":"17","temp":1}"#).matches.isEmpty, "temp > null is not true")
        #expect(run(#"{"device":17,"temp":1}"#).windowInputs.first?.keys == ["east"])
        let absent = run(#"{"device":"nope","temp":1}"#)
        #expect(absent.matches.isEmpty)
        #expect(absent.windowInputs.first?.keys == [.null], "a missing row is null, not an error")
        #expect(absent.failures.isEmpty)
    }

    @Test func jsonTablesAreArraysOfObjects() throws {
        let json = #"[{"id":"d1","site":"north"},{"id":"d2","floor":3}]"#
        let rule = """
            tables: [ { name: devices, file: devices.json, key: id } ]
            rules:
              - { name: r, sql: "SELECT lookup('devices', device, 'floor') AS floor FROM \\"t\\"", actions: [ { log: {} } ] }
            """
        let dir = try folder(["devices.json": json, "r.yaml": rule])
        defer { try? FileManager.default.removeItem(at: dir) }
        let set = try RuleLoader.load(directory: dir.path)
        #expect(set.tables.first?.columns == ["id", "site", "floor"])
        let row = set.process(Event(topic: "t", payload: Array(#"{"device":"d2"}"#.utf8), receivedAt: 0)).matches.first?.row
        #expect(row?["floor"] == 3)
    }

    @Test func mistakesPointAtTheRuleFileOrTheTableLine() throws {
        let table = "tables: [ { name: devices, file: ./devices.csv, key: id } ]\n"
        /// The diagnostics, with the temporary folder's path written as `DIR`.
        func check(_ csv: String?, _ rule: String) throws -> [String] {
            var files = ["r.yaml": table + rule]
            if let csv { files["devices.csv"] = csv }
            let dir = try folder(files)
            defer { try? FileManager.default.removeItem(at: dir) }
            return messages(dir).map { $0.replacingOccurrences(of: dir.standardizedFileURL.path, with: "DIR") }
        }
        func rule(_ select: String) -> String {
            "rules: [ { name: r, sql: \"SELECT \(select) AS s FROM \\\"t\\\"\", actions: [ { log: {} } ] } ]"
        }
        let ok = rule("lookup('devices', d, 'site')")
        #expect(try check(nil, ok) == ["r.yaml:1:34: table 'devices': cannot read table file DIR/devices.csv: no such file"])
        #expect(try check("id,site\nd1,a,b\n", ok) == ["devices.csv:2:1: table 'devices': 3 fields, the header has 2"])
        #expect(try check("id,site\nd1,a\nd1,b\n", ok) == ["devices.csv:3:1: table 'devices': duplicate key 'd1' (first at line 2)"])
        #expect(try check("id,site\n\"d1,a\n", ok) == ["devices.csv:2:1: table 'devices': a quoted field is not closed"])
        #expect(
            try check("name,site\nd1,a\n", ok)
                == ["r.yaml:1:34: table 'devices': table file DIR/devices.csv has no column 'id' (columns: name, site)"])
        #expect(try check("id,site\nd1,a\n", rule("lookup('dev', d)")) == ["r.yaml:2:34: unknown table 'dev' (tables: devices)"])
        #expect(
            try check("id,site\nd1,a\n", rule("lookup('devices', d, 'sit')"))
                == ["r.yaml:2:34: table 'devices' has no column 'sit' (columns: id, site)"])
        #expect(
            try check("id,site\nd1,a\n", rule("lookup(name, d)")) == ["r.yaml:2:34: lookup's table must be a string literal"])
    }
}

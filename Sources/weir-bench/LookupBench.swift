import Foundation
import WeirTestSupport

/// Lookup tables through the daemon (issue 14, part 3): the same rule with and without
/// `lookup()`, and the idle RSS a table's rows add.
extension ProductBench {
    /// A CSV table of `rows` devices (`d0`…), with a site, a threshold and an asset column.
    func deviceTable(_ rig: ProductRig, rows: Int) throws -> String {
        var text = "id,site,max_temp,asset\n"
        text.reserveCapacity(rows * 40)
        for n in 0..<rows { text += "d\(n),site-\(n % 97),\(50 + n % 40),asset-\(n)\n" }
        return text
    }

    func lookups(_ rig: ProductRig, mode: AckMode) async throws -> [Figure] {
        let events = quick ? 10_000 : 100_000
        let devices = 10_000
        let file = try rig.lines("lookup", count: events, devices: devices) { 20 + Double($0 % 50) }
        let plainRule = """
            name: plain
            sql: SELECT device, temp FROM "in/+/tele" WHERE temp > 10
            actions: [ { log: { level: debug } } ]
            """
        // Two lookups per event: one in SELECT, one in WHERE (the threshold from the table is lower
        // than every temp, so both rules match every event and run the same action).
        let lookupRule = """
            tables: [ { name: devices, file: ./devices.csv, key: id } ]
            rules:
              - name: lookup
                sql: >-
                  SELECT device, temp, lookup('devices', device, 'site') AS site FROM "in/+/tele"
                  WHERE temp > lookup('devices', device, 'max_temp') - 80
                actions: [ { log: { level: debug } } ]
            """
        func withTable(_ name: String, rows: Int) throws {
            let dir = rig.work.appendingPathComponent("rules-\(name)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try deviceTable(rig, rows: rows).write(to: dir.appendingPathComponent("devices.csv"), atomically: true, encoding: .utf8)
        }
        let plain = try await processed(
            rig, name: "lookup-plain-\(mode)", rules: plainRule, file: file, events: events, mode: mode,
            series: Self.matched + #""plain"}"#)
        say("    plain rule: \(Int(plain.rate)) events/s, idle RSS \(plain.rss) KiB")
        try withTable("lookup-\(devices)-\(mode)", rows: devices)
        let looked = try await processed(
            rig, name: "lookup-\(devices)-\(mode)", rules: lookupRule, file: file, events: events, mode: mode,
            series: Self.matched + #""lookup"}"#)
        say("    the same rule with two lookups in a \(devices.grouped)-row table: \(Int(looked.rate)) events/s")
        // Memory per row: the idle RSS of a daemon with a large table against the plain one.
        let rows = quick ? 20_000 : 100_000
        try withTable("lookup-\(rows)-\(mode)", rows: rows)
        let big = try await processed(
            rig, name: "lookup-\(rows)-\(mode)", rules: lookupRule, file: file, events: min(events, 10_000), mode: mode,
            series: Self.matched + #""lookup"}"#)
        let perRow = Double(big.rss - plain.rss) * 1024 / Double(rows)
        say("    idle RSS with a \(rows.grouped)-row table: \(big.rss) KiB (\(Int(perRow)) B per row)")
        return [
            Figure(
                key: "lookup", name: "rule with two lookups (\(devices.grouped)-row table) / the same rule without (events/s)",
                mode: mode, value: looked.rate, baseline: plain.rate, target: ">= 0.8", met: looked.rate / plain.rate >= 0.8),
            Figure(
                key: "lookuprss", name: "idle RSS KiB with a \(rows.grouped)-row table / without", mode: mode, value: Double(big.rss),
                baseline: Double(plain.rss), target: "report", met: true, ratioNote: "-> \(Figure.format(perRow)) B per row"),
        ]
    }
}

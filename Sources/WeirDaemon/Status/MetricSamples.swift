/// Chosen series read back from the daemon's own Prometheus exposition: the one source of the
/// counts, so `weir status` and `/metrics` never disagree.
struct MetricSamples {
    /// Per metric name, each sample's labels (as written, `rule="x"`) and value.
    private var samples: [String: [(labels: Substring, value: Double)]] = [:]

    init(_ exposition: String, names: Set<String>) {
        for line in exposition.split(separator: "\n") where line.first != "#" {
            let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
            let name = String(line[..<nameEnd])
            guard names.contains(name), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...])
            else { continue }
            let labels = nameEnd < line.endIndex && line[nameEnd] == "{" ? line[line.index(after: nameEnd)..<space].dropLast() : ""
            samples[name, default: []].append((labels, value))
        }
    }

    /// The sum of every sample of `name` (0 when there is none).
    func total(_ name: String) -> Double {
        samples[name]?.reduce(0) { $0 + $1.value } ?? 0
    }

    /// The samples of `name` by the value of their label `label` (summed over other labels).
    func by(_ name: String, label: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for sample in samples[name] ?? [] {
            guard let value = Self.label(label, in: sample.labels) else { continue }
            result[value, default: 0] += sample.value
        }
        return result
    }

    /// The value of `label` in `labels` (`a="x",b="y"`), with the exposition's escapes undone.
    static func label(_ label: String, in labels: Substring) -> String? {
        var rest = labels
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let key = rest[..<equals].trimmingPrefix(",")
            var index = rest.index(equals, offsetBy: 2, limitedBy: rest.endIndex) ?? rest.endIndex
            var value = ""
            while index < rest.endIndex, rest[index] != "\"" {
                if rest[index] == "\\", rest.index(after: index) < rest.endIndex {
                    index = rest.index(after: index)
                    value.append(rest[index] == "n" ? "\n" : rest[index])
                } else {
                    value.append(rest[index])
                }
                index = rest.index(after: index)
            }
            if key == label { return value }
            rest = index < rest.endIndex ? rest[rest.index(after: index)...] : ""
        }
        return nil
    }
}

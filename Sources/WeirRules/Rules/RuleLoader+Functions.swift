import Foundation
import WeirCore

extension RuleLoader {
    static let functionKeys: Set<String> = ["name", "exec", "concurrency", "retry", "emit", "description"]

    static func parseFunction(_ node: YAMLNode) throws(Diagnostic) -> FunctionSpec {
        let map = try node.mapping("a function")
        try map.checkKeys(functionKeys, in: "a function")
        let name = try parseName(map, "function")
        let execNode = try map.require("exec", in: "function '\(name)'")
        let exec = try execNode.mapping("'exec'")
        try exec.checkKeys(["command", "mode", "timeout", "env", "cwd"], in: "'exec'")
        let commandNode = try exec.require("command", in: "'exec'")
        var command: [String] = []
        for item in try commandNode.sequence("'command'") { command.append(try item.string("a command argument")) }
        guard let program = command.first, !program.isEmpty else {
            throw commandNode.error("'command' is a list: the program, then its arguments (no shell is involved)")
        }
        if let mode = exec["mode"] {
            let text = try mode.string("'mode'")
            guard text == "oneshot" else { throw mode.error("mode '\(text)' is not available yet (expected oneshot)") }
        }
        var timeout: Duration = .seconds(30)
        if let n = exec["timeout"] {
            let text = try n.string("'timeout'")
            guard let value = parseDuration(text), value > .zero else { throw n.error("'timeout' must be a duration such as 10s, found '\(text)'") }
            timeout = value
        }
        var environment: [String: String] = [:]
        if let n = exec["env"] {
            for entry in try n.mapping("'env'").entries { environment[entry.key] = try entry.value.string("variable '\(entry.key)'") }
        }
        // Paths starting with ./ or ../ are relative to the rule file, so a rule file and its
        // scripts can be shipped (and moved) together.
        let base = URL(fileURLWithPath: node.location.file).deletingLastPathComponent()
        func resolved(_ path: String) -> String {
            path.hasPrefix("./") || path.hasPrefix("../") ? base.appendingPathComponent(path).standardizedFileURL.path : path
        }
        command[0] = resolved(program)
        let directory = (try exec["cwd"]?.string("'cwd'")).map(resolved)
        var spec = FunctionSpec(
            name: name, runtime: .exec(command: command, timeout: timeout, environment: environment, directory: directory), location: node.location)
        if let n = map["concurrency"] {
            spec.concurrency = try n.int("'concurrency'")
            guard (1...10_000).contains(spec.concurrency) else { throw n.error("'concurrency' must be between 1 and 10000") }
        }
        if let n = map["retry"] { spec.retry = try parseRetry(n) }
        if let n = map["emit"] { spec.emit = try parseTopicTemplate(n, "an emit topic") }
        return spec
    }

    static func parseRetry(_ node: YAMLNode) throws(Diagnostic) -> FunctionSpec.Retry {
        let map = try node.mapping("'retry'")
        try map.checkKeys(["attempts", "backoff", "max_backoff"], in: "'retry'")
        var retry = FunctionSpec.Retry()
        if let n = map["attempts"] {
            retry.attempts = try n.int("'attempts'")
            guard (1...100).contains(retry.attempts) else { throw n.error("'attempts' must be between 1 and 100") }
        }
        func duration(_ key: String) throws(Diagnostic) -> Duration? {
            guard let n = map[key] else { return nil }
            let text = try n.string("'\(key)'")
            guard let value = parseDuration(text) else { throw n.error("'\(key)' must be a duration such as 500ms, found '\(text)'") }
            return value
        }
        if let value = try duration("backoff") { retry.backoff = value }
        if let value = try duration("max_backoff") { retry.maxBackoff = value }
        guard retry.maxBackoff >= retry.backoff else { throw node.error("'max_backoff' must not be shorter than 'backoff'") }
        return retry
    }
}

import FoundationEssentials
import WeirCore

extension RuleLoader {
    static let functionKeys: Set<String> = ["name", "exec", "http", "concurrency", "retry", "emit", "description", "limits"]

    static func parseFunction(_ node: YAMLNode) throws(Diagnostic) -> FunctionSpec {
        let map = try node.mapping("a function")
        try map.checkKeys(functionKeys, in: "a function")
        let name = try parseName(map, "function")
        let runtime: FunctionSpec.Runtime
        var workers: (count: Int, node: YAMLNode)?
        switch (map["exec"], map["http"]) {
        case (let execNode?, nil):
            (runtime, workers) = try parseExec(execNode)
        case (nil, let httpNode?):
            runtime = .http(try parseHTTPCall(httpNode))
        case (_?, let httpNode?):
            throw httpNode.error("a function has either 'exec' or 'http', not both")
        case (nil, nil):
            throw node.error("function '\(name)' needs 'exec' (a program) or 'http' (a URL)")
        }
        var spec = FunctionSpec(name: name, runtime: runtime, location: node.location)
        if let n = map["limits"] {
            let limits = try parseLimits(n)
            switch spec.runtime {
            case .exec(var program):
                program.limits = limits
                spec.runtime = .exec(program)
            case .worker(var program):
                program.limits = limits
                spec.runtime = .worker(program)
            case .http:
                throw n.error("'limits' applies to 'exec' functions (the processes Weir starts), not 'http'")
            }
        }
        if let n = map["concurrency"] {
            spec.concurrency = try n.int("'concurrency'")
            guard (1...10_000).contains(spec.concurrency) else { throw n.error("'concurrency' must be between 1 and 10000") }
        }
        if let workers {
            // A worker serves one request at a time: the workers are the function's concurrency.
            if map["concurrency"] != nil, spec.concurrency != workers.count {
                throw workers.node.error(
                    "'workers' (\(workers.count)) and 'concurrency' (\(spec.concurrency)) disagree: workers serve one request at a time")
            }
            spec.concurrency = workers.count
        }
        if let n = map["retry"] { spec.retry = try parseRetry(n) }
        if let n = map["emit"] { spec.emit = try parseTopicTemplate(n, "an emit topic") }
        return spec
    }

    static func parseExec(_ execNode: YAMLNode) throws(Diagnostic) -> (FunctionSpec.Runtime, (count: Int, node: YAMLNode)?) {
        let exec = try execNode.mapping("'exec'")
        try exec.checkKeys(["command", "mode", "workers", "timeout", "env", "cwd"], in: "'exec'")
        let commandNode = try exec.require("command", in: "'exec'")
        var command: [String] = []
        for item in try commandNode.sequence("'command'") { command.append(try item.string("a command argument")) }
        guard let program = command.first, !program.isEmpty else {
            throw commandNode.error("'command' is a list: the program, then its arguments (no shell is involved)")
        }
        var worker = false
        if let mode = exec["mode"] {
            let text = try mode.string("'mode'")
            guard ["oneshot", "worker"].contains(text) else { throw mode.error("unknown mode '\(text)' (expected oneshot or worker)") }
            worker = text == "worker"
        }
        var workers: (count: Int, node: YAMLNode)?
        if let n = exec["workers"] {
            guard worker else { throw n.error("'workers' needs 'mode: worker'") }
            let count = try n.int("'workers'")
            guard (1...256).contains(count) else { throw n.error("'workers' must be between 1 and 256") }
            workers = (count, n)
        }
        var environment: [String: String] = [:]
        if let n = exec["env"] {
            for entry in try n.mapping("'env'").entries { environment[entry.key] = try entry.value.string("variable '\(entry.key)'") }
        }
        // Paths starting with ./ or ../ are relative to the rule file, so a rule file and its
        // scripts can be shipped (and moved) together.
        let base = URL(fileURLWithPath: execNode.location.file).deletingLastPathComponent()
        func resolved(_ path: String) -> String {
            path.hasPrefix("./") || path.hasPrefix("../") ? base.appendingPathComponent(path).standardizedFileURL.path : path
        }
        command[0] = resolved(program)
        let directory = (try exec["cwd"]?.string("'cwd'")).map(resolved)
        let spec = FunctionSpec.Program(
            command: command, timeout: try positiveDuration(exec["timeout"], "timeout") ?? .seconds(30), environment: environment,
            directory: directory)
        return (worker ? .worker(spec) : .exec(spec), workers)
    }

    static func parseHTTPCall(_ node: YAMLNode) throws(Diagnostic) -> FunctionSpec.HTTPCall {
        let http = try node.mapping("'http'")
        try http.checkKeys(["url", "timeout", "headers", "token_file"], in: "'http'")
        let urlNode = try http.require("url", in: "'http'")
        let url = try urlNode.string("'url'")
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
            throw urlNode.error("'url' must be an http:// or https:// URL, found '\(url)'")
        }
        var call = FunctionSpec.HTTPCall(url: url, timeout: try positiveDuration(http["timeout"], "timeout") ?? .seconds(10))
        if let n = http["headers"] {
            for entry in try n.mapping("'headers'").entries { call.headers[entry.key] = try entry.value.string("header '\(entry.key)'") }
        }
        call.tokenFile = try http["token_file"]?.string("'token_file'")
        return call
    }

    static func positiveDuration(_ node: YAMLNode?, _ key: String) throws(Diagnostic) -> Duration? {
        guard let node else { return nil }
        let text = try node.string("'\(key)'")
        guard let value = parseDuration(text), value > .zero else {
            throw node.error("'\(key)' must be a duration such as 10s (at most 36500d), found '\(text)'")
        }
        return value
    }

    /// `limits: { memory: 64MiB, cpu_seconds: 10, open_files: 256 }`, each optional.
    static func parseLimits(_ node: YAMLNode) throws(Diagnostic) -> FunctionSpec.ProcessLimits {
        let map = try node.mapping("'limits'")
        try map.checkKeys(["memory", "cpu_seconds", "open_files"], in: "'limits'")
        var limits = FunctionSpec.ProcessLimits()
        if let n = map["memory"] {
            let text = try n.string("'memory'")
            guard let bytes = parseByteSize(text), bytes >= 1 << 20 else {
                throw n.error("'memory' must be a size of at least 1MiB such as 64MiB, found '\(text)'")
            }
            limits.memoryBytes = bytes
        }
        if let n = map["cpu_seconds"] {
            limits.cpuSeconds = try n.int("'cpu_seconds'")
            guard (1...31_536_000).contains(limits.cpuSeconds ?? 0) else { throw n.error("'cpu_seconds' must be between 1 and 31536000") }
        }
        if let n = map["open_files"] {
            limits.openFiles = try n.int("'open_files'")
            guard (4...1_048_576).contains(limits.openFiles ?? 0) else { throw n.error("'open_files' must be between 4 and 1048576") }
        }
        return limits
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

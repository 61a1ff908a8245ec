import AsyncHTTPClient
import Dispatch
import NIOCore
import WeirCore
import WeirRules

extension FunctionRunner {
    /// One attempt of an invocation; the JSON values it produced.
    func runOnce(_ spec: FunctionSpec, _ invocation: Invocation) async -> Result<[JSONValue], FunctionError> {
        switch spec.runtime {
        case .exec(let program): return await runOneshot(spec.name, program, invocation)
        case .worker(let program): return await runOnWorker(spec, program, invocation)
        case .http(let call): return await post(spec.name, call, invocation)
        }
    }

    /// The declared environment plus Weir's own variables (declared ones win).
    func environment(_ program: FunctionSpec.Program, function: String) -> [String: String] {
        baseEnvironment.merging(["WEIR_FUNCTION": function]) { a, _ in a }.merging(program.environment) { _, declared in declared }
    }

    /// Blocking work on a thread of its own, never on the cooperative pool.
    func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await blocking.run(work)
    }

    private func runOneshot(_ function: String, _ program: FunctionSpec.Program, _ invocation: Invocation) async -> Result<
        [JSONValue], FunctionError
    > {
        let input = JSONWriter.bytes(.object(invocation.row)) + [0x0A]
        let environment = environment(program, function: function)
        // Async I/O on Subprocess's epoll thread: no thread is held for the run.
        let outcome: Result<ExecResult, SpawnError>
        do {
            outcome = .success(
                try await ExecProcess.run(
                    argv: program.command, environment: environment, directory: program.directory, stdin: input, timeout: program.timeout,
                    limits: program.limits))
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .failure(let error):
            return .failure(FunctionError(function: function, message: error.description))
        case .success(let result):
            logStderr(function, result.stderr)
            if result.truncated {
                metricsByFunction.existing(function)?.outputTruncated.increment()
                if truncationLog.allow(function) {
                    logger.warning(
                        "function output past 1 MiB was dropped", metadata: ["function": "\(function)", "stream": "stdout or stderr"])
                }
            }
            if result.timedOut {
                return .failure(FunctionError(function: function, message: "timed out after \(program.timeout); process group killed"))
            }
            guard result.status == 0 else {
                let tail = String(decoding: result.stderr.suffix(200), as: UTF8.self).trimmingWhitespaceAndNewlines()
                return .failure(
                    FunctionError(function: function, message: "exited with status \(result.status)\(tail.isEmpty ? "" : ": \(tail)")"))
            }
            var outputs: [JSONValue] = []
            for line in result.stdout.split(separator: 0x0A) where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) {
                guard let value = try? JSONParser.parse(Array(line)) else {
                    return .failure(
                        FunctionError(
                            function: function, message: "output line is not JSON: \(String(decoding: line.prefix(120), as: UTF8.self))"))
                }
                outputs.append(value)
            }
            return .success(outputs)
        }
    }

    private func runOnWorker(_ spec: FunctionSpec, _ program: FunctionSpec.Program, _ invocation: Invocation) async -> Result<
        [JSONValue], FunctionError
    > {
        let group = workerGroup(for: spec, program)
        let row = invocation.row
        let outcome: Result<[JSONValue], WorkerFailure> = await offPool {
            let worker: WorkerProcess
            do {
                worker = try group.checkout()
            } catch {
                return .failure(.exited("cannot start: \(error)"))
            }
            defer { group.checkin(worker) }
            return worker.call(row: row, timeout: program.timeout)
        }
        return outcome.mapError { FunctionError(function: spec.name, message: $0.description) }
    }

    /// The function's worker group, replaced (old workers stopped) when its definition changed.
    private func workerGroup(for spec: FunctionSpec, _ program: FunctionSpec.Program) -> WorkerGroup {
        let (group, retired) = workerGroups.withLock { groups -> (WorkerGroup, WorkerGroup?) in
            if let existing = groups[spec.name], existing.program == program, existing.size == spec.concurrency { return (existing, nil) }
            let made = WorkerGroup(
                function: spec.name, program: program, environment: environment(program, function: spec.name), size: spec.concurrency,
                logger: logger, metricsFactory: factory)
            let old = groups.updateValue(made, forKey: spec.name)
            return (made, old)
        }
        if let retired { blocking.submit { retired.shutdown() } }
        return group
    }

    /// Stops the workers of functions that are gone or no longer workers (after a rules reload).
    public func retire(keeping functions: [String: FunctionSpec]) {
        let retired = workerGroups.withLock { groups -> [WorkerGroup] in
            let gone = groups.keys.filter { name in
                guard case .worker? = functions[name]?.runtime else { return true }
                return false
            }
            return gone.compactMap { groups.removeValue(forKey: $0) }
        }
        guard !retired.isEmpty else { return }
        blocking.submit {
            for group in retired { group.shutdown() }
        }
    }

    /// Stops every worker process (at daemon shutdown, after the pool drained).
    public func shutdown() async {
        let groups = workerGroups.withLock { groups in
            defer { groups.removeAll() }
            return Array(groups.values)
        }
        await offPool {
            for group in groups { group.shutdown() }
        }
        try? await http.shutdown()
    }

    private func post(_ function: String, _ call: FunctionSpec.HTTPCall, _ invocation: Invocation) async -> Result<
        [JSONValue], FunctionError
    > {
        func fail(_ message: String) -> Result<[JSONValue], FunctionError> { .failure(FunctionError(function: function, message: message)) }
        var request = HTTPClientRequest(url: call.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "weir")
        for (name, value) in call.headers.sorted(by: { $0.key < $1.key }) { request.headers.add(name: name, value: value) }
        if let tokenFile = call.tokenFile {
            // Read at each call, so a rotated token is picked up without a reload.
            guard let token = try? SecretFile.read(path: tokenFile, trimming: .whitespace) else {
                return fail("cannot read token file \(tokenFile)")
            }
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        request.body = .bytes(ByteBuffer(bytes: JSONWriter.bytes(.object(invocation.row))))
        do {
            let response = try await http.execute(request, timeout: .milliseconds(call.timeout.milliseconds))
            let body = try await response.body.collect(upTo: 1 << 20)
            let bytes = Array(body.readableBytesView)
            guard (200..<300).contains(Int(response.status.code)) else {
                let tail = String(decoding: bytes.prefix(200), as: UTF8.self).trimmingWhitespaceAndNewlines()
                return fail("HTTP \(response.status.code)\(tail.isEmpty ? "" : ": \(tail)")")
            }
            // A JSON body is the function's output (an array: one value each); anything else is none.
            guard !bytes.isEmpty, let value = try? JSONParser.parse(bytes) else { return .success([]) }
            if case .array(let values) = value { return .success(values) }
            return .success([value])
        } catch {
            return fail("\(call.url): \(error)")
        }
    }
}

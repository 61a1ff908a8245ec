import FoundationEssentials
import Glibc
import Logging
import Metrics
import WeirActions
import WeirCore
import WeirRules

/// Why a function call failed in a case.
struct CallFailure: Error {
    var message: String
}

/// Runs a case's `call:` actions: a stub's result, or the function itself, once per attempt, by
/// the daemon's own `FunctionRunner`. Functions see a fresh temporary `WEIR_STATE_DIR` per case,
/// never the daemon's, so a test on a gateway cannot touch what real runs keep there (rotated
/// credentials, say). Emitting and retrying are the case's job, on its virtual clock.
final class FunctionCalls: Sendable {
    let runner: FunctionRunner
    let stateDirectory: String

    init(rules: RuleSet) throws(CallFailure) {
        var template = Array("/tmp/weir-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CallFailure(message: "cannot make a temporary state directory: errno \(errno)") }
        stateDirectory = String(cString: made)
        let functions = rules.functions
        runner = FunctionRunner(
            lookup: { name in
                var spec = functions[name]
                spec?.emit = nil  // the case routes outputs itself, at virtual time
                return spec
            },
            logger: Logger(label: "weir-test", factory: { _ in SwiftLogNoOpLogHandler() }),
            metricsFactory: NOOPMetricsHandler.instance, deadLetter: { _ in }, stateDirectory: stateDirectory)
    }

    func call(_ spec: FunctionSpec, _ invocation: Invocation, stub: FunctionStub?) async -> Result<[JSONValue], CallFailure> {
        if let stub {
            if let error = stub.error { return .failure(CallFailure(message: error)) }
            return .success(stub.outputs)
        }
        do {
            return .success(try await runner.call(spec.name, invocation))
        } catch let retry as RetryLater {
            return .failure(CallFailure(message: "\(retry.error)"))
        } catch {
            return .failure(CallFailure(message: "\(error)"))
        }
    }

    /// Stops worker processes and removes the state directory.
    func shutdown() async {
        await runner.shutdown()
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }
}

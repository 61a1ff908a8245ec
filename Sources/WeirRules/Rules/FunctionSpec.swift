import WeirCore

/// A function declared under `functions:` in a rule file, invoked by `call:` actions.
public struct FunctionSpec: Sendable, Equatable {
    /// How a function runs.
    public enum Runtime: Sendable, Equatable {
        /// A program started per invocation (`mode: oneshot`): argv without a shell, the row as JSON
        /// on stdin, JSON lines on stdout.
        case exec(Program)
        /// `concurrency` long-lived processes (`mode: worker`) answering newline-delimited JSON
        /// requests one at a time.
        case worker(Program)
        /// An HTTP POST of the row as JSON.
        case http(HTTPCall)
    }

    /// A program an exec function runs: argv (no shell), a time limit per invocation, the only
    /// environment it gets, and its working directory.
    public struct Program: Sendable, Equatable {
        public var command: [String]
        public var timeout: Duration
        public var environment: [String: String]
        public var directory: String?
        /// Resource limits set on each process it starts (`limits:`); none by default.
        public var limits = ProcessLimits()

        public init(command: [String], timeout: Duration = .seconds(30), environment: [String: String] = [:], directory: String? = nil) {
            self.command = command
            self.timeout = timeout
            self.environment = environment
            self.directory = directory
        }
    }

    /// Per-process resource limits (`limits: { memory, cpu_seconds, open_files }`), set with
    /// `prlimit(2)` on each process the function starts. Nil fields are left as inherited.
    public struct ProcessLimits: Sendable, Equatable {
        /// Private writable memory (heap, anonymous mappings): `RLIMIT_DATA`.
        public var memoryBytes: Int?
        /// CPU time: `RLIMIT_CPU` (SIGXCPU at the limit, SIGKILL a second later).
        public var cpuSeconds: Int?
        /// Open descriptors: `RLIMIT_NOFILE`.
        public var openFiles: Int?

        public init(memoryBytes: Int? = nil, cpuSeconds: Int? = nil, openFiles: Int? = nil) {
            self.memoryBytes = memoryBytes
            self.cpuSeconds = cpuSeconds
            self.openFiles = openFiles
        }

        public var isEmpty: Bool { memoryBytes == nil && cpuSeconds == nil && openFiles == nil }
    }

    /// Where an http function POSTs: 2xx is success, anything else a failure (retried).
    public struct HTTPCall: Sendable, Equatable {
        public var url: String
        public var timeout: Duration
        public var headers: [String: String]
        /// A file holding a bearer token, read at each call (so it can be rotated).
        public var tokenFile: String?

        public init(url: String, timeout: Duration = .seconds(10), headers: [String: String] = [:], tokenFile: String? = nil) {
            self.url = url
            self.timeout = timeout
            self.headers = headers
            self.tokenFile = tokenFile
        }
    }

    /// Retries after a failure: `attempts` in all, exponential backoff with jitter, capped.
    public struct Retry: Sendable, Equatable {
        public var attempts: Int
        public var backoff: Duration
        public var maxBackoff: Duration

        public init(attempts: Int = 3, backoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(60)) {
            self.attempts = attempts
            self.backoff = backoff
            self.maxBackoff = maxBackoff
        }

        /// The delay before attempt `attempt + 1` (attempt counts from 1), with up to 50 % jitter.
        public func delay(after attempt: Int) -> Duration {
            let exponent = min(attempt - 1, 30)
            let base = min(backoff * (1 << exponent), maxBackoff)
            return base * Double.random(in: 0.5...1.0)
        }
    }

    public var name: String
    public var runtime: Runtime
    /// Invocations of this function running at once, at most (within the pool's global bound).
    public var concurrency: Int
    public var retry: Retry
    /// With `emit`, each JSON object the function prints becomes an event on this topic (rendered
    /// from the object's fields) and re-enters the rules.
    public var emit: Template?
    public var location: SourceLocation

    public init(name: String, runtime: Runtime, concurrency: Int = 1, retry: Retry = Retry(), location: SourceLocation) {
        self.name = name
        self.runtime = runtime
        self.concurrency = concurrency
        self.retry = retry
        self.location = location
    }
}

/// Where a rule's `call:` names a function, for checking it exists.
public struct CallSite: Sendable, Equatable {
    public var function: String
    public var location: SourceLocation
}

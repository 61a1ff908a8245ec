import ArgumentParser
import FoundationEssentials
import Glibc
import Logging
import WeirCore
import WeirDaemon
import WeirRuleTesting
import WeirRules
import WeirZstd

@main
struct Weir: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weir",
        abstract: "IoT edge event processor: MQTT events -> SQL rules -> functions -> upstream.",
        version: weirVersion,
        subcommands: [
            Run.self, Check.self, Test.self, Decode.self, OutboxCommand.self, DeadLetterCommand.self, ScheduleCommand.self,
            StoreCommand.self, ReloadCommand.self, ExplainCommand.self, StatusCommand.self, TapCommand.self,
        ])
}

struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "Path of the configuration file.")
    var config = "/etc/weir/weir.yaml"

    func load() throws -> WeirConfig {
        do {
            return try ConfigLoader.load(path: config)
        } catch {
            throw failure(printing: error.description)
        }
    }
}

/// The rules of `config`'s rules directory, for the dry runs (`weir test`, `weir explain`); a
/// failure prints every diagnostic and exits 1.
func loadRules(_ config: WeirConfig) throws -> RuleSet {
    do {
        return try RuleLoader.load(directory: config.rulesDir)
    } catch {
        throw failure(printing: error.description)
    }
}

/// Prints a message already written for the operator (diagnostics as `path:line:col: message`) to
/// stderr, unadorned, and ends with exit status 1.
func failure(printing message: String) -> ExitCode {
    writeToStandardError(message + "\n")
    return ExitCode.failure
}

extension Weir {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the daemon in the foreground (logs to stderr for journald).")

        @OptionGroup var options: ConfigOption

        func run() async throws {
            useFixedAllocatorThresholds()
            let config = try options.load()
            let level = Logger.Level(rawValue: config.logLevel) ?? .info
            let journald = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
            let recent = RecentLog()
            LoggingSystem.bootstrap {
                RecordingLogHandler(wrapping: StderrLogHandler(label: $0, level: level, journald: journald), recent: recent)
            }
            let logger = Logger(label: "weir")
            let daemon: Daemon
            do {
                daemon = try buildDaemon(config: config, logger: logger, version: weirVersion, recentLog: recent)
            } catch let error as DiagnosticList {
                throw failure(printing: error.description + "\nweir: \(error.diagnostics.count) error(s) in rules; not starting")
            } catch let error as ConfigurationError {
                logger.critical("\(error.description)")
                throw failure(printing: "weir: not starting: \(error.description)")
            }
            logger.notice(
                "weir starting",
                metadata: [
                    "config": "\(config.path)", "rules": "\(daemon.rules.current.rules.count)",
                    "broker": "\(config.mqtt.host):\(config.mqtt.port)",
                ])
            try await daemon.run()
            logger.notice("weir stopped")
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the configuration and every rule; print each error as path:line:col: message.")

        @OptionGroup var options: ConfigOption
        @Flag(help: "Leave out the rule test files (*.test.yaml): the unit's check before a start, which a broken test must not stop.")
        var skipTests = false

        func run() throws {
            let config = try options.load()
            do {
                let rules = try RuleLoader.load(directory: config.rulesDir, upstreams: Set(config.upstreams.map(\.name)))
                let files = (try? RuleLoader.ruleFiles(in: config.rulesDir).count) ?? 0
                print("\(config.path): ok")
                for finding in exposureFindings(config: config, rules: rules) { print(finding) }
                for finding in scalingFindings(config: config, rules: rules) { print(finding) }
                if config.mqtt.ack == .durable, config.mqtt.cleanSession {
                    print(
                        "\(config.path): warning: mqtt.clean_session true with 'ack: durable': the broker forgets what it holds for Weir "
                            + "at every disconnect, so events it redelivers after a crash or a full disk are lost. "
                            + "Use clean_session: false."
                    )
                }
                if config.mqtt.protocolVersion == .v5, !config.mqtt.cleanSession, config.mqtt.sessionExpiry < .seconds(1) {
                    print(
                        "\(config.path): warning: mqtt.session_expiry 0 with protocol 5: the broker ends Weir's session at every "
                            + "disconnect, so what it holds for Weir across a restart is lost. Keep the default 7d or longer.")
                }
                if config.mqtt.qos != config.mqtt.effectiveQoS {
                    print(
                        "\(config.path): note: mqtt.qos 2 subscribes at QoS 1 with 'ack: durable': "
                            + "a QoS 2 PUBREC leaves before the message "
                            + "is delivered, so it cannot wait until what the message triggers is durable; QoS 1 is the durable choice "
                            + "(at least once). Set 'ack: receipt' to subscribe at QoS 2.")
                }
                print(
                    "\(config.rulesDir): ok, \(rules.rules.count) rule(s), \(rules.schedules.count) scheduled rule(s), "
                        + "\(rules.functions.count) function(s) in \(files) file(s), \(rules.topicFilters.count) topic filter(s)"
                )
                if !skipTests { try checkRuleTests(config: config, rules: rules) }
            } catch {
                throw failure(printing: error.description + "\nweir: \(error.diagnostics.count) error(s)")
            }
        }
    }
}

/// `weir check`'s part for rule test files: every `*.test.yaml` under the rules directory must
/// parse and name only rules and functions that exist (`weir test` runs them).
func checkRuleTests(config: WeirConfig, rules: RuleSet) throws(DiagnosticList) {
    let files = try RuleTestReport.files(paths: [], rulesDir: config.rulesDir)
    guard !files.isEmpty else { return }
    let tests = try RuleTestReport.load(files, rules: rules)
    print("\(config.rulesDir): ok, \(tests.reduce(0) { $0 + $1.cases.count }) rule test case(s) in \(files.count) test file(s)")
}

extension Weir {
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn a captured upstream batch (zstd or plain JSON) back into readable CloudEvents, one per line.")

        @Argument(help: "The captured batch; '-' or nothing reads stdin.") var file: String = "-"
        @Option(help: "Refuse to decompress more than this many bytes.") var maxSize = 256 << 20

        func run() throws {
            let data = file == "-" ? readStandardInput() : FileManager.default.contents(atPath: file).map { [UInt8]($0) }
            guard var bytes = data else { throw failure(printing: "\(file): cannot read") }
            if bytes.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) {
                do {
                    bytes = try Zstd.decompress(bytes, maxSize: maxSize)
                } catch {
                    throw failure(printing: "\(file): \(error)")
                }
            }
            let value: JSONValue
            do {
                value = try JSONParser.parse(bytes, maxDepth: 512)
            } catch {
                throw failure(printing: "\(file): not a CloudEvents batch: \(error)")
            }
            guard case .array(let events) = value else {
                print(value)
                return
            }
            for event in events { print(event) }
        }
    }
}

/// Everything on standard input, or nil when it cannot be read.
func readStandardInput() -> [UInt8]? {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if count == 0 { return bytes }
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        bytes += chunk[0..<count]
    }
}

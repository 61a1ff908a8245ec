import ArgumentParser
import Glibc
import WeirCore
import WeirDaemon
import WeirRuleTesting
import WeirRules

extension Weir {
    /// `weir test`: the rule test files on a virtual clock, or, with `--topic`, a dry run of one
    /// message.
    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the rule tests (*.test.yaml) on a virtual clock; with --topic, dry-run one message. Connects nowhere.",
            discussion: """
                With no --topic, runs every case of every *.test.yaml under the rules directory (or the files and \
                folders given) and exits 1 when a case fails. Functions run for real unless stubbed, with a \
                temporary WEIR_STATE_DIR. See docs/rules.md, "Testing rules".
                """)

        @OptionGroup var options: ConfigOption
        @Option(help: "Rules directory to test, instead of the configuration's rules_dir.") var rules: String?
        @Option(help: "Topic of a message to dry-run (with --payload) instead of running the test files.") var topic: String?
        @Option(help: "Payload of the dry-run message (JSON text).") var payload: String?
        @Option(help: "QoS the dry-run message is treated as having.") var qos = 0
        @Flag(help: "Print the test results as JSON, for CI systems.") var json = false
        @Argument(help: "Test files or folders (default: every *.test.yaml under the rules directory).") var paths: [String] = []

        func validate() throws {
            if (topic == nil) != (payload == nil) { throw ValidationError("--topic and --payload go together") }
            if topic != nil, !paths.isEmpty || json { throw ValidationError("a dry run (--topic) takes no test files and no --json") }
        }

        func run() async throws {
            var config: WeirConfig
            if rules != nil, access(options.config, F_OK) != 0 {
                config = WeirConfig()  // testing a folder of rules needs no installed configuration
            } else {
                config = try options.load()
            }
            if let rules { config.rulesDir = rules }
            let ruleSet = try loadRules(config)
            if let topic, let payload {
                let report = DryRun.report(
                    rules: ruleSet, topic: topic, payload: Array(payload.utf8), qos: qos, maxPayloadBytes: config.mqtt.maxPayloadBytes)
                print(report.text)
                return
            }
            let files: [RuleTestFile]
            do {
                let found = try RuleTestReport.files(paths: paths, rulesDir: config.rulesDir)
                guard !found.isEmpty else {
                    throw failure(
                        printing:
                            "weir: no rule test files (*.test.yaml) under "
                            + (paths.isEmpty ? config.rulesDir : paths.joined(separator: ", "))
                    )
                }
                files = try RuleTestReport.load(found, rules: ruleSet)
            } catch let error as DiagnosticList {
                throw failure(printing: error.description + "\nweir: \(error.diagnostics.count) error(s) in rule tests")
            }
            let runner = RuleTestRunner(rules: ruleSet, maxPayloadBytes: config.mqtt.maxPayloadBytes, maxHops: config.maxHops)
            var results: [CaseResult] = []
            for file in files { results += await runner.run(file) }
            print(json ? RuleTestReport.json(results) : RuleTestReport.text(results))
            if results.contains(where: { !$0.passed }) { throw ExitCode.failure }
        }
    }
}
